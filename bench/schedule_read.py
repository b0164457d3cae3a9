"""Requests per second of GET /api/v1/sessions for one week, against the app's no-op endpoint.

Starts ``sharehub demo`` data in a temporary data folder, one ``sharehub serve`` process, and
alternates rounds of the two requests from a loopback load generator; prints the medians and
their ratio. Then the same with the schedule cache off, and on PostgreSQL when a local server
is available.
Run: python bench/schedule_read.py
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import build_request, run
from support import bench_env, free_port, pg_url, start_serve, stop

ROUNDS = 5
SECONDS = 4.0


def week_path() -> str:
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday())
    return f"/api/v1/sessions?from={monday}&to={monday + timedelta(days=6)}"


def measure(env: dict[str, str], label: str) -> dict[str, float]:
    port = free_port()
    server = start_serve(env, port)
    try:
        path = week_path()
        rows = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}"))["total"]
        host = f"127.0.0.1:{port}"
        noop = build_request("GET", "/healthz", host)
        target = build_request("GET", path, host)
        asyncio.run(run("127.0.0.1", port, target, 1.0))  # warm up
        noop_rates, target_rates, p99 = [], [], []
        for _ in range(ROUNDS):
            a = asyncio.run(run("127.0.0.1", port, noop, SECONDS))
            b = asyncio.run(run("127.0.0.1", port, target, SECONDS))
            assert a.errors == 0 and b.errors == 0, (a.errors, b.errors)
            noop_rates.append(a.rate)
            target_rates.append(b.rate)
            p99.append(b.percentile(99) * 1000)
        value, baseline = statistics.median(target_rates), statistics.median(noop_rates)
        print(
            f"[{label}] week of sessions ({rows} rows): {value:.0f} req/s median; "
            f"no-op: {baseline:.0f} req/s; ratio {value / baseline:.2f}; "
            f"p99 {statistics.median(p99):.1f} ms"
        )
        return {"value": value, "baseline": baseline, "rows": rows}
    finally:
        stop(server, timeout=10)


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="sharehub-bench-"))
    env = bench_env(data, view_rate_limit=True, monthly_reports=True)
    out: dict[str, object] = {"bench": "schedule_read", "unit": "req/s"}
    try:
        sqlite = measure(env, "sqlite")
        out.update(
            value=round(sqlite["value"]),
            baseline=round(sqlite["baseline"]),
            ratio=round(sqlite["value"] / sqlite["baseline"], 3),
            rows=sqlite["rows"],
        )
        raw = measure({**env, "SHAREHUB_PUBLIC_CACHE_SECONDS": "0"}, "sqlite, cache off")
        out.update(
            uncached_value=round(raw["value"]),
            uncached_baseline=round(raw["baseline"]),
            uncached_ratio=round(raw["value"] / raw["baseline"], 3),
        )
        url = pg_url()
        if url:
            pg_env = {**env, "SHAREHUB_DATABASE_URL": url}
            pg = measure(pg_env, "postgresql")
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
