"""Scale-out: two ``sharehub serve`` and two ``sharehub worker`` processes, one PostgreSQL, one S3.

Each process has its own data folder (nothing on a local disk is shared) and the same secret
key. A scenario alternates between the two servers: a cookie made by one is honoured by the
other; sessions, bookings and check-ins made through either are seen by both; beacons sent to
both add up exactly after SIGTERM; export jobs queued through either server run exactly once
across the two workers (attempts in the job table, and the workers' own JSON logs), their
files land in the shared S3 bucket and either server hands them out.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hub import exports, views
from hub.tables import Job, LiveSession, ViewerWindow, ViewTally
from tests.conftest import World, reseeded
from tests.netutil import free_port, moto_server, start_server, start_sharehub, stop, wait_ready

pytestmark = pytest.mark.slow

SHAREHUB = Path(sys.executable).parent / "sharehub"
THRESHOLD = 3
VIEWERS = 24
EXPORTS = 6
RUNS = re.compile(r"worker (\S+) runs job (\d+) \((\S+), attempt")


@pytest.fixture
async def world(module_client: World, backend: str) -> World:
    if backend.startswith("sqlite"):
        pytest.skip("scale-out needs PostgreSQL: on SQLite one worker at a time (lock file)")
    return await reseeded(module_client)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server on a free loopback port, as one S3 endpoint shared by all processes."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_sharehub(["worker", "--poll", "0.2"], env, log)


def wait_for(what: str, check: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def poll(what: str, check: object, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def json_lines(log: Path) -> list[dict[str, object]]:
    out = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


async def test_two_servers_two_workers(
    world: World, backend: str, moto: str, tmp_path: Path
) -> None:
    left = views.window_start(time.time(), 6) + 6 * 3600 - time.time()
    if left < 180:  # stay inside one counting window
        await asyncio.sleep(left + 1)
    base = {
        **os.environ,
        "SHAREHUB_DATABASE_URL": backend,
        "SHAREHUB_SECRET_KEY": "scale-out-secret-" + secrets.token_hex(8),
        "SHAREHUB_S3_ENDPOINT_URL": moto,
        "SHAREHUB_S3_BUCKET": f"scale-{secrets.token_hex(6)}",
        "SHAREHUB_S3_ACCESS_KEY": "testing",
        "SHAREHUB_S3_SECRET_KEY": "testing",
        "SHAREHUB_EMBEDDED_WORKER": "off",
        "SHAREHUB_VIEW_THRESHOLD_SECONDS": str(THRESHOLD),
        "SHAREHUB_VIEW_RATE_ADDRESS": "0",
        "SHAREHUB_LOG_FORMAT": "json",
    }

    def env_for(name: str) -> dict[str, str]:
        data = tmp_path / name
        data.mkdir()
        return {**base, "SHAREHUB_DATA_DIR": str(data)}

    ports = [free_port(), free_port()]
    serve_logs = [tmp_path / f"serve-{i}.log" for i in range(2)]
    work_logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    servers = [  # small pools: four processes share one PostgreSQL
        start_server(p, {**env_for(f"serve-{i}"), "SHAREHUB_PG_POOL": "3"}, log)
        for i, (p, log) in enumerate(zip(ports, serve_logs, strict=True))
    ]
    workers = [start_worker(env_for(f"worker-{i}"), log) for i, log in enumerate(work_logs)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for port, server, log in zip(ports, servers, serve_logs, strict=True):
            wait_ready(port, server, log)
        for worker, log in zip(workers, work_logs, strict=True):
            wait_for(
                f"worker {log.name}",
                lambda w=worker, lg=log: w.poll() is None and "SIGTERM stops it" in lg.read_text(),
            )
        async with httpx.AsyncClient(timeout=60) as http:
            await scenario(world, http, urls, servers)
    finally:
        serve_exits = [stop(s) for s in servers]
        work_exits = [stop(w) for w in workers]
    for code, log in zip(serve_exits, serve_logs, strict=True):
        assert code in (0, -signal.SIGTERM), log.read_text()[-2000:]
    for code, log in zip(work_exits, work_logs, strict=True):
        assert code == 0, log.read_text()[-2000:]
    await beacons_add_up(world)
    await exports_ran_once(world, work_logs)


async def scenario(
    world: World, http: httpx.AsyncClient, urls: list[str], servers: list[object]
) -> None:
    a, b = urls
    api = "/api/v1"
    for url in urls:
        ready = await http.get(url + "/readyz")
        assert ready.json() == {"status": "ready"}, ready.text  # database and S3 reachable

    # a cookie signed by one server is honoured by the other (shared secret key)
    login = await http.post(
        a + api + "/auth/login", json={"username": "teacher", "password": "password-teacher"}
    )
    assert login.status_code == 200, login.text
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in login.cookies.items())}
    http.cookies.clear()  # from here on, only what each request sends
    me = await http.get(b + api + "/me", headers=cookie)
    assert me.status_code == 200 and me.json()["username"] == "teacher", me.text
    assert (await http.get(b + api + "/me")).status_code == 401

    # sessions made through either server, read through the other
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    made: list[int] = []
    for n in range(4):
        begins = start + timedelta(hours=2 * n)
        r = await http.post(
            urls[n % 2] + api + "/sessions",
            json={
                "course_id": world.ids["course"],
                "starts_at": begins.isoformat(),
                "ends_at": (begins + timedelta(minutes=45)).isoformat(),
            },
            headers=world.auth("teacher"),
        )
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    for n, session_id in enumerate(made):
        r = await http.get(urls[1 - n % 2] + f"{api}/sessions/{session_id}")
        assert r.status_code == 200, r.text
    # bookings through either server
    booked = []
    for n, session_id in enumerate(made):
        r = await http.post(
            urls[n % 2] + f"{api}/sessions/{session_id}/bookings",
            json={"center_id": world.ids["center"]},
            headers=world.auth("center"),
        )
        assert r.status_code == 201, r.text
        booked.append(r.json()["id"])
    listing = await http.get(b + api + "/bookings", headers=world.auth("center"))
    assert {x["id"] for x in listing.json()} == set(booked), listing.text

    # a live class: booked on A, checked in on B, the same key again on A counts once
    now = datetime.now(UTC)
    live = (
        await LiveSession.insert(
            LiveSession(
                course=world.ids["course"],
                teacher=world.ids["teacher_id"],
                starts_at=now - timedelta(minutes=5),
                ends_at=now + timedelta(hours=1),
                status="live",
                provider="external_link",
                provider_settings={"meeting_url": "https://meet.example.org/class"},
            )
        ).run()
    )[0]["id"]
    world.ids["live"] = live
    r = await http.post(
        a + f"{api}/sessions/{live}/bookings",
        json={"center_id": world.ids["center2"]},
        headers=world.auth("center2"),
    )
    assert r.status_code == 201, r.text
    booking = r.json()["id"]
    key = secrets.token_hex(8)
    for url, children in ((b, 31), (a, 31)):
        r = await http.post(
            url + f"{api}/bookings/{booking}/check-in",
            json={"children": children, "key": key},
            headers=world.auth("center2"),
        )
        assert r.status_code == 200, r.text
    seen = await http.get(b + f"{api}/sessions/{live}/bookings", headers=world.auth("admin"))
    rows = [x for x in seen.json() if x["id"] == booking]
    assert rows and rows[0]["children_present"] == 31, seen.text

    # beacons to both servers (some sent twice, to the other server)
    # a view is earned in server time: each viewer's second beacon comes a round later, more
    # than the threshold after its first
    rounds: list[list[tuple[int, dict[str, object]]]] = [[], []]
    watched: dict[str, float] = {}
    for n in range(VIEWERS):
        viewer = f"scale-viewer-{n}-{secrets.token_hex(3)}"
        for k in range(2):
            plan = rounds[k]
            seconds = (0.5, 1.0, 2.0)[(n + 2 * len(plan) + k) % 3]
            body = {
                "beacon_id": secrets.token_hex(12),
                "viewer_id": viewer,
                "kind": "live",
                "seconds": seconds,
                "at": datetime.now(UTC).isoformat(),
            }
            watched[viewer] = watched.get(viewer, 0.0) + seconds
            plan.append((n % 2, body))
            if n % 4 == 0:
                plan.append((1 - n % 2, body))
    codes = []
    for k, plan in enumerate(rounds):
        if k:
            await asyncio.sleep(THRESHOLD + 0.5)
        codes += [
            (await http.post(urls[w] + f"{api}/sessions/{live}/beacons", json=body)).status_code
            for w, body in plan
        ]
    assert set(codes) == {202}, codes
    world.ids["expected_views"] = sum(1 for s in watched.values() if s >= THRESHOLD)
    world.ids["expected_millis"] = round(sum(watched.values()) * 1000)

    # export jobs queued through both servers; the workers share them out
    export_ids = []
    for n in range(EXPORTS):
        r = await http.post(
            urls[n % 2] + api + "/exports",
            json={"dataset": "attendance", "format": "xlsx"},
            headers=world.auth("admin"),
        )
        assert r.status_code == 202, r.text
        export_ids.append(r.json()["id"])
    world.ids["exports"] = len(export_ids)

    async def all_done() -> bool:
        states = []
        for n, export_id in enumerate(export_ids):
            r = await http.get(
                urls[n % 2] + f"{api}/exports/files/{export_id}", headers=world.auth("admin")
            )
            states.append(r.json()["state"])
        assert "failed" not in states, states
        return all(s == "done" for s in states)

    await poll("the exports", all_done, seconds=180)
    for export_id in export_ids:
        bodies = []
        for url in urls:  # the file is in the shared bucket: either server hands it out
            r = await http.get(
                url + f"{api}/exports/files/{export_id}/download", headers=world.auth("admin")
            )
            assert r.status_code == 200, r.text
            bodies.append(r.content)
        assert bodies[0] == bodies[1] and bodies[0][:2] == b"PK"

    # each server answers metrics for the shared queue the same way
    for url in urls:
        text = (await http.get(url + "/metrics")).text
        assert 'sharehub_jobs{kind="export",state="todo"}' not in text


async def beacons_add_up(world: World) -> None:
    live = world.ids["live"]
    tallies = await ViewTally.select().where(ViewTally.session_id == live).run()
    assert sum(r["views"] for r in tallies) == world.ids["expected_views"]
    windows = await ViewerWindow.select().where(ViewerWindow.session_id == live).run()
    assert len(windows) == VIEWERS
    assert sum(w["millis"] for w in windows) == world.ids["expected_millis"]


async def exports_ran_once(world: World, work_logs: list[Path]) -> None:
    runs: Counter[int] = Counter()
    owners: set[str] = set()
    for log in work_logs:
        for record in json_lines(log):  # the workers log JSON (SHAREHUB_LOG_FORMAT=json)
            match = RUNS.search(str(record["message"]))
            if match and match.group(3) == exports.EXPORT_JOB:
                runs[int(match.group(2))] += 1
                owners.add(match.group(1))
    assert len(runs) == world.ids["exports"]
    assert set(runs.values()) == {1}, runs
    assert 1 <= len(owners) <= 2
    rows = await Job.select().where(Job.kind == exports.EXPORT_JOB).run()
    assert sorted(r["id"] for r in rows) == sorted(runs)
    assert {(r["state"], r["attempts"]) for r in rows} == {("succeeded", 1)}, rows
