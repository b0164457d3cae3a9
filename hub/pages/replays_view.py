"""Replays for the pages, from the archive service (``hub.recordings``): the playlists a
player may switch between (full, low-bandwidth, audio only) and the download links."""

from __future__ import annotations

from typing import Any

from litestar import Request

from hub import recordings
from hub.api.media_files import media_service
from hub.recordings import RecordingOut
from hub.settings import Settings
from hub.tables import RecordingState


async def recording_of(
    request: Request[Any, Any, Any], settings: Settings, session_id: int
) -> RecordingOut | None:
    row = await recordings.get(session_id)
    if row is None:
        return None
    return recordings.recording_out(row, settings, media_service(request, settings).sign)


def sources(recording: RecordingOut | None) -> dict[str, str]:
    """Playlist URL per quality: ``high`` (the full recording), ``low``, ``audio``."""
    if recording is None or not recording.segments:
        return {}
    found = {"high": recording.playlist_url}
    for rendition in recording.renditions:
        found[rendition.name] = rendition.playlist_url
    return found


def downloads(recording: RecordingOut | None) -> list[dict[str, Any]]:
    """What a center can download ahead of a class: the MP4 (faststart) once ready."""
    if recording is None or recording.state != RecordingState.ready or not recording.mp4_url:
        return []
    files = [
        {
            "url": recording.download_url or recording.mp4_url,
            "label": "MP4",
            "size": recording.mp4_bytes,
        }
    ]
    if recording.low_download_url:
        files.append(
            {
                "url": recording.low_download_url,
                "label": "MP4 360p",
                "size": recording.low_mp4_bytes,
            }
        )
    return files
