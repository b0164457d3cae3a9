"""Replay downloads with a readable file name: the course, the date and the teacher.

``GET /api/v1/sessions/{id}/replay.mp4`` (``?quality=low`` for the low rendition as one
MP4) answers with ``Content-Disposition: attachment`` naming the file like
``数学直播课 2026-12-03 张老师.mp4`` (RFC 6266 ``filename*`` for the UTF-8 name, an ASCII
fallback for old clients). On S3 it redirects to a presigned URL that makes the store answer
with that header; on local storage the hub serves the file, byte ranges included (a download
cut off resumes where it stopped).
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get
from litestar.params import Parameter
from litestar.response import File, Redirect

from hub import recordings
from hub.accounts import Principal
from hub.api.common import PathId, session_visibility
from hub.api.media_files import _byte_range, _read
from hub.errors import NotFound
from hub.materials import content_disposition
from hub.settings import Settings
from hub.storage import LocalStorage, Storage
from hub.tables import LiveSession, RecordingState, Teacher, Visibility

Quality = Annotated[
    Literal["full", "low"],
    Parameter(description="full: the replay as recorded; low: the 360p rendition"),
]
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


async def download_name(session_id: int, quality: str, settings: Settings) -> str:
    """``<course> <date> <teacher>.mp4`` (``... 360p.mp4`` for the low rendition); the
    date in the hub's time zone."""
    row = (
        await LiveSession.select(
            LiveSession.starts_at,
            LiveSession.course.title.as_alias("title"),
            LiveSession.teacher,
        )
        .where(LiveSession.id == session_id)
        .first()
        .run()
    )
    if row is None:
        raise NotFound(f"session {session_id} not found", field="session_id")
    teacher = await Teacher.select(Teacher.name).where(Teacher.id == row["teacher"]).first().run()
    day = row["starts_at"].astimezone(ZoneInfo(settings.timezone)).date().isoformat()
    parts = [row["title"], day, teacher["name"] if teacher else ""]
    if quality == "low":
        parts.append("360p")
    name = " ".join(_UNSAFE.sub("_", p).strip() for p in parts if p)
    return (name or f"session-{session_id}") + ".mp4"


def replay_key(row: dict[str, Any], quality: str) -> str | None:
    if quality == "low":
        low = (row["renditions"] or {}).get("low_mp4") or {}
        return low.get("key") or None
    return row["mp4_key"] or None


class ReplayDownloadController(Controller):
    path = "/api/v1/sessions/{session_id:int}"
    tags = ["recordings"]

    @get("/replay.mp4")
    async def replay_mp4(
        self,
        request: Request[Any, Any, Any],
        session_id: PathId,
        settings: Settings,
        principal: Principal | None,
        quality: Quality = "full",
    ) -> Response[Any]:
        """The replay as an MP4 file with a readable name (the low rendition with
        ``quality=low``); byte ranges on local storage, a presigned link on S3."""
        visibility = await session_visibility(session_id, principal)
        row = await recordings.get(session_id)
        key = replay_key(row, quality) if row and row["state"] == RecordingState.ready else None
        if key is None:
            raise NotFound(f"session {session_id} has no {quality} MP4 yet", field="quality")
        disposition = content_disposition(
            await download_name(session_id, quality, settings), inline=False
        )
        storage: Storage = request.app.state["storage"]
        scope = "public" if visibility == Visibility.public else "private"
        if not isinstance(storage, LocalStorage):
            url = storage.client.generate_presigned_url(  # type: ignore[attr-defined]
                "get_object",
                Params={
                    "Bucket": storage.bucket,  # type: ignore[attr-defined]
                    "Key": key,
                    "ResponseContentType": "video/mp4",
                    "ResponseContentDisposition": disposition,
                },
                ExpiresIn=settings.media_url_seconds,
            )
            return Redirect(str(url), status_code=302, headers={"Cache-Control": "no-store"})
        path = storage.path_for(key)
        stat = await asyncio.to_thread(lambda: path.stat() if path.is_file() else None)
        if stat is None:
            raise NotFound(f"session {session_id} has no {quality} MP4 yet", field="quality")
        headers = {
            "content-disposition": disposition,
            "Accept-Ranges": "bytes",
            "Cache-Control": f"{scope}, max-age=86400",
        }
        wanted = request.headers.get("range")
        span = _byte_range(wanted, stat.st_size) if wanted else None
        if wanted and span is None:
            return Response(
                b"", status_code=416, headers={"Content-Range": f"bytes */{stat.st_size}"}
            )
        if span is not None:
            first, last = span
            data = await asyncio.to_thread(_read, path, first, last - first + 1)
            return Response(
                data,
                status_code=206,
                media_type="video/mp4",
                headers={**headers, "Content-Range": f"bytes {first}-{last}/{stat.st_size}"},
            )
        return File(path, media_type="video/mp4", headers=headers)
