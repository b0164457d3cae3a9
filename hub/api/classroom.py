"""Classroom mode's API: the rooms' messages to the teacher, the teacher's answers, and the
server-sent event streams of the teacher's panel and the rooms' class screens."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from hub import classroom
from hub.accounts import Principal
from hub.api.common import PathId, need
from hub.auth import signed_in
from hub.classroom_bus import BUS
from hub.classroom_feed import feed_for
from hub.classroom_photo import PhotoTooLarge, photo_key, reencode
from hub.classroom_tables import ClassroomEvent
from hub.errors import Invalid, NotFound
from hub.settings import Settings

Key = Annotated[
    str,
    msgspec.Meta(
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="idempotency key: the same key again is the same message (a retried send)",
    ),
]
Text = Annotated[str, msgspec.Meta(max_length=200)]
Answer = Annotated[str, msgspec.Meta(max_length=500)]
EventId = Annotated[int, msgspec.Meta(ge=1, le=2**62)]

KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 300
"""A stream ends after this long; the browser reconnects with Last-Event-ID (proxies and load
balancers cut long idle connections anyway)."""
PHOTO_BODY_LIMIT = 64 * 1024 * 1024
"""The photo route reads its own body (413 from ``classroom_photo_max_bytes``, naming it)."""


class RoomMessageIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["hand", "signal", "rollcall_answer"]
    key: Key
    text: Text = ""
    signal: Literal["", "unclear_audio", "unclear_video", "too_fast", "understood"] = ""
    reply_to: EventId | None = None


class SettleIn(msgspec.Struct, forbid_unknown_fields=True):
    key: Key | None = None
    text: Answer = ""


class ShowAllIn(msgspec.Struct, forbid_unknown_fields=True):
    answer: Answer
    key: Key | None = None


class RollCallIn(msgspec.Struct, forbid_unknown_fields=True):
    key: Key | None = None


class MuteIn(msgspec.Struct, forbid_unknown_fields=True):
    muted: bool


class HealthIn(msgspec.Struct, forbid_unknown_fields=True):
    rendition: Literal["auto", "high", "low", "audio"]
    stalls: Annotated[int, msgspec.Meta(ge=0, le=100_000)]
    latency_ms: Annotated[int, msgspec.Meta(ge=0, le=3_600_000)]
    watching: bool
    stepped_down: bool = False


class EventOut(msgspec.Struct):
    id: int
    session_id: int
    kind: str
    center_id: int | None
    center_name: str
    text: str
    signal: str
    state: str
    reply_to: int | None
    photo_url: str | None
    data: dict[str, Any]
    created_at: datetime
    duplicate: bool = False


AGAIN = {
    200: ResponseSpec(
        data_container=EventOut,
        description="The same idempotency key again: the first message, with duplicate=true",
    )
}


class ClassroomOut(msgspec.Struct):
    session_id: int
    role: Literal["teacher", "room"]
    last_event_id: int
    queue: list[EventOut]
    rooms: list[dict[str, Any]]
    muted: bool = False


def _data(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        loaded = json.loads(value or "{}")
        return loaded if isinstance(loaded, dict) else {}
    return dict(value or {})


def event_out(row: dict[str, Any], names: dict[int, str], duplicate: bool = False) -> EventOut:
    photo = (
        f"/api/v1/sessions/{row['session_id']}/classroom/photos/{row['id']}"
        if row["photo_key"]
        else None
    )
    return EventOut(
        id=row["id"],
        session_id=row["session_id"],
        kind=row["kind"],
        center_id=row["center_id"],
        center_name=names.get(row["center_id"] or 0, ""),
        text=row["text"],
        signal=row["signal"],
        state=row["state"],
        reply_to=row["reply_to"],
        photo_url=photo,
        data=_data(row["data"]),
        created_at=row["created_at"],
        duplicate=duplicate,
    )


async def outs(rows: list[dict[str, Any]]) -> list[EventOut]:
    names = await classroom.center_names(sorted({r["center_id"] for r in rows if r["center_id"]}))
    return [event_out(r, names) for r in rows]


async def one_out(row: dict[str, Any], duplicate: bool = False) -> EventOut:
    names = await classroom.center_names([row["center_id"]] if row["center_id"] else [])
    return event_out(row, names, duplicate)


def created(out: EventOut) -> Response[EventOut]:
    return Response(out, status_code=200 if out.duplicate else 201)


MAX_ID = 2**31 - 1
"""Event ids are the table's integer keys (32 bits on PostgreSQL)."""


def last_event_id(request: Request[Any, Any, Any], after: int | None) -> int:
    """Where to resume: the browser's Last-Event-ID (a reconnect), else ``after``, else 0."""
    header = request.headers.get("last-event-id", "").strip()
    if not header:
        return after or 0
    if not header.isdigit() or len(header) > 18 or int(header) > MAX_ID:
        raise Invalid("Last-Event-ID must be an event id (digits)", field="last-event-id")
    return int(header)


async def event_stream(
    viewer: classroom.Viewer, after: int, seconds: int
) -> AsyncIterator[ServerSentEventMessage]:
    """Every event the viewer may read after ``after``, then each new one as it comes."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    names: dict[int, str] = {}
    newest = await classroom.newest_id(viewer.session_id)
    listening = BUS.listening(viewer.session_id, viewer.teacher, viewer.center_id)
    with listening as woken, feed_for(viewer.session_id, newest) as feed:
        with contextlib.suppress(Exception):
            await BUS.ensure_listening()
        yield ServerSentEventMessage(data=None, retry=2000, comment="classroom")
        while True:
            woken.clear()
            if after < feed.floor:  # catching up: from the table
                rows = await classroom.events_after(viewer, after)
            else:  # at the head: the process's one read for all its streams
                await feed.fresh(feed.ticket())
                rows = feed.after(viewer, after, 200)
            unknown = {r["center_id"] for r in rows if r["center_id"]} - names.keys()
            if unknown:  # a room's name is looked up once per stream
                names.update(await classroom.center_names(sorted(unknown)))
            for out in (event_out(r, names) for r in rows):
                after = out.id
                yield ServerSentEventMessage(
                    data=msgspec.json.encode(out).decode(), event=out.kind, id=out.id
                )
            if len(rows) >= 200:
                continue
            left = until - loop.time()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(woken.wait(), timeout=min(KEEPALIVE_SECONDS, left))
            except TimeoutError:
                if until - loop.time() > 0:
                    yield ServerSentEventMessage(data=None, comment="keep-alive")


AfterParam = Annotated[
    int | None,
    Parameter(ge=0, le=MAX_ID, description="events after this id (else Last-Event-ID, else all)"),
]


class ClassroomController(Controller):
    path = "/api/v1/sessions/{session_id:int}/classroom"
    tags = ["classroom"]
    guards = [signed_in]

    @get("")
    async def state(self, session_id: PathId, principal: Principal | None) -> ClassroomOut:
        """The panel's state: the teacher's queue and rooms; a room's own open messages."""
        viewer = await classroom.viewer_for(need(principal), session_id)
        last = (
            await ClassroomEvent.select(ClassroomEvent.id)
            .where((ClassroomEvent.session_id == session_id) & classroom.visible_to(viewer))
            .order_by(ClassroomEvent.id, ascending=False)
            .first()
            .run()
        )
        queue = await classroom.queue(session_id)
        if viewer.teacher:
            return ClassroomOut(
                session_id=session_id,
                role="teacher",
                last_event_id=last["id"] if last else 0,
                queue=await outs(queue),
                rooms=await classroom.strip(session_id),
            )
        mine = [r for r in queue if r["center_id"] == viewer.center_id]
        return ClassroomOut(
            session_id=session_id,
            role="room",
            last_event_id=last["id"] if last else 0,
            queue=await outs(mine),
            rooms=[],
            muted=viewer.center_id in await classroom.muted_centers(session_id),
        )

    @get("/events")
    async def events(
        self,
        session_id: PathId,
        principal: Principal | None,
        request: Request[Any, Any, Any],
        after: AfterParam = None,
    ) -> list[EventOut]:
        """The events the caller may read, after an id (at most 200; ask again from the last)."""
        viewer = await classroom.viewer_for(need(principal), session_id)
        return await outs(await classroom.events_after(viewer, last_event_id(request, after)))

    @get("/stream", media_type="text/event-stream")
    async def stream(
        self,
        session_id: PathId,
        principal: Principal | None,
        request: Request[Any, Any, Any],
        after: AfterParam = None,
        seconds: Annotated[
            int,
            Parameter(
                ge=0, le=3600, description="end the stream after this long (0: catch up only)"
            ),
        ] = STREAM_SECONDS,
    ) -> ServerSentEvent:
        """Server-sent events: what the caller may read, from Last-Event-ID (or ``after``)."""
        viewer = await classroom.viewer_for(need(principal), session_id)
        start = last_event_id(request, after)
        return ServerSentEvent(
            event_stream(viewer, start, seconds),
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @post("/messages", status_code=201, responses=AGAIN)
    async def send(
        self, session_id: PathId, data: RoomMessageIn, principal: Principal | None
    ) -> Response[EventOut]:
        """A room's hand (with a question), quick signal or roll-call answer; the same key
        again answers 200 with the first message (``duplicate``)."""
        if data.kind == "signal" and not data.signal:
            raise Invalid("a signal names which one", field="signal")
        if data.kind == "rollcall_answer" and data.reply_to is None:
            raise Invalid("a roll-call answer names the roll call", field="reply_to")
        row, new = await classroom.send_from_room(
            need(principal),
            session_id,
            data.kind,
            text=data.text.strip(),
            signal=data.signal if data.kind == "signal" else "",
            key=data.key,
            reply_to=data.reply_to,
        )
        return created(await one_out(row, duplicate=not new))

    @post("/photos", status_code=201, request_max_body_size=PHOTO_BODY_LIMIT, responses=AGAIN)
    async def photo(
        self,
        session_id: PathId,
        principal: Principal | None,
        request: Request[Any, Any, Any],
        settings: Settings,
        key: Annotated[str, Parameter(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
        text: Annotated[str, Parameter(max_length=200)] = "",
    ) -> Response[EventOut]:
        """A room's photo as the request body (any image type); re-encoded without EXIF/GPS."""
        who = need(principal)
        await classroom.room_of(who, session_id)
        full = classroom.idem(session_id, who, key)
        found = await ClassroomEvent.select().where(ClassroomEvent.idem_key == full).first().run()
        if found is not None:
            return created(await one_out(found, duplicate=True))
        declared = request.headers.get("content-length", "0")
        limit = settings.classroom_photo_max_bytes
        if declared.isdigit() and int(declared) > limit:
            raise PhotoTooLarge(f"the photo is {declared} bytes; at most {limit} bytes", "photo")
        raw = await request.body()
        clean = await asyncio.to_thread(
            reencode, raw, settings.classroom_photo_max_bytes, settings.classroom_photo_max_side
        )
        stored = photo_key(session_id)
        await request.app.state["storage"].put_bytes(stored, clean)
        row, new = await classroom.send_from_room(
            who, session_id, "photo", text=text.strip(), key=key, photo_key=stored
        )
        return created(await one_out(row, duplicate=not new))

    @get("/photos/{event_id:int}", media_type="image/jpeg")
    async def photo_file(
        self,
        session_id: PathId,
        event_id: PathId,
        principal: Principal | None,
        request: Request[Any, Any, Any],
    ) -> Response[bytes]:
        """A room's photo, for the class's teacher and administrators only."""
        await classroom.teacher_of(need(principal), session_id)
        row = (
            await ClassroomEvent.select(ClassroomEvent.photo_key)
            .where((ClassroomEvent.id == event_id) & (ClassroomEvent.session_id == session_id))
            .first()
            .run()
        )
        if row is None or not row["photo_key"]:
            raise NotFound(f"no photo {event_id} in session {session_id}", field="event_id")
        data = await request.app.state["storage"].get_bytes(row["photo_key"])
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private"})

    @post("/messages/{message_id:int}/answer", status_code=201)
    async def answer(
        self, session_id: PathId, message_id: PathId, data: SettleIn, principal: Principal | None
    ) -> EventOut:
        """The teacher answers a hand or photo (the room sees the answer; one click)."""
        row = await classroom.settle(
            need(principal), session_id, message_id, classroom.ANSWERED, data.text, data.key
        )
        return await one_out(row)

    @post("/messages/{message_id:int}/dismiss", status_code=201)
    async def dismiss(
        self, session_id: PathId, message_id: PathId, data: SettleIn, principal: Principal | None
    ) -> EventOut:
        """The teacher takes a message off the queue without answering."""
        row = await classroom.settle(
            need(principal), session_id, message_id, classroom.DISMISSED, data.text, data.key
        )
        return await one_out(row)

    @post("/messages/{message_id:int}/show-all", status_code=201)
    async def show_all(
        self, session_id: PathId, message_id: PathId, data: ShowAllIn, principal: Principal | None
    ) -> EventOut:
        """Show a question and its answer on every room's screen."""
        row = await classroom.show_to_all(
            need(principal), session_id, message_id, data.answer.strip(), data.key
        )
        return await one_out(row)

    @post("/roll-call", status_code=201)
    async def roll_call(
        self, session_id: PathId, data: RollCallIn, principal: Principal | None
    ) -> EventOut:
        """随机点名: a checked-in room at random; its screen shows the prompt."""
        return await one_out(await classroom.roll_call(need(principal), session_id, data.key))

    @post("/centers/{center_id:int}/mute", status_code=201)
    async def mute(
        self, session_id: PathId, center_id: PathId, data: MuteIn, principal: Principal | None
    ) -> EventOut:
        """Mute (or unmute) one room: its hands, signals and photos are refused meanwhile."""
        row = await classroom.set_muted(need(principal), session_id, center_id, data.muted)
        return await one_out(row)

    @post("/health", status_code=201)
    async def health(
        self, session_id: PathId, data: HealthIn, principal: Principal | None
    ) -> EventOut:
        """A room's player: rendition, stalls, latency, watching (the teacher's strip)."""
        row = await classroom.report_health(
            need(principal),
            session_id,
            rendition=data.rendition,
            stalls=data.stalls,
            latency_ms=data.latency_ms,
            watching=data.watching,
            stepped_down=data.stepped_down,
        )
        return await one_out(row)
