"""The volunteer record exported for the national or a city volunteer system: CSV (UTF-8 with
BOM) and XLSX with the same rows, each row naming its record element (service, training,
awards, evaluation), filtered by period and teacher; typed text never becomes a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest

from hub import live
from hub.settings import Settings
from tests.conftest import World
from tests.test_exports import read_xlsx
from tests.test_volunteer_ledger import Clock, a_class_day

pytestmark = pytest.mark.in_process("plays the class day on the hub's stream clock")
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()
    monkeypatch.setattr(live, "clock", c)
    yield c


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def export(world: World, fmt: str, **params: Any) -> list[list[str]]:
    r = await world.get(f"/api/v1/volunteer/ledger.{fmt}", "admin", params=params)
    assert r.status_code == 200, r.text
    return read_csv(r.content) if fmt == "csv" else read_xlsx(r.content)


async def test_the_record_exports_as_csv_and_xlsx_by_period_and_teacher(
    world: World, settings: Settings, clock: Clock
) -> None:
    r = await world.patch(
        f"/api/v1/courses/{world.ids['course']}", {"title": '=HYPERLINK("x")'}, "admin"
    )
    assert r.status_code == 200, r.text
    want = await a_class_day(world, settings, clock)
    teacher = world.ids["teacher_id"]
    r = await world.patch(
        f"/api/v1/volunteer/teachers/{teacher}/profile",
        {"volunteer_number": "BJHD20260001", "organisation": "北京共享课堂志愿服务队"},
        "admin",
    )
    assert r.status_code == 200, r.text
    r = await world.post(
        "/api/v1/volunteer/entries",
        {
            "teacher_id": teacher,
            "kind": "training",
            "day": "2026-11-05",
            "hours": 1.5,
            "content": "直播教学培训",
        },
        "admin",
    )
    assert r.status_code == 201, r.text
    r = await world.post(
        f"/api/v1/volunteer/teachers/{teacher}/records",
        {"kind": "award", "day": "2026-11-20", "title": "优秀志愿教师", "issuer": "区志愿者协会"},
        "admin",
    )
    assert r.status_code == 201, r.text

    table = await export(world, "csv", **NOVEMBER)
    head, body = table[0], table[1:]
    assert head[:3] == ["要素", "志愿者编号", "姓名"] and "服务时长（小时）" in head
    col = {name: head.index(name) for name in head}
    elements = ["志愿服务情况"] * len(want) + ["培训情况", "表彰奖励情况"]  # by day
    assert [row[col["要素"]] for row in body] == elements
    assert {row[col["志愿者编号"]] for row in body} == {"BJHD20260001"}
    assert {row[col["姓名"]] for row in body} == {"teacher老师"}
    hours = sum(float(row[col["服务时长（小时）"]] or 0) for row in body)
    assert round(hours, 2) == round(sum(s.total_seconds() for s in want.values()) / 3600 + 1.5, 2)
    classes = [row for row in body if row[col["类别"]] == "直播授课"]
    assert {row[col["课程"]] for row in classes} == {'\'=HYPERLINK("x")'}  # text, not a formula
    assert {row[col["日期"]] for row in classes} == {"2026-11-02"}
    award = next(row for row in body if row[col["要素"]] == "表彰奖励情况")
    assert (award[col["内容"]], award[col["颁发或评价单位"]]) == ("优秀志愿教师", "区志愿者协会")

    sheet = await export(world, "xlsx", **NOVEMBER)
    assert sheet[0] == head and len(sheet) == len(table)
    courses = {row[col["课程"]] for row in sheet[1:] if row[col["类别"]] == "直播授课"}
    assert courses == {'=HYPERLINK("x")'}  # a text cell in the workbook

    # filters: another teacher, another month
    assert len(await export(world, "csv", teacher_id=world.ids["teacher2_id"], **NOVEMBER)) == 1
    assert len(await export(world, "csv", **{"from": "2026-10-01", "to": "2026-10-31"})) == 1
    assert len(await export(world, "csv", teacher_id=teacher, **NOVEMBER)) == len(table)
    # administrators only; bad filters named
    assert (await world.get("/api/v1/volunteer/ledger.csv", "teacher")).status_code == 403
    r = await world.get("/api/v1/volunteer/ledger.csv", "admin", params={"teacher_id": 987654})
    assert r.status_code == 404 and r.json()["extra"][0]["key"] == "teacher_id"
    r = await world.get("/api/v1/volunteer/ledger.xlsx", "admin", params={"to": "2026-02-30"})
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "to"
