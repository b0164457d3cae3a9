"""Recordings: one row per session, from the first recorded segment to the archived replay.

The worker writes the row (``start``, ``finalized``, ``add_renditions``); the hub reads it
to serve the live playlist, the replay and its renditions. URLs handed to players are
presigned and expiring on S3, and hub paths (``/media/...``) for local storage. An HLS
playlist is never handed out by a presigned URL: a player resolves segment URIs against
the playlist's URL, which on a private bucket would be unsigned. The hub serves each
playlist with its segment URIs rewritten to storage URLs instead (``rewrite_playlist``).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from hub import live_window
from hub.live import RESTART_GRACE
from hub.notify.outbox import safely_raise
from hub.settings import Settings
from hub.storage import Storage
from hub.tables import LiveSession, Recording, RecordingState, SessionStatus

RENDITIONS = ("low", "audio")
_URI_ATTRIBUTE = re.compile(r'URI="([^"]+)"')


async def get(session_id: int) -> dict[str, Any] | None:
    """The session's recording row, or None when nothing was recorded."""
    return (
        await Recording.select()
        .where(Recording.session_id == session_id)
        .first()
        .output(load_json=True)
        .run()
    )


REPLAYABLE = (RecordingState.processing, RecordingState.ready)


async def replayable(session_ids: list[int]) -> set[int]:
    """The sessions among ``session_ids`` that have a replay (ready, or being made from what
    was recorded): the pages offer 观看回放 for these only."""
    if not session_ids:
        return set()
    rows = (
        await Recording.select(Recording.session_id)
        .where(Recording.session_id.is_in(session_ids) & Recording.state.is_in(list(REPLAYABLE)))
        .run()
    )
    return {r["session_id"] for r in rows}


async def start(session_id: int, key_prefix: str, playlist_key: str) -> None:
    """A recorder started on the session: the row exists and says ``recording``."""
    now = datetime.now(UTC)
    await (
        Recording.insert(
            Recording(
                session_id=session_id,
                state=RecordingState.recording,
                key_prefix=key_prefix,
                playlist_key=playlist_key,
                started_at=now,
                updated_at=now,
            )
        )
        .on_conflict(target=Recording.session_id, action="DO NOTHING")
        .run()
    )
    await (
        Recording.update(
            {
                Recording.state: RecordingState.recording,
                Recording.error: "",
                Recording.updated_at: now,
            }
        )
        .where((Recording.session_id == session_id) & (Recording.state != RecordingState.recording))
        .run()
    )


async def processing(session_id: int) -> None:
    """The stream ended and the replay is being made."""
    await (
        Recording.update(
            {Recording.state: RecordingState.processing, Recording.updated_at: datetime.now(UTC)}
        )
        .where(Recording.session_id == session_id)
        .run()
    )


async def finalized(
    session_id: int,
    *,
    playlist_key: str,
    mp4_key: str,
    poster_key: str,
    duration: float,
    segments: int,
    bytes_total: int,
    mp4_bytes: int,
    lost_seconds: float = 0.0,
) -> None:
    """The replay (VOD playlist, MP4, poster) is in storage; ``lost_seconds`` of the class
    were not recorded (a recorder cut off before another went on)."""
    await live_window.clear(session_id)
    now = datetime.now(UTC)
    await (
        Recording.update(
            {
                Recording.state: RecordingState.ready,
                Recording.playlist_key: playlist_key,
                Recording.mp4_key: mp4_key,
                Recording.poster_key: poster_key,
                Recording.duration: duration,
                Recording.segments: segments,
                Recording.bytes_total: bytes_total,
                Recording.mp4_bytes: mp4_bytes,
                Recording.lost_seconds: lost_seconds,
                Recording.error: "",
                Recording.finished_at: now,
                Recording.updated_at: now,
            }
        )
        .where(Recording.session_id == session_id)
        .run()
    )
    await safely_raise("replay_ready", f"replay:{session_id}", session_id=session_id)


async def add_renditions(session_id: int, renditions: dict[str, dict[str, Any]]) -> None:
    """Low-bandwidth renditions made: name -> {key, bytes, duration}."""
    row = await get(session_id)
    if row is None:
        return
    merged = {**(row["renditions"] or {}), **renditions}
    total = row["bytes_total"] + sum(
        int(r.get("bytes", 0))
        for name, r in renditions.items()
        if name not in (row["renditions"] or {})
    )
    await (
        Recording.update(
            {
                Recording.renditions: merged,
                Recording.bytes_total: total,
                Recording.updated_at: datetime.now(UTC),
            }
        )
        .where(Recording.session_id == session_id)
        .run()
    )


async def failed(session_id: int, error: str) -> None:
    await (
        Recording.update(
            {
                Recording.state: RecordingState.failed,
                Recording.error: error[-2000:],
                Recording.updated_at: datetime.now(UTC),
            }
        )
        .where(Recording.session_id == session_id)
        .run()
    )


async def archive_finished(
    now: datetime | None = None,
    grace: timedelta = RESTART_GRACE,
    session_ids: list[int] | None = None,
) -> list[int]:
    """Ended sessions whose replay is ready become archived.

    A stream that stopped before the scheduled end may still restart (see
    ``hub.live.go_live``), so such a session waits until ``grace`` after its end; one
    whose stream ran to the scheduled end is archived at once.
    """
    now = now or datetime.now(UTC)
    found = await LiveSession.raw(
        "SELECT s.id FROM live_session s JOIN recording r ON r.session_id = s.id "
        "WHERE s.status = {} AND r.state = {} AND (s.ends_at < {} OR s.ended_at >= s.ends_at)",
        SessionStatus.ended.value,
        RecordingState.ready.value,
        now - grace,
    ).run()
    ready = [r["id"] for r in found if session_ids is None or r["id"] in session_ids]
    if not ready:
        return []
    rows = (
        await LiveSession.update(
            {LiveSession.status: SessionStatus.archived, LiveSession.updated_at: now}
        )
        .where(LiveSession.id.is_in(ready) & (LiveSession.status == SessionStatus.ended))
        .returning(LiveSession.id)
        .run()
    )
    return [r["id"] for r in rows]


# -- URLs ---------------------------------------------------------------------------------


def absolute(settings: Settings, url: str) -> str:
    """A hub path (``/media/...``) made absolute with SHAREHUB_PUBLIC_URL; URLs unchanged."""
    return settings.public_url.rstrip("/") + url if url.startswith("/") else url


class UrlSigner:
    """Storage URLs for keys, each reused for half its lifetime (presigning costs CPU).

    A live playlist is fetched every few seconds by every viewer; signing only the new
    segments keeps that cheap. Bounded: the oldest entries go first.
    """

    def __init__(self, storage: Storage, expires: int, max_entries: int = 200_000) -> None:
        self.storage = storage
        self.expires = expires
        self.max_entries = max_entries
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __call__(self, key: str) -> str:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[1] < self.expires / 2:
            return hit[0]
        url = self.storage.url_for(key, self.expires)
        self._cache[key] = (url, now)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return url


def rewrite_playlist(text: str, key_dir: str, url_for: Callable[[str], str]) -> str:
    """An HLS playlist with each relative URI (segments, ``URI="..."``) made a storage URL.

    Absolute URIs are kept. ``key_dir`` is the storage folder the playlist lies in.
    """

    def resolve(uri: str) -> str:
        if "://" in uri or uri.startswith("/"):
            return uri
        return url_for(f"{key_dir}/{uri}")

    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            lines.append(_URI_ATTRIBUTE.sub(lambda m: f'URI="{resolve(m.group(1))}"', stripped))
        else:
            lines.append(resolve(stripped))
    return "\n".join(lines) + "\n"


class RenditionOut(msgspec.Struct):
    name: str
    playlist_url: str
    bytes: int
    duration: float | None


class RecordingOut(msgspec.Struct):
    """A session's recording for players and download: URLs expire (ask again)."""

    session_id: int
    state: str
    duration: float
    segments: int
    bytes_total: int
    mp4_bytes: int
    lost_seconds: float
    """Seconds of the class missing from the replay (a recorder was cut off mid-class)."""
    playlist_url: str
    """HLS served by the hub: the live EVENT playlist while recording, then the replay."""
    mp4_url: str | None
    poster_url: str | None
    renditions: list[RenditionOut]
    started_at: datetime | None
    finished_at: datetime | None
    download_url: str | None = None
    """The MP4 through the hub, named after the course, date and teacher."""
    low_download_url: str | None = None
    """The low rendition as one MP4 (360p), once the worker has made it."""
    low_mp4_bytes: int = 0


def hls_path(session_id: int, name: str = "index") -> str:
    return f"/api/v1/sessions/{session_id}/hls/{name}.m3u8"


def recording_out(
    row: dict[str, Any], settings: Settings, sign: Callable[[str], str]
) -> RecordingOut:
    ready = row["state"] == RecordingState.ready
    download = f"/api/v1/sessions/{row['session_id']}/replay.mp4"
    low = (row["renditions"] or {}).get("low_mp4") or {}
    renditions = [
        RenditionOut(
            name=name,
            playlist_url=absolute(settings, hls_path(row["session_id"], name)),
            bytes=int(info.get("bytes", 0)),
            duration=info.get("duration"),
        )
        for name, info in sorted((row["renditions"] or {}).items())
        if name in RENDITIONS
    ]
    return RecordingOut(
        session_id=row["session_id"],
        state=row["state"],
        duration=float(row["duration"] or 0.0),
        segments=int(row["segments"] or 0),
        bytes_total=int(row["bytes_total"] or 0),
        mp4_bytes=int(row["mp4_bytes"] or 0),
        lost_seconds=float(row.get("lost_seconds") or 0.0),
        playlist_url=absolute(settings, hls_path(row["session_id"])),
        mp4_url=absolute(settings, sign(row["mp4_key"])) if ready and row["mp4_key"] else None,
        poster_url=(
            absolute(settings, sign(row["poster_key"])) if ready and row["poster_key"] else None
        ),
        renditions=renditions,
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        download_url=absolute(settings, download) if ready and row["mp4_key"] else None,
        low_download_url=absolute(settings, download + "?quality=low") if ready and low else None,
        low_mp4_bytes=int(low.get("bytes", 0)),
    )
