"""The volunteer record as CSV and XLSX, for entry into the national or a city volunteer
system: one row per approved ledger line (service and training) and per award or evaluation,
with the volunteer's basic information on every row. The ``要素`` column names the record
element of 第四条 each row belongs to (see the README's mapping). Text cells go through
``hub.sheetcells`` (a course named ``=1+2`` stays text)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import xlsxwriter

from hub.impact import Period
from hub.sheetcells import WORKBOOK_OPTIONS, csv_safe_row, write_cells
from hub.tables import Teacher
from hub.volunteer import ledger, profile
from hub.volunteer.tables import VolunteerProfile

COLUMNS = [
    ("要素", "element"),
    ("志愿者编号", "volunteer_number"),
    ("姓名", "name"),
    ("所在学校", "school"),
    ("服务组织", "organisation"),
    ("组织联系方式", "organisation_contact"),
    ("日期", "day"),
    ("类别", "kind"),
    ("内容", "content"),
    ("服务时长（小时）", "hours"),
    ("课程", "course"),
    ("学科", "subject"),
    ("年级", "grades"),
    ("覆盖共享中心数", "centers"),
    ("服务儿童人次", "children"),
    ("证明材料", "evidence"),
    ("更正前时长（小时）", "original_hours"),
    ("颁发或评价单位", "issuer"),
]
ELEMENTS = {
    "class": "志愿服务情况",
    "preparation": "志愿服务情况",
    "visit": "志愿服务情况",
    "training": "培训情况",
    "award": "表彰奖励情况",
    "evaluation": "评价情况",
}
KINDS = {
    "class": "直播授课",
    "preparation": "备课",
    "visit": "送教走访",
    "training": "培训",
    "award": "表彰奖励",
    "evaluation": "评价",
}


async def rows(teacher_id: int | None, period: Period, grace: timedelta) -> list[list[Any]]:
    """The export's rows (without the header), by teacher then day."""
    found = await ledger.ledger(teacher_id, period, grace)
    records = [
        r for r in await profile.records(teacher_id) if period.start <= r["day"] <= period.end
    ]
    ids = {line.teacher_id for line in found.lines} | {r["teacher_id"] for r in records}
    teachers = {
        t["id"]: t
        for t in await Teacher.select(Teacher.id, Teacher.name, Teacher.school)
        .where(Teacher.id.is_in(sorted(ids) or [0]))
        .run()
    }
    profiles = {
        p["teacher_id"]: p
        for p in await VolunteerProfile.select()
        .where(VolunteerProfile.teacher_id.is_in(sorted(ids) or [0]))
        .run()
    }

    def basic(tid: int) -> list[Any]:
        t, p = teachers.get(tid, {}), profiles.get(tid, {})
        return [
            p.get("volunteer_number", ""),
            t.get("name", ""),
            t.get("school", ""),
            p.get("organisation", ""),
            p.get("organisation_contact", ""),
        ]

    out: list[tuple[int, Any, int, list[Any]]] = []
    for line in found.lines:
        if not line.counts:
            continue
        original = (
            round(line.original_seconds / 3600, 2) if line.original_seconds is not None else None
        )
        out.append(
            (
                line.teacher_id,
                line.day,
                0,
                [
                    ELEMENTS[line.kind],
                    *basic(line.teacher_id),
                    line.day,
                    KINDS[line.kind],
                    line.content,
                    line.hours,
                    line.course,
                    line.subject,
                    line.grades,
                    line.centers if line.session_id is not None else None,
                    line.children if line.session_id is not None else None,
                    line.evidence,
                    original,
                    "",
                ],
            )
        )
    for r in records:
        out.append(
            (
                r["teacher_id"],
                r["day"],
                1,
                [
                    ELEMENTS[r["kind"]],
                    *basic(r["teacher_id"]),
                    r["day"],
                    KINDS[r["kind"]],
                    r["title"],
                    None,
                    "",
                    "",
                    "",
                    None,
                    None,
                    "",
                    None,
                    r["issuer"],
                ],
            )
        )
    out.sort(key=lambda item: (item[0], item[1], item[2]))
    return [values for *_, values in out]


def header() -> list[str]:
    return [zh for zh, _ in COLUMNS]


def as_csv(data: list[list[Any]]) -> bytes:
    """UTF-8 with a BOM (so that Excel opens the Chinese right)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header())
    for values in data:
        writer.writerow(
            csv_safe_row(
                [
                    "" if v is None else (v.isoformat() if hasattr(v, "isoformat") else v)
                    for v in values
                ]
            )
        )
    return ("\ufeff" + buffer.getvalue()).encode()


def as_xlsx(data: list[list[Any]]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {**WORKBOOK_OPTIONS, "in_memory": True})
    sheet = book.add_worksheet("志愿服务记录")
    bold = book.add_format({"bold": True})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    write_cells(sheet, 0, header(), bold)
    for n, values in enumerate(data, start=1):
        write_cells(sheet, n, values, date_format=day)
    sheet.freeze_panes(1, 0)
    book.close()
    return buffer.getvalue()
