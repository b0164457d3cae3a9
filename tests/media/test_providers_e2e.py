"""Every provider end to end on loopback, with a stand-in origin: ffmpeg serving HTTP-FLV
plays the cloud's play domain or the meeting app's stream.

- ``external_link``: no callback; the worker probes the pull URL from the slot's start,
  the data turns the class live, the end of data ends it;
- ``tencent``: CSS's signed push callback turns the class live, the worker pulls the play
  domain's FLV, the interrupt callback ends it;
- ``aliyun``: without a callback key the recorder probes the play domain (its RTMP URL),
  like a pull provider.

Each time the replay lands in S3 (the moto server) and the class counts as held, with
its teaching hours, in ``/api/v1/impact``.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from asyncio.subprocess import DEVNULL
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub import live
from hub.app import create_app
from hub.settings import Settings
from hub.storage import S3Storage
from hub.tables import Recording
from media.commands import test_source_cmd
from media.worker import Worker
from tests.conftest import World, seed

CLASS_SECONDS = 12
TENCENT_KEY = "tencent-callback-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def s3_settings(settings: Settings, storage: S3Storage, **plugins: dict[str, str]) -> Settings:
    return replace(
        settings,
        s3_endpoint_url=storage.endpoint_url or "",
        s3_bucket=storage.bucket,
        s3_access_key="testing",
        s3_secret_key="testing",
        segment_seconds=2,
        pull_allow="127.0.0.1/32",  # the stand-in origin is on loopback
        plugin_options=dict(plugins),
    )


async def origin(url: str, seconds: float) -> asyncio.subprocess.Process:
    """ffmpeg as the origin: it waits for one client on ``url``, then plays a class to it."""
    command = test_source_cmd(url, seconds, "flv", size="320x240")
    at = command.index(url)
    command[at:at] = ["-listen", "1"]
    return await asyncio.create_subprocess_exec(
        *command, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL
    )


async def until(condition: Any, what: str, seconds: float = 90) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


class Hub:
    def __init__(self, world: World, app: Any, settings: Settings, storage: S3Storage) -> None:
        self.world, self.app, self.settings, self.storage = world, app, settings, storage

    async def new_session(self, provider: str, options: dict[str, Any] | None = None) -> int:
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)
        body: dict[str, Any] = {
            "course_id": self.world.ids["course"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=30)).isoformat(),
            "provider": provider,
        }
        if options is not None:
            body["provider_settings"] = options
        created = await self.world.post("/api/v1/sessions", body, "teacher")
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    async def status(self, session_id: int) -> str:
        return str((await live.session_row(session_id))["status"])

    async def replay_in_s3(self, session_id: int) -> None:
        async def ready() -> bool:
            row = await Recording.select().where(Recording.session_id == session_id).first()
            return bool(row and row["state"] == "ready")

        await until(ready, f"the replay of session {session_id}", 120)
        keys = await self.storage.list(f"sessions/{session_id}/")
        assert any(k.endswith("replay.mp4") for k in keys), keys
        assert sum(k.endswith(".ts") for k in keys) >= 2, keys

    async def held_with_hours(self, session_id: int) -> None:
        row = await live.session_row(session_id)
        assert row["status"] in ("ended", "archived"), row["status"]
        assert row["live_at"] is not None and row["ended_at"] is not None
        day = row["starts_at"].astimezone(UTC).date()
        span = f"from={day - timedelta(days=1)}&to={day + timedelta(days=1)}"
        impact = await self.world.get(f"/api/v1/impact?{span}", "admin")
        assert impact.status_code == 200, impact.text
        totals = impact.json()
        totals = totals.get("totals", totals)
        assert totals["sessions_held"] == 1, totals
        # its teaching time is the stream's (a short class here: the figure has 2 decimals)
        streamed = (row["ended_at"] - row["live_at"]).total_seconds()
        assert CLASS_SECONDS - 4 <= streamed <= CLASS_SECONDS + 30, streamed
        assert totals["teaching_hours"] == round(streamed / 3600, 2), totals


def worker_for(hub: Hub) -> Worker:
    return Worker(
        hub.settings,
        hub.app.state.plugins,
        storage=hub.storage,
        poll_interval=0.2,
        tick_interval=0.5,
        record_timeout=4,
        retry_wait=0.5,
        relisten_seconds=0,
        stop_grace=20,
    )


async def hub_for(settings: Settings) -> AsyncIterator[Hub]:
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        world = World(client=c)
        await seed(world)
        yield Hub(world, app, settings, S3Storage.__new__(S3Storage))


@pytest.fixture
async def link_hub(settings: Settings, s3_storage: S3Storage) -> AsyncIterator[Hub]:
    async for hub in hub_for(s3_settings(settings, s3_storage)):
        hub.storage = s3_storage
        yield hub


async def test_external_link_is_probed_recorded_and_held(link_hub: Hub) -> None:
    hub = link_hub
    port = free_port()
    url = f"http://127.0.0.1:{port}/live/class.flv"
    session_id = await hub.new_session(
        "external_link", {"meeting_url": "https://meeting.example.cn/j/1", "pull_url": url}
    )
    worker = worker_for(hub)
    worker.start()
    source = None
    try:
        # the worker probes before the origin is up: nothing happens, the class waits
        await asyncio.sleep(3)
        assert await hub.status(session_id) == "scheduled"
        source = await origin(url, CLASS_SECONDS)

        async def is_live() -> bool:
            return await hub.status(session_id) == "live"

        await until(is_live, "the probe's data to turn the class live", 60)
        await source.wait()  # its exit status is the hang-up; the length is checked below

        async def ended() -> bool:
            return await hub.status(session_id) in ("ended", "archived")

        await until(ended, "the lasting end of data to end the class", 60)
        await hub.replay_in_s3(session_id)
        # one recording per live run: the finished source is not pulled again in a loop
        await asyncio.sleep(3)
        finalize = await hub.world.get("/api/v1/jobs?kind=finalize", "admin")
        assert finalize.status_code == 200
        runs = [j for j in finalize.json()["items"] if j["payload"]["session_id"] == session_id]
        assert len(runs) == 1 and runs[0]["attempts"] == 1, runs
    finally:
        if source is not None and source.returncode is None:
            source.kill()
        await asyncio.wait_for(worker.stop(), 60)
    await hub.held_with_hours(session_id)


@pytest.fixture
async def tencent_hub(settings: Settings, s3_storage: S3Storage) -> AsyncIterator[Hub]:
    port = free_port()
    options = {
        "push_domain": "push.tencent.example.cn",
        "play_domain": f"127.0.0.1:{port}",
        "play_scheme": "http",
        "app_name": "live",
        "callback_key": TENCENT_KEY,
    }
    async for hub in hub_for(s3_settings(settings, s3_storage, tencent=options)):
        hub.storage = s3_storage
        hub.play_port = port  # type: ignore[attr-defined]
        yield hub


def tencent_event(stream: str, event_type: int) -> dict[str, Any]:
    t = int(time.time()) + 600
    return {
        "app": "push.tencent.example.cn",
        "appname": "live",
        "event_type": event_type,
        "stream_id": stream,
        "sequence": "2210464508206756938",
        "t": t,
        "sign": hashlib.md5(f"{TENCENT_KEY}{t}".encode()).hexdigest(),
    }


async def test_tencent_callback_turns_live_and_the_worker_records_the_play_domain(
    tencent_hub: Hub,
) -> None:
    hub = tencent_hub
    session_id = await hub.new_session("tencent")
    shown = await hub.world.get(f"/api/v1/sessions/{session_id}/ingest", "teacher")
    assert shown.status_code == 200, shown.text  # the teacher's push URL (makes the key)
    key = str((await live.session_row(session_id))["stream_key"])
    stream = f"sh{session_id}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    url = f"http://127.0.0.1:{hub.play_port}/live/{stream}.flv"  # type: ignore[attr-defined]
    worker = worker_for(hub)
    worker.start()
    source = await origin(url, CLASS_SECONDS)  # the teacher pushes; the CDN serves it
    try:
        pushed = await hub.world.client.post(
            "/api/v1/ingest/tencent/events", json=tencent_event(stream, 1)
        )
        assert pushed.status_code == 200 and pushed.json()["code"] == 0, pushed.text
        assert await hub.status(session_id) == "live", pushed.text
        await asyncio.wait_for(source.wait(), 90)  # the class's length is checked below
        stopped = await hub.world.client.post(
            "/api/v1/ingest/tencent/events", json=tencent_event(stream, 0)
        )
        assert stopped.status_code == 200 and stopped.json()["code"] == 0
        await hub.replay_in_s3(session_id)
    finally:
        if source.returncode is None:
            source.kill()
        await asyncio.wait_for(worker.stop(), 60)
    await hub.held_with_hours(session_id)


@pytest.fixture
async def aliyun_hub(settings: Settings, s3_storage: S3Storage) -> AsyncIterator[Hub]:
    port = free_port()
    options = {  # no callback key: the recorder probes the play domain
        "push_domain": "push.aliyun.example.cn",
        "play_domain": f"127.0.0.1:{port}",
        "app_name": "live",
    }
    async for hub in hub_for(s3_settings(settings, s3_storage, aliyun=options)):
        hub.storage = s3_storage
        hub.play_port = port  # type: ignore[attr-defined]
        yield hub


async def test_aliyun_without_callbacks_is_probed_over_rtmp(aliyun_hub: Hub) -> None:
    hub = aliyun_hub
    session_id = await hub.new_session("aliyun")
    shown = await hub.world.get(f"/api/v1/sessions/{session_id}/ingest", "teacher")
    assert shown.status_code == 200, shown.text
    key = str((await live.session_row(session_id))["stream_key"])
    stream = f"sh{session_id}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    url = f"rtmp://127.0.0.1:{hub.play_port}/live/{stream}"  # type: ignore[attr-defined]
    worker = worker_for(hub)
    worker.start()
    source = None
    try:
        await asyncio.sleep(3)
        assert await hub.status(session_id) == "scheduled"
        source = await origin(url, CLASS_SECONDS)

        async def is_live() -> bool:
            return await hub.status(session_id) == "live"

        await until(is_live, "the probe's data to turn the class live", 90)
        await asyncio.wait_for(source.wait(), 90)  # the class's length is checked below

        async def ended() -> bool:
            return await hub.status(session_id) in ("ended", "archived")

        await until(ended, "the lasting end of data to end the class", 60)
        await hub.replay_in_s3(session_id)
    finally:
        if source is not None and source.returncode is None:
            source.kill()
        await asyncio.wait_for(worker.stop(), 60)
    await hub.held_with_hours(session_id)
