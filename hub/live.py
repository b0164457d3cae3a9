"""A session's stream: its push secret, its provider context and its live status.

Status follows the stream: the first publish inside the live window (from
``SHAREHUB_LIVE_EARLY_SECONDS`` before the start) turns a scheduled session live; a push
before the window is a rehearsal (彩排): ``pushing_since`` is set, the status stays
scheduled, and the class turns live at the window's opening if the push continues
(``promote_due``) or when the teacher presses 开始上课 (``start_class``). The end of the
stream after the start, 下课 (``end_class``), or no stream some time after the scheduled end
turns it ended; a stream that restarts within the grace turns an ended session live again,
so one class gives one replay. Each change is one conditional UPDATE, so concurrent
callbacks cannot undo each other.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.errors import Conflict, NotFound
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.streaming import ProviderBase, StreamContext
from hub.tables import LiveSession, SessionStatus

RESTART_GRACE = timedelta(minutes=30)
"""A stream may restart this long after the scheduled end and still be the same class."""
LIVE_EARLY = timedelta(seconds=300)
"""A push this long before the start turns the class live (``configure`` sets it)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


clock: Callable[[], datetime] = _utc_now
"""When a stream event happens (tests replace it to play a class day at set times)."""


def configure(settings: Settings) -> None:
    """Take ``SHAREHUB_LIVE_EARLY_SECONDS`` (called by the app and the CLI at start-up)."""
    global LIVE_EARLY
    LIVE_EARLY = timedelta(seconds=max(0, settings.live_early_seconds))
    from hub.volunteer import ledger

    ledger.configure(settings)  # the volunteer hours of a class follow the same clocks


def in_rehearsal(starts_at: datetime, at: datetime, early: timedelta | None = None) -> bool:
    """Whether a push at ``at`` comes before the class's live window opens."""
    return at < starts_at - (LIVE_EARLY if early is None else early)


def stream_name(session_id: int) -> str:
    """The provider-side stream name of a session (not secret)."""
    return f"sh{session_id}"


def session_id_of(name: str) -> int | None:
    """The session a stream name belongs to, or None for a name that is not ours."""
    if name.startswith("sh") and name[2:].isascii() and name[2:].isdigit() and len(name) < 14:
        return int(name[2:])
    return None


def new_stream_key() -> str:
    """32 URL-safe characters: usable as an RTMP key and as an SRT passphrase (10-79)."""
    return secrets.token_urlsafe(24)


async def session_row(session_id: int) -> dict[str, Any]:
    row = (
        await LiveSession.select(
            LiveSession.id,
            LiveSession.teacher,
            LiveSession.starts_at,
            LiveSession.ends_at,
            LiveSession.status,
            LiveSession.provider,
            LiveSession.provider_settings,
            LiveSession.stream_key,
            LiveSession.live_at,
            LiveSession.ended_at,
            LiveSession.pushing_since,
            LiveSession.course.visibility.as_alias("visibility"),
        )
        .where(LiveSession.id == session_id)
        .first()
        .output(load_json=True)
        .run()
    )
    if row is None:
        raise NotFound(f"session {session_id} not found", field="id")
    return row


async def ensure_stream_key(row: dict[str, Any]) -> str:
    """The session's push secret, made on first use (two racing callers get the same)."""
    if row["stream_key"]:
        return str(row["stream_key"])
    await (
        LiveSession.update({LiveSession.stream_key: new_stream_key()})
        .where((LiveSession.id == row["id"]) & (LiveSession.stream_key == ""))
        .run()
    )
    key = (
        await LiveSession.select(LiveSession.stream_key)
        .where(LiveSession.id == row["id"])
        .first()
        .run()
    )
    assert key is not None
    row["stream_key"] = key["stream_key"]
    return str(key["stream_key"])


async def rotate_stream_key(session_id: int) -> str:
    """A new push secret; the old one stops working for the next publish."""
    key = new_stream_key()
    await (
        LiveSession.update({LiveSession.stream_key: key, LiveSession.updated_at: datetime.now(UTC)})
        .where(LiveSession.id == session_id)
        .run()
    )
    return key


async def context(
    row: dict[str, Any], host: PluginHost, settings: Settings, now: datetime | None = None
) -> StreamContext:
    """The provider's view of one session (validating its stored options)."""
    provider = row["provider"]
    return StreamContext(
        session_id=row["id"],
        stream_name=stream_name(row["id"]),
        stream_key=await ensure_stream_key(row),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        now=now or datetime.now(UTC),
        hub=settings,
        options=host.provider_options[host.provider(provider).name],
        session_options=host.session_options(provider, row["provider_settings"]),
    )


async def prepared_context(
    row: dict[str, Any], host: PluginHost, settings: Settings, now: datetime | None = None
) -> StreamContext:
    """The context after the provider's optional ``prepare(ctx)`` (which may store options,
    e.g. an assigned port, before addresses are shown or the recorder opens the source)."""
    ctx = await context(row, host, settings, now)
    provider = host.provider(row["provider"])
    if type(provider).prepare is ProviderBase.prepare:  # the no-op default: nothing stored
        return ctx
    await provider.prepare(ctx)
    fresh = await session_row(row["id"])
    return await context(fresh, host, settings, now)


async def key_matches(session_id: int, key: str) -> bool:
    """Whether ``key`` is the session's current push secret (constant-time compare)."""
    row = (
        await LiveSession.select(LiveSession.stream_key, LiveSession.status)
        .where(LiveSession.id == session_id)
        .first()
        .run()
    )
    if row is None or not row["stream_key"] or row["status"] == SessionStatus.cancelled:
        return False
    return secrets.compare_digest(str(row["stream_key"]).encode(), key.encode())


async def go_live(
    session_id: int, at: datetime | None = None, early: timedelta | None = None
) -> bool:
    """The stream started: scheduled (or ended, within the grace) becomes live.

    A push before the live window is a rehearsal: the status stays scheduled (False).
    Returns True when this call changed the status. A cancelled or archived session
    cannot go live (409).
    """
    at = at or clock()
    await (
        LiveSession.update({LiveSession.pushing_since: at})
        .where((LiveSession.id == session_id) & LiveSession.pushing_since.is_null())
        .run()
    )
    row = await session_row(session_id)
    if row["status"] == SessionStatus.scheduled and in_rehearsal(row["starts_at"], at, early):
        return False
    return await _turn_live(session_id, at)


def rehearsing(row: dict[str, Any]) -> bool:
    """Whether the session's teacher is pushing a rehearsal now."""
    return row["status"] == SessionStatus.scheduled and row.get("pushing_since") is not None


async def start_class(session_id: int, at: datetime | None = None) -> bool:
    """开始上课: the teacher (or an admin) turns the class live now, rehearsal or not."""
    return await _turn_live(session_id, at or clock())


async def end_class(session_id: int, at: datetime | None = None) -> bool:
    """下课: a live class ends now (its replay is made from what was recorded)."""
    at = at or clock()
    if await end_stream(session_id, at):
        return True
    row = await session_row(session_id)
    if row["status"] in (SessionStatus.ended, SessionStatus.archived):
        return False
    raise Conflict(f"session {session_id} is {row['status']} and cannot end", field="status")


async def promote_due(
    now: datetime | None = None, early: timedelta | None = None, session_id: int | None = None
) -> list[int]:
    """Rehearsals whose live window has opened while the push continues become live (all of
    them, or the one ``session_id``)."""
    now = now or datetime.now(UTC)
    window = LIVE_EARLY if early is None else early
    only = LiveSession.id == session_id if session_id is not None else None
    query = (
        LiveSession.update({LiveSession.status: SessionStatus.live, LiveSession.updated_at: now})
        .where(
            (LiveSession.status == SessionStatus.scheduled)
            & LiveSession.pushing_since.is_not_null()
            & (LiveSession.starts_at <= now + window)
        )
        .returning(LiveSession.id)
    )
    rows = await (query.where(only) if only is not None else query).run()
    ids = [r["id"] for r in rows]
    if ids:
        await (
            LiveSession.update({LiveSession.live_at: now})
            .where(LiveSession.id.is_in(ids) & LiveSession.live_at.is_null())
            .run()
        )
    return ids


async def _turn_live(session_id: int, at: datetime) -> bool:
    changed = (
        await LiveSession.update(
            {LiveSession.status: SessionStatus.live, LiveSession.updated_at: at}
        )
        .where(
            (LiveSession.id == session_id)
            & (
                (LiveSession.status == SessionStatus.scheduled)
                | (
                    (LiveSession.status == SessionStatus.ended)
                    & (LiveSession.ends_at > at - RESTART_GRACE)
                )
            )
        )
        .returning(LiveSession.id)
        .run()
    )
    if changed:
        await (
            LiveSession.update({LiveSession.live_at: at})
            .where((LiveSession.id == session_id) & LiveSession.live_at.is_null())
            .run()
        )
        return True
    row = await session_row(session_id)
    if row["status"] == SessionStatus.live:
        return False
    raise Conflict(f"session {session_id} is {row['status']} and cannot go live", field="status")


async def end_stream(session_id: int, at: datetime | None = None) -> bool:
    """The stream stopped: live becomes ended (a rehearsal just stops). Returns True when
    this call changed the status."""
    at = at or clock()
    await (
        LiveSession.update({LiveSession.pushing_since: None})
        .where((LiveSession.id == session_id) & LiveSession.pushing_since.is_not_null())
        .run()
    )
    changed = (
        await LiveSession.update(
            {
                LiveSession.status: SessionStatus.ended,
                LiveSession.ended_at: at,
                LiveSession.updated_at: at,
            }
        )
        .where((LiveSession.id == session_id) & (LiveSession.status == SessionStatus.live))
        .returning(LiveSession.id)
        .run()
    )
    return bool(changed)


async def end_overdue(now: datetime | None = None, grace: timedelta = RESTART_GRACE) -> list[int]:
    """Live sessions whose scheduled end passed more than ``grace`` ago become ended."""
    now = now or datetime.now(UTC)
    rows = (
        await LiveSession.update(
            {
                LiveSession.status: SessionStatus.ended,
                LiveSession.ended_at: now,
                LiveSession.updated_at: now,
            }
        )
        .where((LiveSession.status == SessionStatus.live) & (LiveSession.ends_at < now - grace))
        .returning(LiveSession.id)
        .run()
    )
    return [r["id"] for r in rows]
