"""The self-hosted provider end to end, with real parts only.

The hub listens on a real port (nginx calls it back), nginx runs the generated config with
Debian's RTMP module, ffmpeg pushes lavfi video and audio over SRT or RTMP, the media
worker (media.worker.Worker) records the provider's ``recording_source`` into the hub's
storage and follows the status, and the tests read the live playlist while the push runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import msgspec
import pytest

from hub.plugin_host import PluginHost
from hub.storage import Storage, storage_for
from media.worker import Worker
from plugins.self_hosted.provider import SelfHostedSettings
from tests.conftest import World
from tests.e2e.support import (
    decode_segment,
    e2e_settings,
    eventually,
    finished,
    free_tcp_port,
    free_udp_port,
    media_segments,
    nginx_missing,
    running_nginx,
    served_hub,
    start_push,
    status_of,
)
from tests.netutil import udp_bound

PUSH_SECONDS = 20
SEGMENT_SECONDS = 2  # e2e_settings sets segment_seconds=2
pytestmark = pytest.mark.slow


class Hub:
    """The served hub, its settings and storage."""

    def __init__(self, world: World, app: Any, settings: Any, storage: Storage) -> None:
        self.world = world
        self.app = app
        self.plugins: PluginHost = app.state.plugins
        self.settings = settings
        self.storage = storage
        self.options = msgspec.convert(
            settings.plugin_options["self_hosted"], SelfHostedSettings, strict=False
        )


@pytest.fixture
async def hub(database: str, tmp_path: Path) -> AsyncIterator[Hub]:
    port = free_tcp_port()
    srt = free_udp_port()
    settings = e2e_settings(
        tmp_path / "data",
        database,
        port,
        rtmp_port=str(free_tcp_port()),
        srt_port_min=str(srt),
        srt_port_max=str(srt),
    )
    async with served_hub(settings, port) as (world, app):
        yield Hub(world, app, settings, storage_for(settings))


async def new_session(hub: Hub, ingest: str) -> int:
    # inside the live window (a push earlier than 5 minutes before the start is a rehearsal)
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=4)
    body = {
        "course_id": hub.world.ids["course"],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=40)).isoformat(),
        "provider": "self_hosted",
        "provider_settings": {"ingest": ingest},
    }
    response = await hub.world.post("/api/v1/sessions", body, "teacher")
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def ingest_of(hub: Hub, session_id: int) -> dict[str, Any]:
    response = await hub.world.get(f"/api/v1/sessions/{session_id}/ingest", "teacher")
    assert response.status_code == 200, response.text
    return dict(response.json())


@contextlib.asynccontextmanager
async def running_worker(hub: Hub) -> AsyncIterator[Worker]:
    """h2's media worker, as `sharehub serve` embeds it, ticking often."""
    worker = Worker(
        hub.settings,
        hub.plugins,
        storage=hub.storage,
        poll_interval=0.2,
        tick_interval=0.5,
        record_timeout=8,
        retry_wait=0.5,
        stop_grace=20,
    )
    worker.start()
    try:
        yield worker
    finally:
        await asyncio.wait_for(worker.stop(), 60)


async def live_playlist(hub: Hub, session_id: int) -> str | None:
    """The live playlist as a viewer gets it from the hub (read from storage, its segment
    addresses rewritten to where the viewer fetches them)."""
    response = await hub.world.get(f"/api/v1/sessions/{session_id}/hls/index.m3u8")
    return response.text if response.status_code == 200 else None


async def check_live_hls(hub: Hub, session_id: int, tmp_path: Path) -> dict[str, Any]:
    """While the push runs: a playlist with at least two segments from the hub; fetch one
    segment from the address it names (through the hub) and decode it."""

    async def two_segments() -> str | None:
        text = await live_playlist(hub, session_id)
        return text if text and len(media_segments(text)) >= 2 else None

    playlist = await eventually(two_segments, "a live playlist with two segments", within=45)
    assert "#EXT-X-ENDLIST" not in playlist  # still live
    segment = await hub.world.get(media_segments(playlist)[0])
    assert segment.status_code == 200, segment.text[:200]
    local = tmp_path / f"check_{session_id}.ts"
    local.write_bytes(segment.content)
    decoded = decode_segment(local)
    assert decoded["returncode"] == 0, decoded["stderr"]
    assert decoded["video"] and decoded["audio"], decoded["stderr"]
    return decoded


async def test_srt_push_recorded_live_then_ended(hub: Hub, tmp_path: Path) -> None:
    session_id = await new_session(hub, "srt")
    ingest = await ingest_of(hub, session_id)
    (endpoint,) = ingest["endpoints"]
    assert endpoint["protocol"] == "srt"
    assert f"passphrase={ingest['passphrase']}" in endpoint["url"]
    port = urlparse(endpoint["url"]).port
    assert port == hub.options.srt_port_min

    async with running_worker(hub):
        # the worker opens the SRT listener ahead of the class
        async def listening() -> bool:
            return udp_bound(port)

        await eventually(listening, "the SRT listener")

        # a wrong passphrase is refused in the SRT handshake: the push fails, nothing recorded
        wrong = endpoint["url"].replace(ingest["passphrase"], "W" * len(ingest["passphrase"]))
        code, err = await finished(await start_push(wrong, 5, "mpegts"), within=30)
        assert code != 0, err
        assert await hub.storage.list(f"sessions/{session_id}/") == []
        assert await status_of(hub.world, session_id) == "scheduled"

        # the teacher's own URL, exactly as the hub hands it out
        push = await start_push(endpoint["url"], PUSH_SECONDS, "mpegts")

        async def is_live() -> bool:
            return await status_of(hub.world, session_id) == "live"

        await eventually(is_live, "the worker to turn the session live", within=45)
        await check_live_hls(hub, session_id, tmp_path)
        code, err = await finished(push, within=PUSH_SECONDS + 40)
        assert code == 0, err

        async def is_ended() -> bool:
            return await status_of(hub.world, session_id) == "ended"

        await eventually(is_ended, "the end of the SRT stream to end the session", within=45)
    stored = await hub.storage.list(f"sessions/{session_id}/hls/")
    segments = [key for key in stored if key.endswith(".ts")]
    # 20 s cut at the 2 s keyframes: most of the push is in storage
    assert len(segments) >= (PUSH_SECONDS - 3 * SEGMENT_SECONDS) // SEGMENT_SECONDS, stored


@pytest.mark.skipif(nginx_missing() is not None, reason=str(nginx_missing()))
async def test_rtmp_through_nginx_key_checked_live_then_ended(hub: Hub, tmp_path: Path) -> None:
    session_id = await new_session(hub, "rtmp")
    ingest = await ingest_of(hub, session_id)
    (endpoint,) = ingest["endpoints"]
    assert endpoint["protocol"] == "rtmp"
    assert endpoint["url"] == f"{endpoint['server']}/{endpoint['stream_key']}"

    with running_nginx(hub.settings, hub.options, tmp_path / "nginx") as nginx:
        async with running_worker(hub):
            # wrong key: nginx asks the hub, the hub answers 403, the publish is refused
            wrong = endpoint["url"].split("?key=")[0] + "?key=not-the-key"
            code, err = await finished(await start_push(wrong, 5, "flv"), within=30)
            assert code != 0, err
            assert await status_of(hub.world, session_id) == "scheduled"

            push = await start_push(endpoint["url"], PUSH_SECONDS, "flv")

            async def is_live() -> bool:
                return await status_of(hub.world, session_id) == "live"

            await eventually(is_live, "on_publish to turn the session live", within=30)
            # the worker pulls the accepted stream from nginx and records it
            await check_live_hls(hub, session_id, tmp_path)
            code, err = await finished(push, within=PUSH_SECONDS + 40)
            assert code == 0, err

            async def is_ended() -> bool:
                return await status_of(hub.world, session_id) == "ended"

            await eventually(is_ended, "on_publish_done to end the session", within=30)
        assert nginx.poll() is None
    stored = await hub.storage.list(f"sessions/{session_id}/hls/")
    segments = [key for key in stored if key.endswith(".ts")]
    assert len(segments) >= (PUSH_SECONDS - 4 * SEGMENT_SECONDS) // SEGMENT_SECONDS, stored
