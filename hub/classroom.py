"""Classroom mode: the rooms talk back to the teacher of a live class.

A share-center's screen sends hands (举手 / 有问题 with a short text), quick signals, photos
and roll-call answers; the teacher answers or dismisses them, calls a room at random, shows a
question and its answer to every room, and mutes a room. Everything is a row of
``classroom_event`` (kept with the session) and reaches the screens through
``hub.classroom_bus``.

Who reads what: the session's teacher and administrators read everything; a room reads what is
addressed to it, to all rooms, and what it sent itself. Anonymous viewers read nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from piccolo.columns.combination import Where

from hub import db, schedule
from hub.accounts import Principal
from hub.classroom_bus import after_commit, notify_in_transaction
from hub.classroom_tables import ClassroomEvent
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.tables import Booking, LiveSession, Role, ShareCenter

LOCK_CLASSROOM = 3
"""Advisory lock kind: a session's messages commit one at a time, in id order, so a stream
that has read up to id N never misses a smaller id committed later."""

SIGNALS = ("unclear_audio", "unclear_video", "too_fast", "understood")
"""听不清, 看不清, 太快了, 明白了."""
ROOM_KINDS = ("hand", "signal", "photo", "rollcall_answer")
QUEUED_KINDS = ("hand", "photo")
"""What waits in the teacher's queue until answered or dismissed."""
OPEN, ANSWERED, DISMISSED = "open", "answered", "dismissed"


@dataclass(frozen=True)
class Viewer:
    """Who reads a session's back channel: its teacher (or an admin), or one room."""

    session_id: int
    teacher: bool
    center_id: int | None = None


async def _session(session_id: int) -> dict[str, Any]:
    row = (
        await LiveSession.select(LiveSession.id, LiveSession.teacher, LiveSession.status)
        .where(LiveSession.id == session_id)
        .first()
        .run()
    )
    if row is None:
        raise NotFound(f"session {session_id} not found", field="session_id")
    return row


async def _booking(session_id: int, center_id: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Booking.select()
        .where((Booking.session == session_id) & (Booking.center == center_id))
        .first()
        .run()
    )
    return row


async def viewer_for(principal: Principal, session_id: int) -> Viewer:
    """The session's teacher or an admin (the teacher's view), or a room that booked it."""
    session = await _session(session_id)
    if principal.is_admin or principal.teacher_id == session["teacher"]:
        return Viewer(session_id, teacher=True)
    if principal.role is Role.center and principal.center_id is not None:
        if await _booking(session_id, principal.center_id) is not None:
            return Viewer(session_id, teacher=False, center_id=principal.center_id)
        raise Forbidden("this share-center has not booked the class", field="session_id")
    raise Forbidden("only the class's teacher, administrators and its rooms", field="session_id")


async def teacher_of(principal: Principal, session_id: int) -> Viewer:
    viewer = await viewer_for(principal, session_id)
    if not viewer.teacher:
        raise Forbidden("only the class's teacher or an administrator", field="session_id")
    return viewer


async def room_of(principal: Principal, session_id: int) -> Viewer:
    """A room sending: a center operator whose center booked the class."""
    if principal.role is not Role.center:
        await _session(session_id)
        raise Forbidden("only a share-center that booked the class sends", field="session_id")
    return await viewer_for(principal, session_id)


def visible_to(viewer: Viewer) -> Where | Any:
    """The rows ``viewer`` may read (besides ``session_id``)."""
    if viewer.teacher:
        return ClassroomEvent.audience.is_in(["teacher", "center", "all"])
    mine = ClassroomEvent.center_id == viewer.center_id
    return (ClassroomEvent.audience == "all") | mine


async def events_after(viewer: Viewer, after: int, limit: int = 200) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await ClassroomEvent.select()
        .where(
            (ClassroomEvent.session_id == viewer.session_id)
            & (ClassroomEvent.id > after)
            & visible_to(viewer)
        )
        .order_by(ClassroomEvent.id)
        .limit(limit)
        .run()
    )
    return rows


async def newest_id(session_id: int) -> int:
    """The id of the session's newest message (0: none yet)."""
    row = (
        await ClassroomEvent.select(ClassroomEvent.id)
        .where(ClassroomEvent.session_id == session_id)
        .order_by(ClassroomEvent.id, ascending=False)
        .first()
        .run()
    )
    return int(row["id"]) if row else 0


async def append(
    session_id: int,
    kind: str,
    *,
    center_id: int | None = None,
    audience: str = "teacher",
    text: str = "",
    signal: str = "",
    photo_key: str = "",
    reply_to: int | None = None,
    state: str = "",
    idem_key: str | None = None,
    author: int | None = None,
    data: dict[str, Any] | None = None,
    update_state: tuple[int, str] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store one message (and optionally set another one's state); ``(row, created)``. The
    same ``idem_key`` again returns the first row with ``created=False``."""
    async with db.write_transaction():
        await schedule.lock(LOCK_CLASSROOM, session_id)
        if idem_key is not None:
            found = (
                await ClassroomEvent.select()
                .where(ClassroomEvent.idem_key == idem_key)
                .first()
                .run()
            )
            if found is not None:
                return found, False
        if update_state is not None:
            await (
                ClassroomEvent.update({ClassroomEvent.state: update_state[1]})
                .where(ClassroomEvent.id == update_state[0])
                .run()
            )
        inserted = await ClassroomEvent.insert(
            ClassroomEvent(
                session_id=session_id,
                center_id=center_id,
                kind=kind,
                audience=audience,
                text=text,
                signal=signal,
                photo_key=photo_key,
                reply_to=reply_to,
                state=state,
                idem_key=idem_key,
                author=author,
                data=data or {},
            )
        ).run()
        event_id = int(inserted[0]["id"])
        await notify_in_transaction(session_id, event_id, audience, center_id)
    after_commit(session_id, audience, center_id)
    row = await ClassroomEvent.select().where(ClassroomEvent.id == event_id).first().run()
    assert row is not None
    return row, True


def idem(session_id: int, principal: Principal, key: str | None) -> str | None:
    return f"{session_id}:{principal.user_id}:{key}" if key else None


async def muted_centers(session_id: int) -> set[int]:
    rows = (
        await ClassroomEvent.select(ClassroomEvent.center_id, ClassroomEvent.kind)
        .where(
            (ClassroomEvent.session_id == session_id)
            & ClassroomEvent.kind.is_in(["mute", "unmute"])
        )
        .order_by(ClassroomEvent.id)
        .run()
    )
    muted: set[int] = set()
    for r in rows:
        (muted.add if r["kind"] == "mute" else muted.discard)(r["center_id"])
    return muted


async def send_from_room(
    principal: Principal,
    session_id: int,
    kind: str,
    *,
    text: str = "",
    signal: str = "",
    key: str | None = None,
    reply_to: int | None = None,
    photo_key: str = "",
) -> tuple[dict[str, Any], bool]:
    """A room's hand, signal, photo or roll-call answer (409 while the teacher mutes it)."""
    viewer = await room_of(principal, session_id)
    key_full = idem(session_id, principal, key)
    if key_full is not None:
        found = (
            await ClassroomEvent.select().where(ClassroomEvent.idem_key == key_full).first().run()
        )
        if found is not None:
            return found, False
    if kind == "signal" and signal not in SIGNALS:
        raise Invalid(f"signal must be one of {', '.join(SIGNALS)}", field="signal")
    if kind == "hand" and len(text) > 200:
        raise Invalid("a question is at most 200 characters", field="text")
    session = await _session(session_id)
    if session["status"] in ("cancelled", "archived"):
        raise Conflict(f"session {session_id} is {session['status']}", field="session_id")
    if kind == "rollcall_answer":
        call = await _event(session_id, reply_to, field="reply_to")
        if call["kind"] != "rollcall" or call["center_id"] != viewer.center_id:
            raise Invalid("answer a roll call addressed to this room", field="reply_to")
    elif viewer.center_id in await muted_centers(session_id):
        raise Conflict("the teacher has muted this room for now", field="center_id")
    return await append(
        session_id,
        kind,
        center_id=viewer.center_id,
        audience="teacher",
        text=text,
        signal=signal,
        photo_key=photo_key,
        reply_to=reply_to,
        state=OPEN if kind in QUEUED_KINDS else "",
        idem_key=key_full,
        author=principal.user_id,
    )


async def _event(session_id: int, event_id: int | None, field: str) -> dict[str, Any]:
    row = None
    if event_id is not None:
        row = (
            await ClassroomEvent.select()
            .where((ClassroomEvent.id == event_id) & (ClassroomEvent.session_id == session_id))
            .first()
            .run()
        )
    if row is None:
        raise NotFound(f"message {event_id} not found in session {session_id}", field=field)
    return row


async def settle(
    principal: Principal,
    session_id: int,
    message_id: int,
    state: str,
    text: str = "",
    key: str | None = None,
) -> dict[str, Any]:
    """The teacher answers (the room sees the answer) or dismisses a queued message."""
    await teacher_of(principal, session_id)
    message = await _event(session_id, message_id, field="message_id")
    if message["kind"] not in QUEUED_KINDS:
        raise Invalid("only hands and photos wait in the queue", field="message_id")
    if message["state"] != OPEN:
        raise Conflict(f"message {message_id} is already {message['state']}", field="message_id")
    row, _ = await append(
        session_id,
        "answer" if state == ANSWERED else "dismiss",
        center_id=message["center_id"],
        audience="center",
        text=text,
        reply_to=message_id,
        idem_key=idem(session_id, principal, key),
        author=principal.user_id,
        update_state=(message_id, state),
    )
    return row


async def show_to_all(
    principal: Principal, session_id: int, message_id: int, answer: str, key: str | None
) -> dict[str, Any]:
    """Show one question and its answer on every room's screen (without naming the room)."""
    await teacher_of(principal, session_id)
    message = await _event(session_id, message_id, field="message_id")
    if message["kind"] != "hand":
        raise Invalid("only a room's question can be shown to all rooms", field="message_id")
    row, _ = await append(
        session_id,
        "broadcast",
        audience="all",
        text=message["text"],
        reply_to=message_id,
        idem_key=idem(session_id, principal, key),
        author=principal.user_id,
        data={"answer": answer},
    )
    return row


async def checked_in_centers(session_id: int) -> list[int]:
    rows = (
        await Booking.select(Booking.center)
        .where(
            (Booking.session == session_id)
            & Booking.checked_in_at.is_not_null()
            & Booking.checked_out_at.is_null()
        )
        .order_by(Booking.center)
        .run()
    )
    return [int(r["center"]) for r in rows]


async def roll_call(
    principal: Principal,
    session_id: int,
    key: str | None,
    pick: random.Random | None = None,
) -> dict[str, Any]:
    """随机点名: a checked-in room at random; its screen shows the prompt (409: none yet)."""
    await teacher_of(principal, session_id)
    centers = await checked_in_centers(session_id)
    if not centers:
        raise Conflict("no share-center has checked in yet", field="session_id")
    chosen = (pick or random.SystemRandom()).choice(centers)
    row, _ = await append(
        session_id,
        "rollcall",
        center_id=chosen,
        audience="center",
        idem_key=idem(session_id, principal, key),
        author=principal.user_id,
    )
    return row


async def set_muted(
    principal: Principal, session_id: int, center_id: int, muted: bool
) -> dict[str, Any]:
    await teacher_of(principal, session_id)
    if await _booking(session_id, center_id) is None:
        raise NotFound(f"share-center {center_id} has not booked the class", field="center_id")
    row, _ = await append(
        session_id,
        "mute" if muted else "unmute",
        center_id=center_id,
        audience="center",
        author=principal.user_id,
    )
    return row


async def report_health(
    principal: Principal,
    session_id: int,
    *,
    rendition: str,
    stalls: int,
    latency_ms: int,
    watching: bool,
    stepped_down: bool,
) -> dict[str, Any]:
    """A room's player reports how the stream reaches it (for the teacher's strip)."""
    viewer = await room_of(principal, session_id)
    row, _ = await append(
        session_id,
        "health",
        center_id=viewer.center_id,
        audience="teacher",
        author=principal.user_id,
        data={
            "rendition": rendition,
            "stalls": stalls,
            "latency_ms": latency_ms,
            "watching": watching,
            "stepped_down": stepped_down,
        },
    )
    return row


async def queue(session_id: int) -> list[dict[str, Any]]:
    """The teacher's queue: open hands and photos, oldest first."""
    rows: list[dict[str, Any]] = (
        await ClassroomEvent.select()
        .where(
            (ClassroomEvent.session_id == session_id)
            & ClassroomEvent.kind.is_in(list(QUEUED_KINDS))
            & (ClassroomEvent.state == OPEN)
        )
        .order_by(ClassroomEvent.id)
        .run()
    )
    return rows


async def strip(session_id: int) -> list[dict[str, Any]]:
    """Per booked room: checked in and head count, last link health, last signal, muted."""
    bookings = (
        await Booking.select(
            Booking.center,
            Booking.center.name.as_alias("name"),
            Booking.checked_in_at,
            Booking.checked_out_at,
            Booking.children_present,
        )
        .where(Booking.session == session_id)
        .order_by(Booking.center)
        .run()
    )
    events = (
        await ClassroomEvent.select(
            ClassroomEvent.center_id,
            ClassroomEvent.kind,
            ClassroomEvent.signal,
            ClassroomEvent.data,
            ClassroomEvent.created_at,
        )
        .where(
            (ClassroomEvent.session_id == session_id)
            & ClassroomEvent.kind.is_in(["health", "signal", "hand", "photo"])
        )
        .order_by(ClassroomEvent.id)
        .run()
    )
    health: dict[int, dict[str, Any]] = {}
    signal: dict[int, dict[str, Any]] = {}
    questions: dict[int, int] = {}
    for e in events:
        if e["kind"] == "health":
            health[e["center_id"]] = {**_json(e["data"]), "at": e["created_at"]}
        elif e["kind"] == "signal":
            signal[e["center_id"]] = {"signal": e["signal"], "at": e["created_at"]}
        else:
            questions[e["center_id"]] = questions.get(e["center_id"], 0) + 1
    muted = await muted_centers(session_id)
    return [
        {
            "center_id": b["center"],
            "name": b["name"],
            "checked_in": b["checked_in_at"] is not None and b["checked_out_at"] is None,
            "children": b["children_present"],
            "health": health.get(b["center"]),
            "last_signal": signal.get(b["center"]),
            "questions": questions.get(b["center"], 0),
            "muted": b["center"] in muted,
        }
        for b in bookings
    ]


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        import json

        loaded = json.loads(value or "{}")
        return loaded if isinstance(loaded, dict) else {}
    return dict(value or {})


async def center_names(ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await ShareCenter.select(ShareCenter.id, ShareCenter.name).where(
        ShareCenter.id.is_in(list(ids))
    )
    return {int(r["id"]): str(r["name"]) for r in rows}


async def prune(retention_days: int, storage: Any, now: datetime | None = None) -> int:
    """Delete the messages (and photos) of classes that ended more than ``retention_days``
    ago; how many messages went. 0 keeps everything."""
    if retention_days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    old = await LiveSession.select(LiveSession.id).where(LiveSession.ends_at < cutoff).run()
    ids = [int(r["id"]) for r in old]
    if not ids:
        return 0
    rows = (
        await ClassroomEvent.select(ClassroomEvent.id, ClassroomEvent.photo_key)
        .where(ClassroomEvent.session_id.is_in(ids))
        .run()
    )
    for key in {r["photo_key"] for r in rows if r["photo_key"]}:
        await storage.delete(key)
    if rows:
        await ClassroomEvent.delete().where(ClassroomEvent.session_id.is_in(ids)).run()
    return len(rows)
