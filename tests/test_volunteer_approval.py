"""Entries an administrator adds (preparation, training, teaching visits) with
``SHAREHUB_VOLUNTEER_SECOND_APPROVAL`` on: pending until another administrator approves;
refused ones never count; every step is in the audit log."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hub import accounts
from hub.settings import Settings
from tests.conftest import World, hub_settings

PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
def settings(tmp_path: Path, database: str) -> Settings:
    return replace(hub_settings(tmp_path, database), volunteer_second_approval=True)


async def second_admin(world: World) -> None:
    r = await world.post(
        "/api/v1/users",
        {"username": "admin2", "password": "long-enough-2", "role": "admin"},
        "admin",
    )
    assert r.status_code == 201, r.text
    world.tokens["admin2"] = await accounts.create_token(r.json()["id"], "tests")


async def ledger(world: World) -> Any:
    url = f"/api/v1/volunteer/teachers/{world.ids['teacher_id']}/ledger"
    r = await world.get(url, "teacher", params=PERIOD)
    assert r.status_code == 200, r.text
    return r.json()


async def add(world: World, kind: str, hours: float, content: str) -> dict[str, Any]:
    body = {
        "teacher_id": world.ids["teacher_id"],
        "kind": kind,
        "day": "2026-11-10",
        "hours": hours,
        "content": content,
        "evidence": "签到表照片",
    }
    r = await world.post("/api/v1/volunteer/entries", body, "admin")
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_an_entry_counts_once_a_second_administrator_approves(world: World) -> None:
    await second_admin(world)
    training = await add(world, "training", 2, "直播教学培训")
    visit = await add(world, "visit", 5.5, "赴镇雄共享中心送教（不含路途）")
    assert training["state"] == visit["state"] == "pending"
    got = await ledger(world)
    assert got["seconds"] == 0 and {line["state"] for line in got["lines"]} == {"pending"}

    # the author cannot approve their own entry; a teacher cannot either
    url = f"/api/v1/volunteer/entries/{training['id']}/decide"
    r = await world.post(url, {"approve": True}, "admin")
    assert r.status_code == 403 and r.json()["extra"][0]["key"] == "entry_id"
    assert (await world.post(url, {"approve": True}, "teacher")).status_code == 403
    r = await world.post(url, {"approve": True}, "admin2")
    assert r.status_code == 201 and r.json()["state"] == "approved", r.text
    # refusing needs a reason
    url = f"/api/v1/volunteer/entries/{visit['id']}/decide"
    r = await world.post(url, {"approve": False}, "admin2")
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "reason"
    r = await world.post(url, {"approve": False, "reason": "缺少签到证明"}, "admin2")
    assert r.status_code == 201 and r.json()["state"] == "refused"

    got = await ledger(world)
    assert got["seconds"] == 2 * 3600
    lines = {line["entry_id"]: line for line in got["lines"]}
    assert lines[training["id"]]["evidence"] == "签到表照片"
    assert lines[visit["id"]]["state"] == "refused"

    # an approved entry can be withdrawn (never deleted) by any administrator, with a reason
    r = await world.post(
        f"/api/v1/volunteer/entries/{training['id']}/decide",
        {"approve": False, "reason": "重复录入"},
        "admin",
    )
    assert r.status_code == 201 and r.json()["state"] == "refused"
    assert (await ledger(world))["seconds"] == 0

    log = (await world.get("/api/v1/volunteer/audit", "admin")).json()
    assert [(a["action"], a["actor"]) for a in log] == [
        ("entry.add", world.ids["user_admin"]),
        ("entry.add", world.ids["user_admin"]),
        ("entry.approved", log[2]["actor"]),
        ("entry.refused", log[2]["actor"]),
        ("entry.refused", world.ids["user_admin"]),
    ]
    assert log[2]["actor"] != world.ids["user_admin"]
    assert log[4]["before"]["state"] == "approved" and log[4]["after"]["state"] == "refused"


async def test_entries_refuse_bad_input_naming_the_field(world: World) -> None:
    base = {
        "teacher_id": world.ids["teacher_id"],
        "kind": "preparation",
        "day": "2026-11-10",
        "hours": 1,
        "content": "备课",
    }
    for change, field in (
        ({"hours": 25}, "hours"),
        ({"kind": "travel"}, "kind"),
        ({"day": "2026-02-30"}, "day"),
        ({"day": "2099-01-01"}, "day"),
        ({"content": ""}, "content"),
        ({"teacher_id": 987654}, "teacher_id"),
    ):
        r = await world.post("/api/v1/volunteer/entries", {**base, **change}, "admin")
        assert r.status_code in (400, 404), (change, r.text)
        assert field in r.text, (change, r.text)
    assert (await world.post("/api/v1/volunteer/entries", base, "teacher")).status_code == 403


async def test_awards_and_evaluations_are_dated_entries_of_the_record(world: World) -> None:
    url = f"/api/v1/volunteer/teachers/{world.ids['teacher_id']}/records"
    for body in (
        {"kind": "award", "day": "2026-11-20", "title": "优秀志愿教师", "issuer": "区志愿者协会"},
        {"kind": "evaluation", "day": "2026-11-25", "title": "学期评价：优秀"},
    ):
        r = await world.post(url, body, "admin")
        assert r.status_code == 201, r.text
    assert (
        await world.post(url, {"kind": "award", "day": "2026-11-20", "title": "x"}, "teacher")
    ).status_code == 403
    got = await ledger(world)
    assert [(r["kind"], r["day"], r["title"]) for r in got["records"]] == [
        ("award", "2026-11-20", "优秀志愿教师"),
        ("evaluation", "2026-11-25", "学期评价：优秀"),
    ]
