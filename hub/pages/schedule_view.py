"""Schedule queries for the pages: a week of sessions grouped by day in the viewer's zone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from piccolo.columns.combination import WhereRaw

from hub.api.sessions import session_rows
from hub.tables import Booking, Course, LiveSession, SessionStatus, Visibility


@dataclass
class Day:
    day: date
    sessions: list[dict[str, Any]] = field(default_factory=list)


def week_start(today: date, which: str) -> date:
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(days=7) if which == "next" else monday


def bounds(first: date, days: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    lo = datetime.combine(first, time.min, tzinfo=tz).astimezone(UTC)
    hi = datetime.combine(first + timedelta(days=days), time.min, tzinfo=tz).astimezone(UTC)
    return lo, hi


async def week(
    first: date,
    tz: ZoneInfo,
    *,
    public_only: bool,
    subject: str | None = None,
    grade: int | None = None,
    teacher_id: int | None = None,
    limit: int = 500,
) -> list[Day]:
    """Seven days from ``first`` (in ``tz``), each with its sessions in start order."""
    lo, hi = bounds(first, 7, tz)
    where: Any = (LiveSession.ends_at > lo) & (LiveSession.starts_at < hi)
    if subject:
        where &= LiveSession.course.subject == subject
    if grade:
        where &= (LiveSession.course.grade_min <= grade) & (LiveSession.course.grade_max >= grade)
    if teacher_id:
        where &= LiveSession.teacher == teacher_id
    if public_only:
        where &= LiveSession.course.visibility == Visibility.public.value
    rows = await session_rows(where, limit=limit)
    days = [Day(first + timedelta(days=i)) for i in range(7)]
    for row in rows:
        local = row["starts_at"].astimezone(tz).date()
        index = (local - first).days
        if 0 <= index < 7:
            days[index].sessions.append(row)
    return days


async def subjects() -> list[str]:
    rows = await Course.select(Course.subject).distinct().order_by(Course.subject).run()
    return [r["subject"] for r in rows if r["subject"]]


async def upcoming_for_center(center_id: int, now: datetime, limit: int = 100) -> list[dict]:
    """The center's booked sessions that have not ended, with the booking's attendance."""
    booked = (
        await Booking.select(
            Booking.id,
            Booking.session,
            Booking.checked_in_at,
            Booking.children_present,
            Booking.checked_out_at,
        )
        .where(Booking.center == center_id)
        .run()
    )
    by_session = {b["session"]: b for b in booked}
    if not by_session:
        return []
    rows = await session_rows(
        LiveSession.id.is_in(list(by_session))
        & (LiveSession.ends_at > now)
        & (LiveSession.status != SessionStatus.cancelled.value),
        limit=limit,
    )
    for row in rows:
        row["booking"] = by_session[row["id"]]
    return rows


async def bookable(center_id: int, first: date, tz: ZoneInfo, now: datetime) -> list[dict]:
    """Sessions of this week and next that the center has not booked and that are to come."""
    lo, hi = bounds(first, 14, tz)
    booked = Booking.select(Booking.session).where(Booking.center == center_id)
    return await session_rows(
        (LiveSession.starts_at >= max(lo, now))
        & (LiveSession.starts_at < hi)
        & LiveSession.status.is_in([SessionStatus.scheduled.value, SessionStatus.live.value])
        & LiveSession.id.not_in(booked),
        limit=200,
    )


def everything() -> Any:
    return WhereRaw("1 = 1")
