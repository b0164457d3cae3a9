"""Where a class stands for its viewers: waiting, live, ended, replay ready (or cancelled).

The watch page polls this (``GET /api/v1/sessions/{id}/state``) and moves between its
states without a reload. A rehearsal is not shown: until the class turns live its viewers
see the waiting room.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from litestar import Request

from hub import live, recordings
from hub.accounts import Principal
from hub.api.media_files import media_service
from hub.api.streams import usable_provider
from hub.errors import DomainError
from hub.pages import replays_view
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.storage import ObjectMissing, StorageUnavailable
from hub.tables import RecordingState, SessionStatus

ENDED = {SessionStatus.ended.value, SessionStatus.archived.value}


class WatchState(msgspec.Struct):
    """One poll's answer. ``state``: waiting | live | ended | replay_ready | cancelled."""

    session_id: int
    state: str
    status: str
    starts_at: datetime
    ends_at: datetime
    now: datetime
    seconds_to_start: float
    live_source: str | None = None
    """The live HLS playlist (a provider's URL, or the hub's own while it records)."""
    playlist_ready: bool = False
    """The live playlist holds a segment: a player may start (it retries anyway)."""
    link: str | None = None
    """A meeting link (``external_link`` provider) instead of a stream."""
    replay: dict[str, str] = msgspec.field(default_factory=dict)
    """Replay playlists by quality (high, low, audio) once the replay is ready."""
    rehearsal: bool | None = None
    """For the session's teacher and admins only: a rehearsal push is coming in."""
    keyframe_seconds: float | None = None
    """For the session's teacher and admins only: the typical length of the last recorded
    segments. Segments are cut at keyframes, so this is the encoder's keyframe interval when
    it is longer than ``SHAREHUB_SEGMENT_SECONDS`` (viewers then lag further behind)."""


def state_of(status: str, replay_ready: bool) -> str:
    if status == SessionStatus.cancelled.value:
        return "cancelled"
    if status == SessionStatus.live.value:
        return "live"
    if status in ENDED:
        return "replay_ready" if replay_ready else "ended"
    return "waiting"


async def live_addresses(
    row: dict[str, Any], plugins: PluginHost, settings: Settings, now: datetime
) -> tuple[str | None, str | None]:
    """The session's live HLS URL and meeting link, as its provider gives them."""
    try:
        provider = usable_provider(plugins, row["provider"])
        ctx = await live.prepared_context(row, plugins, settings, now)
        playback = provider.playback(ctx, now + timedelta(hours=2))
    except DomainError:
        return None, None
    hls = link = None
    for url in playback.urls:
        if url.protocol == "hls" and hls is None:
            hls = url.url
        elif url.protocol == "link" and link is None:
            link = url.url
    return hls, link


def recent_segment_seconds(playlist: bytes, last: int = 5) -> float | None:
    """The median ``#EXTINF`` duration of a playlist's last few segments (None: none yet)."""
    durations = []
    for line in playlist.decode(errors="replace").splitlines():
        if line.startswith("#EXTINF:"):
            try:
                durations.append(float(line[8:].split(",", 1)[0]))
            except ValueError:
                continue
    recent = sorted(durations[-last:])
    return round(recent[len(recent) // 2], 1) if recent else None


async def hub_playlist(
    request: Request[Any, Any, Any], settings: Settings, recording: dict[str, Any] | None
) -> bytes | None:
    if recording is None or not recording["playlist_key"]:
        return None
    try:
        return await media_service(request, settings).playlist(recording["playlist_key"])
    except (ObjectMissing, StorageUnavailable):
        return None


async def hub_playlist_ready(
    request: Request[Any, Any, Any], settings: Settings, recording: dict[str, Any] | None
) -> bool:
    """Whether the hub's own live playlist exists and names a segment."""
    if recording is None or not recording["playlist_key"]:
        return False
    try:
        text = await media_service(request, settings).playlist(recording["playlist_key"])
    except (ObjectMissing, StorageUnavailable):
        return False
    return b"#EXTINF" in text


async def watch_state(
    request: Request[Any, Any, Any],
    session_id: int,
    plugins: PluginHost,
    settings: Settings,
    now: datetime | None = None,
    principal: Principal | None = None,
) -> WatchState:
    """The state of a session the caller may watch (the caller checks visibility)."""
    now = now or datetime.now(UTC)
    row = await live.session_row(session_id)
    if live.rehearsing(row) and not live.in_rehearsal(row["starts_at"], now):
        # the push went on into the live window: the class is on (the worker's tick does
        # the same for everyone; a viewer waiting here need not wait for it)
        if await live.promote_due(now, session_id=session_id):
            row = await live.session_row(session_id)
    recording = await recordings.get(session_id)
    status = str(row["status"])
    replay: dict[str, str] = {}
    if status in ENDED and recording is not None and recording["state"] == RecordingState.ready:
        out = await replays_view.recording_of(request, settings, session_id)
        replay = replays_view.sources(out)
    out_state = WatchState(
        session_id=session_id,
        state=state_of(status, bool(replay)),
        status=status,
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        now=now,
        seconds_to_start=max(0.0, (row["starts_at"] - now).total_seconds()),
        replay=replay,
    )
    if principal is not None and (principal.is_admin or principal.teacher_id == row["teacher"]):
        out_state.rehearsal = live.rehearsing(row)
        if out_state.rehearsal or status == SessionStatus.live.value:
            text = await hub_playlist(request, settings, recording)
            out_state.keyframe_seconds = recent_segment_seconds(text) if text else None
    if status in (SessionStatus.scheduled.value, SessionStatus.live.value):
        hls, link = await live_addresses(row, plugins, settings, now)
        out_state.link = link
        if status == SessionStatus.live.value and hls:
            out_state.live_source = hls
            own = hls.endswith(recordings.hls_path(session_id))
            out_state.playlist_ready = (
                await hub_playlist_ready(request, settings, recording) if own else True
            )
    return out_state
