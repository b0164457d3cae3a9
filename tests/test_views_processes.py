"""Two real ``sharehub serve`` processes on one PostgreSQL database add up exactly.

Many viewers send beacons at both processes at once (a viewer's beacons land on either, some
beacons are sent twice, to different processes); both are stopped with SIGTERM (the final
flush runs on shutdown) and the database's counts are compared with the ones computed here.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hub import views
from hub.tables import LiveSession, ViewerWindow, ViewPeak, ViewTally
from plugins.self_hosted.provider import NAME as PROVIDER
from tests.conftest import World, reseeded
from tests.netutil import free_port, start_server, stop, wait_ready

pytestmark = pytest.mark.slow

THRESHOLD = 3
VIEWERS = 80
BEACONS_EACH = 3
SHAREHUB = Path(sys.executable).parent / "sharehub"


@pytest.fixture
async def world(module_client: World, backend: str) -> World:
    if backend.startswith("sqlite"):
        pytest.skip("the two-process test runs on PostgreSQL (SQLite is covered in-process)")
    return await reseeded(module_client)


async def test_two_serve_processes_count_exactly(
    world: World, backend: str, tmp_path: Path
) -> None:
    # stay clear of a counting-window boundary, so the expected figures are one window's
    left = views.window_start(time.time(), 6) + 6 * 3600 - time.time()
    if left < 120:
        await asyncio.sleep(left + 1)
    start = datetime.now(UTC) - timedelta(minutes=5)
    session = (
        await LiveSession.insert(
            LiveSession(
                course=world.ids["course"],
                teacher=world.ids["teacher_id"],
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                status="live",
                provider=PROVIDER,
            )
        ).run()
    )[0]["id"]
    env = {
        **os.environ,
        "SHAREHUB_DATABASE_URL": backend,
        "SHAREHUB_DATA_DIR": str(tmp_path),
        "SHAREHUB_SECRET_KEY": "two-process-secret-0123456789",
        "SHAREHUB_VIEW_THRESHOLD_SECONDS": str(THRESHOLD),
        "SHAREHUB_VIEW_RATE_ADDRESS": "0",
        "SHAREHUB_PG_POOL": "3",
    }
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"serve-{i}.log" for i in range(2)]
    servers = [start_server(p, env, log) for p, log in zip(ports, logs, strict=True)]
    try:
        for port, server, log in zip(ports, servers, logs, strict=True):
            wait_ready(port, server, log)

        rng = random.Random(5)
        # a view is earned in server time: each viewer's first beacon goes in a first round,
        # the others in a second one more than the threshold later
        rounds: list[list[tuple[int, dict[str, object]]]] = [[], []]
        watched: dict[str, float] = defaultdict(float)
        for n in range(VIEWERS):
            viewer = f"viewer-{n:04d}-{secrets.token_hex(4)}"
            for k in range(BEACONS_EACH):
                plan = rounds[min(k, 1)]
                seconds = rng.choice([0.5, 1.0, 1.25, 2.0])
                body = {
                    "beacon_id": secrets.token_hex(12),
                    "viewer_id": viewer,
                    "kind": "live",
                    "seconds": seconds,
                    "at": datetime.now(UTC).isoformat(),
                }
                watched[viewer] += seconds
                plan.append((rng.randrange(2), body))
                if rng.random() < 0.2:  # a retrying player: the same beacon, other process
                    plan.append((1 - plan[-1][0], body))
        for plan in rounds:
            rng.shuffle(plan)
        limit = asyncio.Semaphore(16)
        refused: list[str] = []

        async def fire(client: httpx.AsyncClient, which: int, body: dict[str, object]) -> int:
            async with limit:
                r = await client.post(
                    f"http://127.0.0.1:{ports[which]}/api/v1/sessions/{session}/beacons",
                    json=body,
                )
                if r.status_code != 202:
                    refused.append(r.text)
                return r.status_code

        codes: list[int] = []
        async with httpx.AsyncClient(timeout=30) as client:
            for n, plan in enumerate(rounds):
                if n:
                    await asyncio.sleep(THRESHOLD + 0.5)
                codes += await asyncio.gather(*(fire(client, w, b) for w, b in plan))
        assert set(codes) == {202}, refused[:3]
    finally:
        exits = [stop(s) for s in servers]
    # uvicorn re-raises SIGTERM after a graceful shutdown (lifespan done: the final flush ran)
    for code, log in zip(exits, logs, strict=True):
        assert code in (0, -signal.SIGTERM), log.read_text()[-2000:]
        assert "Application shutdown complete" in log.read_text()

    expected_views = sum(1 for total in watched.values() if total >= THRESHOLD)
    assert 0 < expected_views < VIEWERS  # the plan exercises both sides of the threshold
    tallies = await ViewTally.select().where(ViewTally.session_id == session).run()
    assert sum(r["views"] for r in tallies) == expected_views
    assert sum(r["seconds_watched"] for r in tallies) == pytest.approx(sum(watched.values()))
    windows = await ViewerWindow.select().where(ViewerWindow.session_id == session).run()
    assert len(windows) == VIEWERS
    assert sum(1 for w in windows if w["counted"]) == expected_views
    assert sum(w["millis"] for w in windows) == round(sum(watched.values()) * 1000)
    peak = await ViewPeak.select().where(ViewPeak.session_id == session).first().run()
    assert peak is not None and peak["peak"] == VIEWERS
