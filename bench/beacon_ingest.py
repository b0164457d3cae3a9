"""Beacons per second one ``sharehub serve`` process takes with counting on, against the no-op
POST ``/api/v1/beacons/check`` (same body, validated, nothing counted) in the same app and run.

The demo programme is loaded into a temporary data folder; the beacons are replay beacons of
one of its classes from 20,000 viewers, each with its own beacon id (the load generator
cycles through fresh request bytes, one connection per worker, keep-alive). Rounds of the
two alternate; the medians and their ratio are printed, then the same on PostgreSQL when a
local server is there. The counted figures are checked after the server's final flush.
Run: python bench/beacon_ingest.py   (target: ratio >= 0.7)
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import Result, _read_response, build_request
from support import bench_env, free_port, pg_url, serve, start_serve, stop

ROUNDS = 5
SECONDS = 4.0
CONNECTIONS = 16
VIEWERS = 20_000
PER_ROUND = 60_000


def requests(path: str, host: str, count: int, start: int) -> list[bytes]:
    """``count`` beacons with fresh ids; viewer ``n`` sends one second per beacon."""
    at = datetime.now(UTC).isoformat()
    tag = secrets.token_hex(4)
    out = []
    for i in range(start, start + count):
        body = json.dumps(
            {
                "beacon_id": f"b{tag}{i:09d}",
                "viewer_id": f"viewer-{i % VIEWERS:08d}",
                "kind": "replay",
                "seconds": 1.0,
                "at": at,
            }
        ).encode()
        out.append(build_request("POST", path, host, body))
    return out


async def blast(port: int, reqs: list[bytes], seconds: float) -> Result:
    result = Result()
    index = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline and index < len(reqs):
                request = reqs[index]
                index += 1
                writer.write(request)
                status = await _read_response(reader)
                result.requests += 1
                if status >= 400:
                    result.errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(CONNECTIONS)])
    result.seconds = time.perf_counter() - start
    return result


def replay_session(port: int) -> int:
    url = f"http://127.0.0.1:{port}/api/v1/sessions?status=ended&per_page=1"
    items = json.load(urllib.request.urlopen(url))["items"]
    if not items:
        raise RuntimeError("the demo programme has no ended class")
    return int(items[0]["id"])


def measure(env: dict[str, str], label: str) -> dict[str, float]:
    port = free_port()
    server = start_serve(env, port)
    try:
        session = replay_session(port)
        host = f"127.0.0.1:{port}"
        counted_path = f"/api/v1/sessions/{session}/beacons"
        noop_path = "/api/v1/beacons/check"
        sent = 0
        asyncio.run(blast(port, requests(counted_path, host, 2000, 10**8), 1.0))  # warm up
        noop_rates, rates = [], []
        for r in range(ROUNDS):
            noop = asyncio.run(blast(port, requests(noop_path, host, PER_ROUND, 0), SECONDS))
            reqs = requests(counted_path, host, PER_ROUND, r * PER_ROUND)
            counted = asyncio.run(blast(port, reqs, SECONDS))
            assert noop.errors == 0 and counted.errors == 0, (noop.errors, counted.errors)
            assert counted.requests < PER_ROUND, "raise PER_ROUND: the round ran out of beacons"
            sent += counted.requests
            noop_rates.append(noop.rate)
            rates.append(counted.rate)
        value, baseline = statistics.median(rates), statistics.median(noop_rates)
    finally:
        stop(server)
    # after the final flush every beacon of the measured rounds is in the tally
    check = serve(env, port)
    try:
        views = json.load(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/sessions/{session}/views")
        )
    finally:
        stop(check)
    counted_seconds = views["replay_hours"] * 3600
    print(
        f"[{label}] beacons: {value:.0f}/s median; no-op POST: {baseline:.0f}/s; "
        f"ratio {value / baseline:.2f}; {sent} beacons sent in the measured rounds, "
        f"{counted_seconds:.0f} s watched counted (warm-up included)"
    )
    assert counted_seconds >= sent * 0.999, "beacons were lost"
    return {"value": value, "baseline": baseline}


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="sharehub-bench-"))
    # one load generator on one address, no monthly reports made while we measure
    env = bench_env(data)
    out: dict[str, object] = {"bench": "beacon_ingest", "unit": "beacons/s"}
    try:
        sqlite = measure(env, "sqlite")
        out.update(
            value=round(sqlite["value"]),
            baseline=round(sqlite["baseline"]),
            ratio=round(sqlite["value"] / sqlite["baseline"], 3),
        )
        url = pg_url()
        if url:
            pg = measure({**env, "SHAREHUB_DATABASE_URL": url}, "postgresql")
            out.update(
                pg_value=round(pg["value"]),
                pg_baseline=round(pg["baseline"]),
                pg_ratio=round(pg["value"] / pg["baseline"], 3),
            )
        else:
            out["pg"] = "no local PostgreSQL"
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
