"""Schedule rules, enforced in one place.

- a session ends after it starts;
- a teacher holds at most one session at a time;
- a center joins at most ``rooms`` overlapping sessions;
- intervals that only touch (one ends 10:00, the next starts 10:00) do not overlap.

Every write that could break a rule runs the check and the write in one transaction, with a
per-teacher or per-center lock on PostgreSQL (SQLite has one writer at a time already).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from piccolo.query.functions.aggregate import Count

from hub import db
from hub.accounts import Principal
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.notify.outbox import safely_raise
from hub.tables import Booking, Course, LiveSession, SessionStatus, ShareCenter, Teacher

MAX_SESSION = timedelta(hours=12)
ACTIVE = (SessionStatus.scheduled.value, SessionStatus.live.value)
LOCK_TEACHER = 1
LOCK_CENTER = 2


def zone(name: str, field: str = "tz") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"unknown time zone {name!r}", field=field) from exc


def as_utc(value: datetime, tz: ZoneInfo, field: str) -> datetime:
    """A naive value is wall-clock time in ``tz``; an aware one is converted."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise Invalid(f"{value} is out of range", field=field) from exc


FIRST_YEAR, LAST_YEAR = 2000, 2200


def check_interval(starts_at: datetime, ends_at: datetime) -> None:
    for value, field in ((starts_at, "starts_at"), (ends_at, "ends_at")):
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise Invalid(f"a session is held between {FIRST_YEAR} and {LAST_YEAR}", field=field)
    if ends_at <= starts_at:
        raise Invalid("ends_at must be after starts_at", field="ends_at")
    if ends_at - starts_at > MAX_SESSION:
        raise Invalid("a session lasts at most 12 hours", field="ends_at")


PAST_TOLERANCE = timedelta(minutes=1)
"""A form filled at 09:00 for a 09:00 class is sent a few seconds later: still accepted."""


def not_in_past(principal: Principal, starts_at: datetime, now: datetime | None = None) -> None:
    """A teacher schedules classes to come: one starting in the past is refused (400 naming
    ``starts_at``); it would appear in none of the teacher's lists. An administrator may
    enter a class already held (to record the programme's history)."""
    if principal.is_admin:
        return
    now = now or datetime.now(UTC)
    if starts_at < now - PAST_TOLERANCE:
        raise Invalid(
            f"starts_at {starts_at:%Y-%m-%d %H:%M} UTC is in the past; schedule a class to come",
            field="starts_at",
        )


def describe(row: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """A clashing session as the API names it."""
    start = row["starts_at"].astimezone(tz)
    end = row["ends_at"].astimezone(tz)
    return {
        "session_id": row["id"],
        "title": row.get("title", ""),
        "starts_at": row["starts_at"].isoformat(),
        "ends_at": row["ends_at"].isoformat(),
        "local": f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} {tz.key}",
    }


def clash_error(what: str, rows: Sequence[dict[str, Any]], tz: ZoneInfo) -> Conflict:
    named = [describe(r, tz) for r in rows]
    first = named[0]
    return Conflict(
        f"{what} clashes with session {first['session_id']} “{first['title']}” ({first['local']})",
        field="starts_at",
        clashes=named,
    )


async def lock(kind: int, key: int) -> None:
    """Serialise checks on one teacher or center across PostgreSQL connections."""
    if not db.is_sqlite():
        await LiveSession.raw("SELECT pg_advisory_xact_lock({}, {})", kind, key).run()


async def teacher_clashes(
    teacher_id: int, starts_at: datetime, ends_at: datetime, exclude: Iterable[int] = ()
) -> list[dict[str, Any]]:
    query = LiveSession.select(
        LiveSession.id,
        LiveSession.starts_at,
        LiveSession.ends_at,
        LiveSession.course.title.as_alias("title"),
    ).where(
        (LiveSession.teacher == teacher_id)
        & LiveSession.status.is_in(list(ACTIVE))
        & (LiveSession.starts_at < ends_at)
        & (LiveSession.ends_at > starts_at)
    )
    excluded = list(exclude)
    if excluded:
        query = query.where(LiveSession.id.not_in(excluded))
    return await query.order_by(LiveSession.starts_at).run()


def busiest(intervals: Sequence[dict[str, Any]], starts_at: datetime, ends_at: datetime) -> list:
    """The largest set of ``intervals`` that overlap each other inside [starts_at, ends_at)."""
    events: list[tuple[datetime, int, int]] = []
    for i, row in enumerate(intervals):
        events.append((max(row["starts_at"], starts_at), 1, i))
        events.append((min(row["ends_at"], ends_at), -1, i))
    events.sort(key=lambda e: (e[0], e[1]))  # ends (-1) before starts (+1) at the same instant
    open_now: set[int] = set()
    best: set[int] = set()
    for _, delta, i in events:
        if delta == 1:
            open_now.add(i)
            if len(open_now) > len(best):
                best = set(open_now)
        else:
            open_now.discard(i)
    return [intervals[i] for i in sorted(best)]


async def center_clashes(
    center_id: int,
    rooms: int,
    starts_at: datetime,
    ends_at: datetime,
    exclude_session: int | None = None,
) -> list[dict[str, Any]]:
    """Sessions that already fill all of the center's rooms at some point of the interval."""
    query = Booking.select(
        Booking.session.id.as_alias("id"),
        Booking.session.starts_at.as_alias("starts_at"),
        Booking.session.ends_at.as_alias("ends_at"),
        Booking.session.course.title.as_alias("title"),
    ).where(
        (Booking.center == center_id)
        & Booking.session.status.is_in(list(ACTIVE))
        & (Booking.session.starts_at < ends_at)
        & (Booking.session.ends_at > starts_at)
    )
    if exclude_session is not None:
        query = query.where(Booking.session.id != exclude_session)
    rows = await query.run()
    crowd = busiest(rows, starts_at, ends_at)
    return crowd if len(crowd) >= rooms else []


# --- sessions ---


async def get_session(session_id: int) -> dict[str, Any]:
    row = await LiveSession.select().where(LiveSession.id == session_id).first().run()
    if row is None:
        raise NotFound(f"session {session_id} not found", field="session_id")
    return row


async def get_course(course_id: int) -> dict[str, Any]:
    row = await Course.select().where(Course.id == course_id).first().run()
    if row is None:
        raise NotFound(f"course {course_id} not found", field="course_id")
    return row


def may_teach(principal: Principal, teacher_id: int) -> None:
    if principal.is_admin or principal.teacher_id == teacher_id:
        return
    raise Forbidden("only the course's teacher or an administrator may change this")


async def create_session(
    principal: Principal,
    course_id: int,
    starts_at: datetime,
    ends_at: datetime,
    provider: str,
    provider_settings: dict[str, Any] | None = None,
    teacher_id: int | None = None,
    tz: ZoneInfo | None = None,
) -> int:
    check_interval(starts_at, ends_at)
    not_in_past(principal, starts_at)
    course = await get_course(course_id)
    teacher = teacher_id or course["teacher"]
    if teacher_id is not None and not await Teacher.exists().where(Teacher.id == teacher_id).run():
        raise NotFound(f"teacher {teacher_id} not found", field="teacher_id")
    may_teach(principal, course["teacher"])
    async with db.write_transaction():
        await lock(LOCK_TEACHER, teacher)
        clashes = await teacher_clashes(teacher, starts_at, ends_at)
        if clashes:
            raise clash_error("the teacher's new session", clashes, tz or ZoneInfo("UTC"))
        rows = await LiveSession.insert(
            LiveSession(
                course=course_id,
                teacher=teacher,
                starts_at=starts_at,
                ends_at=ends_at,
                provider=provider,
                provider_settings=provider_settings or {},
            )
        ).run()
    return int(rows[0]["id"])


async def move_session(
    principal: Principal,
    session_id: int,
    starts_at: datetime,
    ends_at: datetime,
    tz: ZoneInfo,
) -> None:
    """Move one session (a series occurrence too); the teacher and every booked center must fit."""
    check_interval(starts_at, ends_at)
    not_in_past(principal, starts_at)
    session = await get_session(session_id)
    may_teach(principal, session["teacher"])
    if session["status"] not in ACTIVE:
        raise Conflict(f"session {session_id} is {session['status']} and cannot be moved")
    async with db.write_transaction():
        await lock(LOCK_TEACHER, session["teacher"])
        clashes = await teacher_clashes(
            session["teacher"], starts_at, ends_at, exclude=[session_id]
        )
        if clashes:
            raise clash_error(f"session {session_id} moved", clashes, tz)
        bookings = (
            await Booking.select(
                Booking.center.id.as_alias("center"), Booking.center.rooms.as_alias("rooms")
            )
            .where(Booking.session == session_id)
            .order_by(Booking.center)  # locks always in one order: two moves cannot deadlock
            .run()
        )
        for b in bookings:
            await lock(LOCK_CENTER, b["center"])
            crowd = await center_clashes(
                b["center"], b["rooms"], starts_at, ends_at, exclude_session=session_id
            )
            if crowd:
                raise clash_error(f"center {b['center']}'s rooms", crowd, tz)
        await (
            LiveSession.update(
                {
                    LiveSession.starts_at: starts_at,
                    LiveSession.ends_at: ends_at,
                    LiveSession.updated_at: datetime.now(UTC),
                }
            )
            .where(LiveSession.id == session_id)
            .run()
        )
    moved_key = f"moved:{session_id}:{int(starts_at.timestamp())}"
    await safely_raise("class_moved", moved_key, session_id=session_id)


async def set_status(session_id: int, status: SessionStatus) -> None:
    await (
        LiveSession.update(
            {LiveSession.status: status.value, LiveSession.updated_at: datetime.now(UTC)}
        )
        .where(LiveSession.id == session_id)
        .run()
    )


async def cancel_session(principal: Principal, session_id: int) -> None:
    session = await get_session(session_id)
    may_teach(principal, session["teacher"])
    if session["status"] not in ACTIVE:
        raise Conflict(f"session {session_id} is {session['status']} and cannot be cancelled")
    await set_status(session_id, SessionStatus.cancelled)
    await safely_raise("class_cancelled", f"cancelled:{session_id}", session_id=session_id)


# --- bookings and attendance ---


def may_act_for_center(principal: Principal, center_id: int) -> None:
    if principal.is_admin or principal.center_id == center_id:
        return
    raise Forbidden("a center operator acts only for their own share-center")


async def get_center(center_id: int) -> dict[str, Any]:
    row = await ShareCenter.select().where(ShareCenter.id == center_id).first().run()
    if row is None:
        raise NotFound(f"share-center {center_id} not found", field="center_id")
    return row


async def book(principal: Principal, session_id: int, center_id: int) -> int:
    may_act_for_center(principal, center_id)
    center = await get_center(center_id)
    session = await get_session(session_id)
    if session["status"] not in ACTIVE:
        raise Conflict(f"session {session_id} is {session['status']}; it cannot be booked")
    tz = zone(center["timezone"])
    async with db.write_transaction():
        await lock(LOCK_CENTER, center_id)
        existing = (
            await Booking.select(Booking.id)
            .where((Booking.session == session_id) & (Booking.center == center_id))
            .first()
            .run()
        )
        if existing:
            raise Conflict(
                f"center {center_id} has already booked session {session_id}",
                booking_id=existing["id"],
            )
        crowd = await center_clashes(
            center_id, center["rooms"], session["starts_at"], session["ends_at"]
        )
        if crowd:
            raise clash_error(
                f"booking (all {center['rooms']} room(s) of center {center_id} taken)", crowd, tz
            )
        rows = await Booking.insert(Booking(session=session_id, center=center_id)).run()
    booking_id = int(rows[0]["id"])
    await safely_raise(
        "class_booked", f"booked:{booking_id}", session_id=session_id, center_id=center_id
    )
    return booking_id


async def get_booking(booking_id: int) -> dict[str, Any]:
    row = await Booking.select().where(Booking.id == booking_id).first().run()
    if row is None:
        raise NotFound(f"booking {booking_id} not found", field="booking_id")
    return row


async def unbook(principal: Principal, booking_id: int) -> None:
    booking = await get_booking(booking_id)
    may_act_for_center(principal, booking["center"])
    if booking["checked_in_at"] is not None:
        raise Conflict(f"booking {booking_id} has a check-in; attendance records are kept")
    await Booking.delete().where(Booking.id == booking_id).run()


CHECKIN_EARLY = timedelta(hours=1)


async def check_in(
    principal: Principal,
    booking_id: int,
    children: int,
    key: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record the children in the room. Idempotent: the same ``key`` twice counts once."""
    booking = await get_booking(booking_id)
    may_act_for_center(principal, booking["center"])
    if key and booking["checkin_key"] == key:
        return booking
    session = await get_session(booking["session"])
    now = now or datetime.now(UTC)
    if session["status"] == SessionStatus.cancelled.value:
        raise Conflict(f"session {session['id']} was cancelled")
    if now < session["starts_at"] - CHECKIN_EARLY:
        raise Invalid("check-in opens one hour before the session starts", field="booking_id")
    await (
        Booking.update(
            {
                Booking.checked_in_at: booking["checked_in_at"] or now,
                Booking.children_present: children,
                Booking.checkin_key: key or booking["checkin_key"],
            }
        )
        .where(Booking.id == booking_id)
        .run()
    )
    return await get_booking(booking_id)


async def check_out(
    principal: Principal, booking_id: int, now: datetime | None = None
) -> dict[str, Any]:
    booking = await get_booking(booking_id)
    may_act_for_center(principal, booking["center"])
    if booking["checked_in_at"] is None:
        raise Conflict(f"booking {booking_id} has no check-in yet", field="booking_id")
    await (
        Booking.update({Booking.checked_out_at: now or datetime.now(UTC)})
        .where(Booking.id == booking_id)
        .run()
    )
    return await get_booking(booking_id)


async def booking_counts(session_ids: Sequence[int]) -> dict[int, int]:
    if not session_ids:
        return {}
    rows = (
        await Booking.select(Booking.session, Count(Booking.id, alias="n"))
        .where(Booking.session.is_in(list(session_ids)))
        .group_by(Booking.session)
        .run()
    )
    return {r["session"]: r["n"] for r in rows}
