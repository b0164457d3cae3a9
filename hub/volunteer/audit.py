"""The append-only audit log of the volunteer records: who changed what, when, before, after.

``append`` is the only writer; nothing in the hub updates or deletes a row, and the database
refuses it too (trigger of migration ``2026-12-03T19:00:01``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from hub.volunteer.tables import VolunteerAudit


def plain(values: dict[str, Any] | None) -> dict[str, Any]:
    """A row as JSON-ready values (dates and times as ISO text)."""
    out: dict[str, Any] = {}
    for key, value in (values or {}).items():
        if isinstance(value, datetime | date):
            value = value.isoformat()
        out[key] = value
    return out


async def append(
    actor: int | None,
    action: str,
    subject: str,
    subject_id: int | None,
    teacher_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add one line to the log."""
    await VolunteerAudit.insert(
        VolunteerAudit(
            actor=actor,
            action=action,
            subject=subject,
            subject_id=subject_id,
            teacher_id=teacher_id,
            before=plain(before),
            after=plain(after),
        )
    ).run()


async def lines(teacher_id: int | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """The log, oldest first (of one teacher, or all)."""
    query = VolunteerAudit.select().order_by(VolunteerAudit.id).limit(limit)
    if teacher_id is not None:
        query = query.where(VolunteerAudit.teacher_id == teacher_id)
    return list(await query.output(load_json=True).run())
