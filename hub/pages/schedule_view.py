"""Schedule queries for the pages: a week of sessions grouped by day in the viewer's zone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from piccolo.columns.combination import WhereRaw

from hub import rows as rows_of
from hub.api.sessions import ListQuery, list_rows
from hub.tables import Course, SessionStatus, ShareCenter


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
    places: tuple[tuple[str, str | None], ...] = (),
    limit: int = 500,
) -> list[Day]:
    """Seven days from ``first`` (in ``tz``), each with its sessions in start order."""
    lo, hi = bounds(first, 7, tz)
    query = ListQuery(
        lo=lo,
        hi=hi,
        subject=subject,
        grade=grade,
        teacher_id=teacher_id,
        places=places,
        public_only=public_only,
    )
    rows = await list_rows(*query.where(), limit=limit)
    days = [Day(first + timedelta(days=i)) for i in range(7)]
    for row in rows:
        local = row["starts_at"].astimezone(tz).date()
        index = (local - first).days
        if 0 <= index < 7:
            days[index].sessions.append(row)
    return days


def by_day(rows: list[dict[str, Any]], tz: ZoneInfo) -> list[Day]:
    """Rows in start order grouped by their day in ``tz``."""
    days: list[Day] = []
    for row in rows:
        local = row["starts_at"].astimezone(tz).date()
        if not days or days[-1].day != local:
            days.append(Day(local))
        days[-1].sessions.append(row)
    return days


def matches(row: dict[str, Any], text: str) -> bool:
    """Whether a session row's course title, subject or teacher holds ``text`` (any case)."""
    wanted = text.casefold()
    return any(wanted in str(row.get(k) or "").casefold() for k in SEARCHED)


SEARCHED = ("title", "subject", "teacher_name")


def today_first(days: list[Day], today: date) -> tuple[list[Day], list[Day]]:
    """The days from today on (today first), and the days before today (most recent first),
    of a week's days; the days with no class are left out."""
    coming = [d for d in days if d.day >= today and d.sessions]
    gone = [d for d in reversed(days) if d.day < today and d.sessions]
    return coming, gone


@dataclass
class Regions:
    """The places share-centers are in, for the region pickers: every province, the cities
    of the chosen province, the counties of the chosen city."""

    provinces: list[str]
    cities: list[str]
    counties: list[str]


async def regions(province: str | None, city: str | None) -> Regions:
    rows = (
        await ShareCenter.select(ShareCenter.province, ShareCenter.city, ShareCenter.county)
        .distinct()
        .run()
    )
    return Regions(
        provinces=sorted({r["province"] for r in rows if r["province"]}),
        cities=sorted({r["city"] for r in rows if r["city"] and r["province"] == province}),
        counties=sorted({r["county"] for r in rows if r["county"] and city and r["city"] == city}),
    )


async def subjects() -> list[str]:
    rows = await Course.select(Course.subject).distinct().order_by(Course.subject).run()
    return [r["subject"] for r in rows if r["subject"]]


BOOKING_COLUMNS = ("id", "session", "checked_in_at", "children_present", "checked_out_at")


async def upcoming_for_center(center_id: int, now: datetime, limit: int = 100) -> list[dict]:
    """The center's booked sessions that have not ended, with the booking's attendance."""
    rows = await list_rows(
        "s.ends_at > ? AND s.status <> ?",
        [center_id, now, SessionStatus.cancelled.value],
        limit=limit,
        joins="JOIN booking b ON b.session = s.id AND b.center = ?",
        extra=[(f"booking_{name}", f"b.{name}") for name in BOOKING_COLUMNS],
    )
    for row in rows:
        row["booking"] = {name: row.pop(f"booking_{name}") for name in BOOKING_COLUMNS}
    return rows


async def bookable(center_id: int, first: date, tz: ZoneInfo, now: datetime) -> list[dict]:
    """Sessions of this week and next that the center has not booked and that are to come."""
    lo, hi = bounds(first, 14, tz)
    mine = await booked_between(center_id, max(lo, now), hi)
    rows = await to_book(max(lo, now), hi, BOOKABLE_LIMIT + len(mine))
    return [row for row in rows if row["id"] not in mine][:BOOKABLE_LIMIT]


BOOKABLE_LIMIT = 200


async def to_book(lo: datetime, hi: datetime, limit: int) -> list[dict]:
    """Sessions starting in [lo, hi) that are still to come or live: what any center may book
    (one list for every center; a center's own bookings are taken out by the page)."""
    return await list_rows(
        "s.starts_at >= ? AND s.starts_at < ? AND s.status IN (?, ?)",
        [lo, hi, SessionStatus.scheduled.value, SessionStatus.live.value],
        limit=limit,
    )


async def booked_between(center_id: int, lo: datetime, hi: datetime) -> set[int]:
    """The sessions starting in [lo, hi) that the center has booked."""
    found = await rows_of.fetch_plain(
        "SELECT b.session FROM booking b JOIN live_session s ON s.id = b.session"
        " WHERE b.center = ? AND s.starts_at >= ? AND s.starts_at < ?",
        [center_id, lo, hi],
    )
    return {row[0] for row in found}


def everything() -> Any:
    return WhereRaw("1 = 1")
