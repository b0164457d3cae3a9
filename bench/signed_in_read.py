"""Signed-in reads against the no-op endpoint: a week of sessions as a center (bearer token),
the same with the shared answer off, and the ``/center``, ``/teacher`` and ``/admin`` pages
(as a center, a teacher and an administrator), on SQLite and on PostgreSQL.

For each backend: ``sharehub demo --no-serve`` in a temporary data folder, one ``sharehub
serve`` with the shared answers on and one with them off (``SHAREHUB_PUBLIC_CACHE_SECONDS=0``);
rounds of each request alternate with rounds of the no-op (``/healthz``) from a loopback load
generator, and the medians are compared. Targets (issue 22): 0.5 of the no-op signed in, 0.3
with the shared answer off.
Run: python bench/signed_in_read.py
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import shutil
import statistics
import sys
import tempfile
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import build_request, run
from support import bench_env, free_port, pg_url, serve, start_serve, stop

ROUNDS = 3
SECONDS = 3.0
CENTER = ("center1", "sharehub-demo")
TEACHER = ("teacher1", "sharehub-demo")
ADMIN = ("demo-admin", "sharehub-demo")
PAGES = {
    "center_page": ("/center", CENTER),
    "teacher_page": ("/teacher", TEACHER),
    "admin_page": ("/admin", ADMIN),
}


def week_path() -> str:
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday())
    return f"/api/v1/sessions?from={monday}&to={monday + timedelta(days=6)}"


def sign_in(base: str, account: tuple[str, str] = CENTER) -> tuple[str, str]:
    """(session cookie header, API token) of a demo account (the first center's)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    body = json.dumps({"username": account[0], "password": account[1]}).encode()
    headers = {"Content-Type": "application/json", "Origin": base}
    opener.open(urllib.request.Request(f"{base}/api/v1/auth/login", body, headers)).close()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    made = opener.open(
        urllib.request.Request(
            f"{base}/api/v1/tokens", json.dumps({"name": "bench"}).encode(), headers
        )
    )
    return cookie, json.load(made)["token"]


def rates(port: int, targets: dict[str, bytes]) -> dict[str, dict[str, float]]:
    """Median req/s and p99 ms of each target and of the no-op, in alternating rounds."""
    host = f"127.0.0.1:{port}"
    noop = build_request("GET", "/healthz", host)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in ("noop", *targets)}
    for request in (noop, *targets.values()):
        asyncio.run(run("127.0.0.1", port, request, 0.5))  # warm up
    for _ in range(ROUNDS):
        for name, request in (("noop", noop), *targets.items()):
            result = asyncio.run(run("127.0.0.1", port, request, SECONDS))
            assert result.errors == 0, (name, result.errors)
            samples[name].append((result.rate, result.percentile(99) * 1000))
    return {
        name: {
            "rate": statistics.median(r for r, _ in got),
            "p99_ms": statistics.median(p for _, p in got),
        }
        for name, got in samples.items()
    }


def measure(env: dict[str, str], label: str, *, fresh: bool) -> dict[str, Any]:
    port = free_port()
    server = start_serve(env, port) if fresh else serve(env, port)
    try:
        base = f"http://127.0.0.1:{port}"
        _, token = sign_in(base)
        host = f"127.0.0.1:{port}"
        week = week_path()
        bearer = {"Authorization": f"Bearer {token}"}
        rows = json.load(
            urllib.request.urlopen(urllib.request.Request(base + week, headers=bearer))
        )["total"]
        got = rates(
            port,
            {
                "anonymous": build_request("GET", week, host),
                "signed_in": build_request("GET", week, host, headers=bearer),
                **{
                    name: build_request(
                        "GET", path, host, headers={"Cookie": sign_in(base, account)[0]}
                    )
                    for name, (path, account) in PAGES.items()
                },
            },
        )
        noop = got["noop"]["rate"]
        out: dict[str, Any] = {"rows": rows, "noop": round(noop)}
        for name in ("anonymous", "signed_in", *PAGES):
            out[name] = round(got[name]["rate"])
            out[f"{name}_ratio"] = round(got[name]["rate"] / noop, 3)
            out[f"{name}_p99_ms"] = round(got[name]["p99_ms"], 1)
        print(f"[{label}] {json.dumps(out)}")
        return out
    finally:
        stop(server, timeout=10)


def backend(env: dict[str, str], label: str) -> dict[str, Any]:
    shared = measure(env, label, fresh=True)
    unshared = measure(
        {**env, "SHAREHUB_PUBLIC_CACHE_SECONDS": "0"}, f"{label}, shared off", fresh=False
    )
    return {"shared": shared, "unshared": unshared}


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="sharehub-bench-"))
    env = bench_env(data)
    out: dict[str, Any] = {"bench": "signed_in_read", "unit": "req/s"}
    try:
        sqlite = backend(env, "sqlite")
        out.update(
            value=sqlite["shared"]["signed_in"],
            baseline=sqlite["shared"]["noop"],
            ratio=sqlite["shared"]["signed_in_ratio"],
            unshared_ratio=sqlite["unshared"]["signed_in_ratio"],
            **{f"{page}_ratio": sqlite["shared"][f"{page}_ratio"] for page in PAGES},
            **{f"{page}_unshared_ratio": sqlite["unshared"][f"{page}_ratio"] for page in PAGES},
            anonymous_ratio=sqlite["shared"]["anonymous_ratio"],
            rows=sqlite["shared"]["rows"],
        )
        url = pg_url()
        if url:
            pg = backend({**env, "SHAREHUB_DATABASE_URL": url}, "postgresql")
            out.update(
                pg_ratio=pg["shared"]["signed_in_ratio"],
                pg_unshared_ratio=pg["unshared"]["signed_in_ratio"],
                **{f"pg_{page}_ratio": pg["shared"][f"{page}_ratio"] for page in PAGES},
                **{f"pg_{page}_unshared_ratio": pg["unshared"][f"{page}_ratio"] for page in PAGES},
            )
        else:
            out["pg"] = "no local PostgreSQL"
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
