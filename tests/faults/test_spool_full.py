"""The store is down and the spool has no room: recording degrades with a clear alert.

Real parts: the worker records a UDP push with ffmpeg into local storage whose folder is
blocked (a file where the sessions folder should be, so every write fails as it would on a
dead mount), with ``SHAREHUB_SPOOL_MAX_MB=0``. The spool refuses every segment: an ERROR
line names the spool and its bytes, the record job shows ``spool full`` in ``last_error``
(``GET /api/v1/jobs``), the hub keeps serving, the segments wait in the work folder, and
once the store is back they go up and the replay is complete.
"""

from __future__ import annotations

import asyncio
import logging
import time
from asyncio.subprocess import DEVNULL
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from worker_support import feed_host, make_session

from hub import jobs
from hub.settings import Settings
from hub.storage import LocalStorage
from hub.tables import JobState, Recording
from media.commands import test_source_cmd
from media.handlers import SPOOL_FULL
from media.playlist import parse_playlist
from media.workdir import segment_number
from media.worker import Worker
from tests.conftest import World
from tests.e2e.support import free_udp_port

T = TypeVar("T")
PUSH_SECONDS = 12


async def until(check: Callable[[], Awaitable[T | None]], what: str, within: float = 60) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(0.25)


async def record_job(world: World, session_id: int) -> dict[str, Any] | None:
    response = await world.get("/api/v1/jobs", "admin", params={"kind": "record"})
    assert response.status_code == 200, response.text
    found = [j for j in response.json()["items"] if j["payload"]["session_id"] == session_id]
    return found[0] if found else None


async def test_full_spool_degrades_with_an_alert_and_loses_nothing(
    settings: Settings, world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = replace(settings, segment_seconds=2, spool_max_mb=0)
    store = LocalStorage(tmp_path / "store")
    store.root.mkdir(parents=True, exist_ok=True)
    blocker = store.root / "sessions"
    blocker.write_text("not a folder: the store is unreachable")
    port = free_udp_port()
    session_id = await make_session(lasts=5)
    url = f"udp://127.0.0.1:{port}?overrun_nonfatal=1&fifo_size=100000"
    worker = Worker(
        settings,
        feed_host(settings, {session_id: url}, listen=True),
        storage=store,
        poll_interval=0.2,
        tick_interval=0.5,
        lease_seconds=6,
        record_timeout=3,
        relisten_seconds=0,
        retry_wait=0.5,
        stop_grace=20,
    )
    worker.start()
    push = None
    try:

        async def listening() -> bool:
            job = await jobs.find(f"record:{session_id}")
            return job is not None and job.state == JobState.doing

        await until(listening, "the record job")
        push = await asyncio.create_subprocess_exec(
            *test_source_cmd(
                f"udp://127.0.0.1:{port}?pkt_size=1316", PUSH_SECONDS, "mpegts", size="640x360"
            ),
            stdin=DEVNULL,
            stdout=DEVNULL,
            stderr=DEVNULL,
        )

        async def flagged() -> dict[str, Any] | None:
            job = await record_job(world, session_id)
            return job if job and job["last_error"].startswith(SPOOL_FULL) else None

        job = await until(flagged, "the record job to show the full spool", 60)
        spool = worker.work_dir(session_id) / "spool"
        assert str(spool) in job["last_error"] and "bytes" in job["last_error"]
        schedule = await world.get("/api/v1/sessions")
        assert schedule.status_code == 200, "the hub keeps serving"
        alerts = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert any(
            r.levelno == logging.ERROR
            and str(spool) in r.getMessage()
            and "bytes" in r.getMessage()
            for r in alerts
        ), [r.getMessage() for r in alerts]
        assert any("is full" in r.getMessage() for r in alerts), "the spool's own warning"
        assert await push.wait() == 0

        async def waiting_locally() -> bool:
            return any("segments wait in" in r.getMessage() for r in caplog.records)

        await until(waiting_locally, "the stream's end with the store still down", 60)
        assert not any((spool / "objects").rglob("*.ts")), "a spool of 0 MB keeps nothing"
        assert await jobs.find(f"finalize:{session_id}") is None, "no replay from half a class"

        blocker.unlink()  # the store comes back

        async def replay_ready() -> bool:
            row = (
                await Recording.select(Recording.state)
                .where(Recording.session_id == session_id)
                .first()
            )
            return bool(row and row["state"] == "ready")

        await until(replay_ready, "the replay once the store is back", 90)

        async def record_ended() -> bool:
            job = await jobs.find(f"record:{session_id}")
            return job is not None and job.state != JobState.doing

        await until(record_ended, "the record job to end", 30)
    finally:
        if push is not None and push.returncode is None:
            push.kill()
            await push.wait()
        await worker.stop()

    record = await jobs.find(f"record:{session_id}")
    assert record is not None and record.state == JobState.succeeded, record
    assert record.last_error == "", "the alert is cleared once the store took everything"
    playlist = parse_playlist(
        (store.root / "sessions" / str(session_id) / "hls" / "index.m3u8").read_text()
    )
    numbers = [segment_number(s.uri) for s in playlist.segments]
    assert numbers == list(range(len(numbers))), f"no segment lost: {numbers}"
    assert sum(s.duration for s in playlist.segments) >= PUSH_SECONDS - 2 * 2
