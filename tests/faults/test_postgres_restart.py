"""PostgreSQL restarted while the hub serves and its worker records a class.

Real parts only: a private PostgreSQL cluster (the shared server is never stopped), one
`sharehub serve` process with its embedded worker on it, an ffmpeg encoder pushing over SRT
to the self-hosted provider's listener, local storage. While the database is down the API
answers a clean JSON 503 with ``Retry-After`` and ``/healthz`` stays up; segments keep
reaching storage; afterwards requests succeed, every job ends succeeded, the replay has no
hole, and beacons taken before the outage are all counted (the flush is retried).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from media.playlist import parse_playlist
from media.workdir import segment_number
from tests.e2e.support import finished, free_udp_port, start_push
from tests.faults.support import (
    free_tcp_port,
    hub_env,
    pg_bin,
    private_cluster,
    start_serve,
    stop_serve,
)
from tests.netutil import udp_bound

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(pg_bin() is None, reason="no PostgreSQL server binaries (initdb, pg_ctl)"),
]

T = TypeVar("T")
PUSH_SECONDS = 36
VIEWERS = 40
THRESHOLD = 2
WATCHED = 13.5  # seconds per beacon: over the 10 s threshold (one view each); 40 x 13.5 s = 0.15 h


async def until(check: Callable[[], Awaitable[T | None]], what: str, within: float = 90) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(0.25)


def segments_in(storage: Path, session_id: int) -> list[str]:
    folder = storage / "sessions" / str(session_id) / "hls"
    return sorted(p.name for p in folder.glob("seg_*.ts")) if folder.is_dir() else []


async def make_class(client: httpx.AsyncClient) -> int:
    teacher = await client.post("/api/v1/teachers", json={"name": "故障老师", "school": "小学"})
    assert teacher.status_code == 201, teacher.text
    course = await client.post(
        "/api/v1/courses",
        json={"title": "故障演练", "subject": "数学", "teacher_id": teacher.json()["id"]},
    )
    assert course.status_code == 201, course.text
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    session = await client.post(
        "/api/v1/sessions",
        json={
            "course_id": course.json()["id"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=40)).isoformat(),
            "provider": "self_hosted",
            "provider_settings": {"ingest": "srt"},
        },
    )
    assert session.status_code == 201, session.text
    return int(session.json()["id"])


async def send_beacons(client: httpx.AsyncClient, session_id: int, tag: str) -> list[int]:
    """Each viewer's beacons in two rounds more than the (test's) view threshold apart: a view
    is earned in server time."""
    statuses = []
    for n, seconds in enumerate((WATCHED - 4, 4.0)):
        if n:
            await asyncio.sleep(THRESHOLD + 0.5)
        for i in range(VIEWERS):
            response = await client.post(
                f"/api/v1/sessions/{session_id}/beacons",
                json={
                    "beacon_id": f"{tag}-{n}-{i:04d}",
                    "viewer_id": f"viewer-{tag}-{i:04d}",
                    "kind": "live",
                    "seconds": seconds,
                    "at": datetime.now(UTC).isoformat(),
                },
            )
            statuses.append(response.status_code)
    return statuses


async def test_postgresql_restart_mid_class(tmp_path: Path) -> None:
    srt_port = free_udp_port()
    port = free_tcp_port()
    with private_cluster() as cluster:
        env = hub_env(
            tmp_path / "data",
            cluster.url,
            port,
            SHAREHUB_EMBEDDED_WORKER="on",
            SHAREHUB_SEGMENT_SECONDS="2",
            SHAREHUB_WORKER_TICK_SECONDS="1",
            SHAREHUB_WORKER_LEASE_SECONDS="60",
            SHAREHUB_RECORD_RELISTEN_SECONDS="0",
            SHAREHUB_VIEW_FLUSH_SECONDS="5",
            SHAREHUB_VIEW_THRESHOLD_SECONDS=str(THRESHOLD),
            SHAREHUB_PLUGIN__SELF_HOSTED__PUBLIC_HOST="127.0.0.1",
            SHAREHUB_PLUGIN__SELF_HOSTED__SRT_PORT_MIN=str(srt_port),
            SHAREHUB_PLUGIN__SELF_HOSTED__SRT_PORT_MAX=str(srt_port),
        )
        serve = await asyncio.to_thread(start_serve, env, port, tmp_path / "serve.log")
        storage = tmp_path / "data" / "storage"
        push = None
        try:
            async with serve.client() as client:
                session_id = await make_class(client)
                ingest = await client.get(f"/api/v1/sessions/{session_id}/ingest")
                assert ingest.status_code == 200, ingest.text
                (endpoint,) = ingest.json()["endpoints"]
                url = endpoint["url"]

                async def listening() -> bool:
                    return udp_bound(srt_port)

                await until(listening, "the worker's SRT listener", 60)
                push = await start_push(url, PUSH_SECONDS, "mpegts")

                async def two_segments() -> bool:
                    return len(segments_in(storage, session_id)) >= 2

                await until(two_segments, "two segments in storage", 60)
                tag = uuid.uuid4().hex[:8]
                async with httpx.AsyncClient(base_url=serve.base_url, timeout=30) as anonymous:
                    before = await send_beacons(anonymous, session_id, tag)
                assert set(before) == {202}, before

                # the database goes away mid-class
                await asyncio.to_thread(cluster.stop)
                seen_at_stop = len(segments_in(storage, session_id))
                down = await client.get(f"/api/v1/sessions/{session_id}")
                assert down.status_code == 503, down.text
                assert down.headers["content-type"].startswith("application/json")
                assert int(down.headers["retry-after"]) > 0
                assert down.json()["status_code"] == 503 and "database" in down.json()["detail"]
                listing = await client.get("/api/v1/sessions")
                assert listing.status_code == 503, listing.text
                async with httpx.AsyncClient(base_url=serve.base_url, timeout=30) as anonymous:
                    alive = await anonymous.get("/healthz")
                assert alive.status_code == 200, "liveness does not depend on the database"

                async def more_segments() -> bool:
                    return len(segments_in(storage, session_id)) >= seen_at_stop + 2

                await until(more_segments, "segments still arriving with the database down", 30)
                assert push.returncode is None, "the push is still running"
                await asyncio.to_thread(cluster.start)

                async def answers() -> bool:
                    response = await client.get(f"/api/v1/sessions/{session_id}")
                    return response.status_code == 200

                await until(answers, "the API to answer again", 60)
                code, err = await finished(push, PUSH_SECONDS + 60)
                assert code == 0, err[-800:]

                async def replay_ready() -> dict[str, Any] | None:
                    response = await client.get(f"/api/v1/sessions/{session_id}/recording")
                    body = response.json() if response.status_code == 200 else {}
                    return body if body.get("state") == "ready" else None

                recording = await until(replay_ready, "the replay", 120)

                async def jobs_done() -> list[dict[str, Any]] | None:
                    response = await client.get("/api/v1/jobs", params={"per_page": 100})
                    assert response.status_code == 200, response.text
                    mine = [  # the class's media jobs (not the replay-ready notice's)
                        j
                        for j in response.json()["items"]
                        if j["payload"].get("session_id") == session_id
                        and not j["kind"].startswith("notify")
                    ]
                    kinds = {j["kind"] for j in mine}
                    if {"record", "finalize", "transcode"} <= kinds and all(
                        j["state"] in ("succeeded", "failed") for j in mine
                    ):
                        return mine
                    return None

                done = await until(jobs_done, "record, finalize and transcode to end", 180)
                assert {j["kind"]: j["state"] for j in done} == {
                    "record": "succeeded",
                    "finalize": "succeeded",
                    "transcode": "succeeded",
                }, done

                async def views_counted() -> dict[str, Any] | None:
                    response = await client.get(f"/api/v1/sessions/{session_id}/views")
                    body = response.json()
                    return body if body["live_views"] >= VIEWERS else None

                views = await until(views_counted, "the beacons taken before the outage", 30)
        finally:
            if push is not None and push.returncode is None:
                push.kill()
                await push.wait()
            await asyncio.to_thread(stop_serve, serve)

    assert views["live_views"] == VIEWERS
    assert views["unique_viewers"] == VIEWERS
    assert views["live_hours"] * 3600 == pytest.approx(VIEWERS * WATCHED, abs=0.01)
    playlist = parse_playlist(
        (storage / "sessions" / str(session_id) / "hls/index.m3u8").read_text()
    )
    assert playlist.ended
    numbers = [segment_number(s.uri) for s in playlist.segments]
    assert numbers == list(range(len(numbers))), f"no segment lost in the outage: {numbers}"
    assert recording["duration"] >= PUSH_SECONDS - 6
    log = serve.log.read_text()
    assert "Traceback" not in log or "database unreachable" in log
