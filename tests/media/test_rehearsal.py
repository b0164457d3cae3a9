"""A rehearsal (彩排) through the worker: an SRT push well before the class leaves the schedule
alone and nothing of it in storage; the class pushed after it has a replay of the class only."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import DEVNULL
from datetime import timedelta
from typing import Any

import pytest
from media_support import free_udp_port
from test_worker import PASSPHRASE, quick_worker, session_status, until
from worker_support import feed_host, make_session

from hub import live
from hub.settings import Settings
from hub.storage import LocalStorage
from hub.tables import Recording
from media.commands import test_source_cmd
from media.ffmpeg_bin import probe

REHEARSAL_SECONDS = 10
CLASS_SECONDS = 8


async def push(port: int, seconds: int) -> Any:
    process = await asyncio.create_subprocess_exec(
        *test_source_cmd(
            f"srt://127.0.0.1:{port}?passphrase={PASSPHRASE}&pbkeylen=16",
            seconds,
            "mpegts",
            size="426x240",
        ),
        stdin=DEVNULL,
        stdout=DEVNULL,
        stderr=DEVNULL,
    )
    return process


@pytest.mark.in_process("moves the live window (hub.live.LIVE_EARLY) between the two pushes")
async def test_a_rehearsal_push_leaves_nothing_in_the_replay(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    settings = replace(settings, segment_seconds=2)
    port = free_udp_port()
    session_id = await make_session(starts_in=600, lasts=10)  # in ten minutes
    listen_url = f"srt://127.0.0.1:{port}?mode=listener&passphrase={PASSPHRASE}&pbkeylen=16"
    host = feed_host(settings, {session_id: listen_url}, listen=True)
    worker = quick_worker(settings, host, relisten_seconds=600)
    worker.start()
    store = LocalStorage(settings.storage_dir)
    pushing = None
    try:
        # the teacher tries the setup ten minutes early: a rehearsal
        pushing = await push(port, REHEARSAL_SECONDS)

        async def recorded() -> bool:
            return await Recording.count().where(Recording.session_id == session_id).run() > 0

        async def rehearsing() -> bool:
            return (await live.session_row(session_id))["pushing_since"] is not None

        await until(recorded, "the rehearsal's first data", 60)
        await until(rehearsing, "the rehearsal noticed", 30)
        assert await session_status(session_id) == "scheduled"
        assert await pushing.wait() == 0

        async def discarded() -> bool:
            row = await live.session_row(session_id)
            stored = await store.list(f"sessions/{session_id}/")
            gone = not await recorded()
            return row["pushing_since"] is None and not stored and gone

        await until(discarded, "the rehearsal discarded", 60)
        assert await session_status(session_id) == "scheduled"

        # the class itself: the live window is open now (as if the start had come near)
        monkeypatch.setattr(live, "LIVE_EARLY", timedelta(minutes=20))
        pushing = await push(port, CLASS_SECONDS)
        await until(lambda: is_live(session_id), "the class live", 60)
        assert await pushing.wait() == 0

        async def replay_ready() -> bool:
            row = await Recording.select().where(Recording.session_id == session_id).first()
            return bool(row and row["state"] == "ready")

        await until(replay_ready, "the replay", 90)
    finally:
        if pushing is not None and pushing.returncode is None:
            pushing.kill()
        await worker.stop()
    mp4 = store.path_for(f"sessions/{session_id}/replay.mp4")
    duration = probe(mp4).duration or 0.0
    # the class only: not the rehearsal's ten seconds before it
    assert CLASS_SECONDS - 2 * settings.segment_seconds <= duration <= CLASS_SECONDS + 2, duration


async def is_live(session_id: int) -> bool:
    return await session_status(session_id) == "live"
