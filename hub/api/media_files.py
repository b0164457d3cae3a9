"""Serving recordings: HLS playlists from storage, replay info, and local storage files.

``GET /api/v1/sessions/{id}/hls/index.m3u8`` reads the session's playlist from storage
(the growing EVENT playlist while the class is live, the VOD playlist afterwards; also
``low.m3u8`` and ``audio.m3u8`` once made) and rewrites its segment URIs to storage URLs:
presigned and expiring on S3, ``/media/...`` for local storage. ``GET /media/{key}``
serves local storage (404 when the hub uses S3). Both check who may watch: public
courses anyone, centers-only courses signed-in users.

When the store cannot be read (it refuses, or does not answer within the short viewer
timeouts of ``hub.storage``), a class being recorded is served from the live window the
recorder keeps in the database (``hub.live_window``): a sliding-window playlist and its
segments (``GET /api/v1/sessions/{id}/hls/{name}.ts``). After one failed read the store is
not asked again for ``STORE_BACKOFF_SECONDS``, so viewers never queue on a hanging store.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.response import File

from hub import live_window, recordings
from hub.accounts import Principal
from hub.api.common import PathId, session_visibility
from hub.errors import NotAuthorized, NotFound
from hub.recordings import RecordingOut, UrlSigner
from hub.settings import Settings
from hub.storage import (
    LocalStorage,
    ObjectMissing,
    Storage,
    StorageUnavailable,
    check_key,
    content_type_for,
    storage_for,
)
from hub.tables import RecordingState, Role, Visibility

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
PLAYLIST_MEMO_SECONDS = 1.0
"""A process reuses a playlist read from storage this long (every viewer polls it)."""
STORE_BACKOFF_SECONDS = 3.0
"""After a failed read, the store is taken as down this long (no viewer waits on it)."""
VIEW_READ_DEADLINE = 6.0
"""The longest a viewer's request waits on the store (its own timeouts are shorter)."""
_SESSION_KEY = re.compile(r"^sessions/(\d+)/")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class MediaService:
    """Per app: the store, its URL signer and a short memo of playlists read."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage: Storage = storage_for(settings)
        self.sign = UrlSigner(self.storage, settings.media_url_seconds)
        self._memo: dict[str, tuple[bytes, float]] = {}
        self._down_until = 0.0
        self._down_reason = ""

    async def playlist(self, key: str) -> bytes:
        now = time.monotonic()
        hit = self._memo.get(key)
        if hit is not None and now - hit[1] < PLAYLIST_MEMO_SECONDS:
            return hit[0]
        if now < self._down_until:
            raise StorageUnavailable(self._down_reason)
        try:
            data = await asyncio.wait_for(self.storage.get_bytes(key), VIEW_READ_DEADLINE)
        except (StorageUnavailable, TimeoutError) as exc:
            self._down_until = time.monotonic() + STORE_BACKOFF_SECONDS
            self._down_reason = str(exc) or "the store did not answer in time"
            raise StorageUnavailable(self._down_reason) from exc
        if len(self._memo) > 5000:
            self._memo.clear()
        self._memo[key] = (data, now)
        return data


def media_service(request: Request[Any, Any, Any], settings: Settings) -> MediaService:
    state = request.app.state
    service = state.get("media_service")
    if service is None:
        service = MediaService(settings)
        state["media_service"] = service
    return service  # type: ignore[no-any-return]


async def visibility_of(session_id: int, principal: Principal | None) -> str:
    """The visibility of a session the caller may watch (404 otherwise); a cancelled
    session's replay is not public."""
    return await session_visibility(session_id, principal)


def unavailable(exc: StorageUnavailable) -> Response[dict[str, str]]:
    return Response(
        {"detail": f"storage is unreachable, try again shortly ({exc})"},
        status_code=503,
        headers={"Retry-After": "5", "Cache-Control": "no-store"},
    )


class RecordingController(Controller):
    path = "/api/v1/sessions/{session_id:int}"
    tags = ["recordings"]

    @get("/hls/{name:str}")
    async def hls(
        self,
        request: Request[Any, Any, Any],
        session_id: PathId,
        name: str,
        settings: Settings,
        principal: Principal | None,
    ) -> Response[Any]:
        """The session's HLS playlist (index, low or audio .m3u8) with storage URLs."""
        visibility = await visibility_of(session_id, principal)
        row = await recordings.get(session_id)
        if row is None:
            raise NotFound(f"session {session_id} has no recording yet", field="session_id")
        scope = "public" if visibility == Visibility.public else "private"
        if name.endswith(".ts"):  # a segment of the live window (the store is down)
            data = await live_window.data(session_id, name)
            if data is None:
                raise NotFound(f"no live segment {name!r} for session {session_id}", field="name")
            return Response(
                data,
                media_type="video/mp2t",
                headers={"Cache-Control": f"{scope}, max-age=60"},
            )
        rendition = name.removesuffix(".m3u8")
        if rendition == "index":
            key = row["playlist_key"]
        elif rendition in recordings.RENDITIONS and rendition in (row["renditions"] or {}):
            key = row["renditions"][rendition]["key"]
        else:
            raise NotFound(f"no playlist {name!r} for session {session_id}", field="name")
        service = media_service(request, settings)
        try:
            text = (await service.playlist(key)).decode()
        except ObjectMissing:
            raise NotFound(
                f"session {session_id} has no recorded segment yet", field="session_id"
            ) from None
        except StorageUnavailable as exc:
            window = await live_window.segments(session_id) if rendition == "index" else []
            if not window or row["state"] != RecordingState.recording:
                return unavailable(exc)
            return Response(
                live_window.playlist(window),
                media_type=PLAYLIST_TYPE,
                headers={"Cache-Control": "no-store"},
            )
        body = recordings.rewrite_playlist(text, key.rsplit("/", 1)[0], service.sign)
        ended = "#EXT-X-ENDLIST" in text
        return Response(
            body,
            media_type=PLAYLIST_TYPE,
            headers={"Cache-Control": f"{scope}, max-age={30 if ended else 1}"},
        )

    @get("/recording")
    async def recording(
        self,
        request: Request[Any, Any, Any],
        session_id: PathId,
        settings: Settings,
        principal: Principal | None,
    ) -> Response[RecordingOut]:
        """The session's recording: state, duration, sizes, replay and download URLs."""
        await visibility_of(session_id, principal)
        row = await recordings.get(session_id)
        if row is None:
            raise NotFound(f"session {session_id} has no recording", field="session_id")
        out = recordings.recording_out(row, settings, media_service(request, settings).sign)
        return Response(out, headers={"Cache-Control": "private, max-age=60"})


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a single ``bytes=`` range within ``size``; None when not usable."""
    match = _RANGE.match(header.strip())
    if not match or size == 0 or (not match.group(1) and not match.group(2)):
        return None
    if not match.group(1):
        first = max(size - int(match.group(2)), 0)
        return first, size - 1
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    if first >= size or last < first:
        return None
    return first, min(last, size - 1)


def _read(path: Path, first: int, length: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(first)
        return handle.read(length)


class LocalMediaController(Controller):
    path = "/media"
    tags = ["recordings"]
    include_in_schema = False

    @get("/{key:path}")
    async def media_file(
        self,
        request: Request[Any, Any, Any],
        key: str,
        settings: Settings,
        principal: Principal | None,
    ) -> Response[Any]:
        """A file of local storage (sessions' recordings; other keys for admins only)."""
        key = key.lstrip("/")
        try:
            check_key(key)
        except ValueError:
            raise NotFound("no such file", field="key") from None
        storage = media_service(request, settings).storage
        if not isinstance(storage, LocalStorage):
            raise NotFound("files are served by the S3 endpoint, not by the hub", field="key")
        match = _SESSION_KEY.match(key)
        if match:
            visibility = await visibility_of(int(match.group(1)), principal)
        elif principal is None:
            raise NotAuthorized("sign in to download this file")
        elif principal.role != Role.admin:
            raise NotFound("no such file", field="key")
        else:
            visibility = Visibility.centers
        path = storage.path_for(key)
        stat = await asyncio.to_thread(lambda: path.stat() if path.is_file() else None)
        if stat is None:
            raise NotFound("no such file", field="key")
        scope = "public" if visibility == Visibility.public else "private"
        cache = f"{scope}, max-age={2 if key.endswith('.m3u8') else 86400}"
        wanted = request.headers.get("range")
        span = _byte_range(wanted, stat.st_size) if wanted else None
        if wanted and span is None:
            return Response(
                b"",
                status_code=416,
                headers={"Content-Range": f"bytes */{stat.st_size}"},
            )
        if span is not None:
            first, last = span
            data = await asyncio.to_thread(_read, path, first, last - first + 1)
            return Response(
                data,
                status_code=206,
                media_type=content_type_for(key),
                headers={
                    "Content-Range": f"bytes {first}-{last}/{stat.st_size}",
                    "Accept-Ranges": "bytes",
                    "Cache-Control": cache,
                },
            )
        return File(
            path,
            media_type=content_type_for(key),
            content_disposition_type="inline",
            filename=path.name,
            headers={"Cache-Control": cache, "Accept-Ranges": "bytes"},
        )
