"""A programme a hundred times the demo (issue 23), on PostgreSQL: the figure endpoints, the
admin dashboard, the public schedule page and the SRT port plan, cold and warm, against the
same on the demo itself (1x) in the same run.

The bench makes a database of its own on the local PostgreSQL server (dropped at the end),
fills the demo (``sharehub demo --no-serve``, 1x) and measures; then grows it in SQL with
``generate_series``: every center, teacher, course, class and booking copied ``SCALE - 1``
times (each copy's bookings between the copy's classes and centers, so the programme stays
consistent), and viewer windows for the held classes (a pool of viewers coming back, some
center screens), with the rollups the beacon flush keeps (view tallies, center-day tallies,
each viewer's first day per span) worked out from those windows; and measures again.

Cold: the first answer of a freshly started server (its figures not yet worked out), median
of ``ROUNDS`` restarts. Warm: the next ``ROUNDS`` answers of the same server, median. The
port plan: ``plan_ports`` over the self-hosted SRT classes of the sweep's fortnight (every
copy of a class at the same time: many times the demo's concurrency), median of ``ROUNDS``.

Targets at 100x: figure endpoints < 1 s cold, /admin < 2 s cold, the port plan < 1 s.
Run: python bench/hundredfold.py  (SHAREHUB_BENCH_SCALE=30 for a smaller run,
SHAREHUB_BENCH_ROUNDS=3 for fewer restarts)
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import asyncpg
from support import BIN, ROOT, bench_env, free_port, pg_url, serve, stop

sys.path.insert(0, str(ROOT))
from plugins.self_hosted import ports

SCALE = int(os.environ.get("SHAREHUB_BENCH_SCALE", "100"))
ROUNDS = int(os.environ.get("SHAREHUB_BENCH_ROUNDS", "5"))
WINDOWS_PER_CLASS = 72
"""Viewer windows per held class: ~5M at 100x (the demo's held classes times 100 times 72)."""
VIEWERS = 2_000_000
"""The pool viewers come from (they come back to other classes and days)."""
ADMIN = ("demo-admin", "sharehub-demo")
LOW, HIGH = 20_000, 39_999


def own_database(base_url: str) -> tuple[str, str]:
    """(this bench's database URL, the server's maintenance URL)."""
    parts = urlparse(base_url)
    name = f"sharehub_bench_hundredfold_{os.getpid()}"
    return (
        urlunparse(parts._replace(path=f"/{name}")),
        urlunparse(parts._replace(path="/postgres")),
    )


async def run_sql(url: str, statements: list[str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        out = {}
        for table in ("share_center", "teacher", "live_session", "booking", "viewer_window"):
            out[table] = int(await conn.fetchval(f"SELECT COUNT(*) FROM {table}"))
        return out
    finally:
        await conn.close()


def grow(scale: int) -> list[str]:
    """SQL that copies the demo ``scale - 1`` times and adds viewer windows and rollups."""
    k = f"generate_series(1, {scale - 1}) AS k"
    return [
        # id maps: (old id, copy k) -> new id
        f"CREATE TABLE map_center AS SELECT id AS old, k, nextval('share_center_id_seq') AS new "
        f"FROM share_center, {k}",
        f"CREATE TABLE map_teacher AS SELECT id AS old, k, nextval('teacher_id_seq') AS new "
        f"FROM teacher, {k}",
        f"CREATE TABLE map_course AS SELECT id AS old, k, nextval('course_id_seq') AS new "
        f"FROM course, {k}",
        f"CREATE TABLE map_session AS SELECT id AS old, k, nextval('live_session_id_seq') AS new "
        f"FROM live_session, {k}",
        "CREATE INDEX ON map_center (old, k)",
        "CREATE INDEX ON map_teacher (old, k)",
        "CREATE INDEX ON map_course (old, k)",
        "CREATE INDEX ON map_session (old, k)",
        "INSERT INTO share_center (id, name, province, city, county, kind, rooms, timezone, "
        "bandwidth, contact_name, contact_phone, active) "
        "SELECT m.new, c.name || '·' || m.k, c.province, c.city, c.county, c.kind, c.rooms, "
        "c.timezone, c.bandwidth, c.contact_name, c.contact_phone, c.active "
        "FROM map_center m JOIN share_center c ON c.id = m.old",
        "INSERT INTO teacher (id, name, school, subjects, grades, bio) "
        "SELECT m.new, t.name || '·' || m.k, t.school, t.subjects, t.grades, t.bio "
        "FROM map_teacher m JOIN teacher t ON t.id = m.old",
        "INSERT INTO course (id, title, subject, grade_min, grade_max, description, teacher, "
        "visibility) SELECT m.new, c.title, c.subject, c.grade_min, c.grade_max, c.description, "
        "mt.new, c.visibility FROM map_course m JOIN course c ON c.id = m.old "
        "JOIN map_teacher mt ON mt.old = c.teacher AND mt.k = m.k",
        "INSERT INTO live_session (id, course, teacher, starts_at, ends_at, status, provider, "
        "provider_settings, stream_key, live_at, ended_at) "
        "SELECT m.new, mc.new, mt.new, s.starts_at, s.ends_at, s.status, s.provider, "
        "s.provider_settings, '', s.live_at, s.ended_at "
        "FROM map_session m JOIN live_session s ON s.id = m.old "
        "JOIN map_course mc ON mc.old = s.course AND mc.k = m.k "
        "JOIN map_teacher mt ON mt.old = s.teacher AND mt.k = m.k",
        "INSERT INTO booking (session, center, created_at, checked_in_at, checked_out_at, "
        "children_present) "
        "SELECT ms.new, mc.new, b.created_at, b.checked_in_at, b.checked_out_at, "
        "b.children_present FROM booking b "
        "JOIN map_session ms ON ms.old = b.session "
        "JOIN map_center mc ON mc.old = b.center AND mc.k = ms.k",
        "DROP TABLE map_center, map_teacher, map_course, map_session",
        # viewer windows of the held classes: a pool of viewers, every tenth a center screen
        "CREATE TABLE held AS SELECT s.id, s.starts_at, "
        "(SELECT MIN(b.center) FROM booking b WHERE b.session = s.id) AS center "
        "FROM live_session s WHERE s.status IN ('live', 'ended', 'archived')",
        "INSERT INTO viewer_window (session_id, viewer, window_start, day, kind, center_id, "
        "millis, counted, last_seen, first_ms, last_ms, beacons) "
        "SELECT h.id, 'v' || lpad(((h.id * 7919 + g * 104729) % "
        f"{VIEWERS})::text, 31, '0'), "
        "extract(epoch FROM date_trunc('day', h.starts_at AT TIME ZONE 'Asia/Shanghai') "
        "AT TIME ZONE 'Asia/Shanghai')::bigint, "
        "(h.starts_at AT TIME ZONE 'Asia/Shanghai')::date, "
        "CASE WHEN g % 4 = 0 THEN 'replay' ELSE 'live' END, "
        "CASE WHEN g % 10 = 0 THEN h.center ELSE NULL END, "
        "(g % 40) * 60000, g % 40 >= 1, "
        "extract(epoch FROM h.starts_at)::bigint + 600, "
        "extract(epoch FROM h.starts_at)::bigint * 1000, "
        "extract(epoch FROM h.starts_at)::bigint * 1000 + (g % 40) * 60000, 2 "
        f"FROM held h, generate_series(1, {WINDOWS_PER_CLASS}) AS g",
        "DROP TABLE held",
        "DELETE FROM view_tally",
        "INSERT INTO view_tally (session_id, day, kind, views, center_views, seconds_watched) "
        "SELECT session_id, day, kind, SUM(CASE WHEN counted THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN counted AND center_id IS NOT NULL THEN 1 ELSE 0 END), "
        "SUM(millis) / 1000.0 FROM viewer_window GROUP BY session_id, day, kind",
        "DELETE FROM center_day_tally",
        "INSERT INTO center_day_tally (center_id, day, kind, views, millis) "
        "SELECT center_id, day, kind, SUM(CASE WHEN counted THEN 1 ELSE 0 END), SUM(millis) "
        "FROM viewer_window WHERE center_id IS NOT NULL GROUP BY center_id, day, kind",
        "DELETE FROM viewer_first",
        *[
            "INSERT INTO viewer_first (viewer, span, span_start, first_day) "
            f"SELECT viewer, '{span}', {start}, MIN(day) FROM viewer_window WHERE counted "
            f"GROUP BY viewer, {start}"
            for span, start in (
                ("all", "DATE '2000-01-01'"),
                ("year", "date_trunc('year', day)::date"),
                ("month", "date_trunc('month', day)::date"),
            )
        ],
        "ANALYZE",
    ]


def sign_in(base: str) -> tuple[str, str]:
    """(session cookie header, API token) of the demo's administrator."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    body = json.dumps({"username": ADMIN[0], "password": ADMIN[1]}).encode()
    headers = {"Content-Type": "application/json", "Origin": base}
    opener.open(urllib.request.Request(f"{base}/api/v1/auth/login", body, headers)).close()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    made = opener.open(
        urllib.request.Request(
            f"{base}/api/v1/tokens", json.dumps({"name": "bench"}).encode(), headers
        )
    )
    return cookie, json.load(made)["token"]


def timed_get(url: str, headers: dict[str, str]) -> float:
    began = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=600) as r:
        r.read()
        assert r.status == 200, (url, r.status)
    return time.perf_counter() - began


async def term_query(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow("SELECT starts_on, ends_on FROM term ORDER BY starts_on LIMIT 1")
    finally:
        await conn.close()
    today = datetime.now(UTC).date()
    end = min(row["ends_on"], today) if row else today
    start = row["starts_on"] if row else today - timedelta(days=120)
    return f"/api/v1/impact?from={start}&to={end}&group_by=center"


def endpoints(env: dict[str, str], query: str) -> dict[str, dict[str, float]]:
    """Cold (first answer of a fresh server) and warm medians, in seconds, per endpoint."""
    cold: dict[str, list[float]] = {"impact": [], "admin": [], "home": []}
    warm: dict[str, list[float]] = {"impact": [], "admin": [], "home": []}
    for _ in range(ROUNDS):
        port = free_port()
        process = serve(env, port)
        try:
            base = f"http://127.0.0.1:{port}"
            cookie, token = sign_in(base)
            targets = {
                "impact": (base + query, {"Authorization": f"Bearer {token}"}),
                "admin": (base + "/admin", {"Cookie": cookie, "Accept": "text/html"}),
                "home": (base + "/", {"Accept": "text/html"}),
            }
            for name, (target, headers) in targets.items():
                cold[name].append(timed_get(target, headers))
            if not warm["impact"]:
                for name, (target, headers) in targets.items():
                    warm[name] = [timed_get(target, headers) for _ in range(ROUNDS)]
        finally:
            stop(process)
    return {
        name: {"cold": statistics.median(cold[name]), "warm": statistics.median(warm[name])}
        for name in cold
    }


async def port_plan(url: str) -> tuple[int, float, int]:
    """(sessions planned, median seconds, sessions left without a port) for the fortnight."""
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        rows = await conn.fetch(
            "SELECT id, starts_at, ends_at FROM live_session WHERE status IN "
            "('scheduled', 'live', 'ended') AND ends_at > $1 AND starts_at < $2",
            now - timedelta(minutes=30),
            now + ports.SWEEP_AHEAD,
        )
    finally:
        await conn.close()
    claims = [ports.Claim(r["id"], r["starts_at"], r["ends_at"]) for r in rows]
    times = []
    left_out: list[int] = []
    for _ in range(ROUNDS):
        left_out = []
        began = time.perf_counter()
        ports.plan_ports(claims, LOW, HIGH, left_out)
        times.append(time.perf_counter() - began)
    return len(claims), statistics.median(times), len(left_out)


def measure(env: dict[str, str], url: str, label: str) -> dict[str, Any]:
    query = asyncio.run(term_query(url))
    figures = endpoints(env, query)
    sessions, plan_seconds, unplaced = asyncio.run(port_plan(url))
    out = {
        "rows": asyncio.run(counts(url)),
        **{f"{name}_{k}": round(v, 3) for name, d in figures.items() for k, v in d.items()},
        "port_sessions": sessions,
        "port_plan_s": round(plan_seconds, 3),
        "port_unplaced": unplaced,
    }
    print(f"{label}: {json.dumps(out, ensure_ascii=False)}", flush=True)
    return out


def main() -> None:
    base = pg_url()
    if not base:
        print("no local PostgreSQL: this bench runs on PostgreSQL only")
        print(json.dumps({"bench": "hundredfold", "value": None, "unit": "s"}))
        return
    url, admin = own_database(base)
    name = urlparse(url).path.lstrip("/")
    asyncio.run(run_sql(admin, [f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"']))
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = bench_env(Path(tmp), SHAREHUB_DATABASE_URL=url, SHAREHUB_EMBEDDED_WORKER="off")
            env["SHAREHUB_DATABASE_URL"] = url
            subprocess.run(
                [str(BIN), "demo", "--no-serve"], env=env, check=True, capture_output=True
            )
            one = measure(env, url, "1x")
            grow_began = time.monotonic()
            asyncio.run(run_sql(url, grow(SCALE)))
            grew = time.monotonic() - grow_began
            print(f"grown to {SCALE}x in {grew:.0f} s", flush=True)
            big = measure(env, url, f"{SCALE}x")
    finally:
        asyncio.run(run_sql(admin, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']))
    total = time.monotonic() - began
    worst = max(big["impact_cold"], big["home_cold"])
    print(
        f"{SCALE}x: figures cold {worst:.2f} s (target < 1), /admin cold {big['admin_cold']:.2f} s "
        f"(target < 2), port plan {big['port_plan_s']:.3f} s for {big['port_sessions']} sessions "
        f"(target < 1); 1x: figures cold {max(one['impact_cold'], one['home_cold']):.2f} s; "
        f"whole bench {total:.0f} s (build {grew:.0f} s)"
    )
    print(
        json.dumps(
            {
                "bench": "hundredfold",
                "scale": SCALE,
                "value": big["impact_cold"],
                "unit": "s",
                "baseline": one["impact_cold"],
                "ratio": round(big["impact_cold"] / max(one["impact_cold"], 1e-6), 2),
                "admin_cold": big["admin_cold"],
                "home_cold": big["home_cold"],
                "impact_warm": big["impact_warm"],
                "admin_warm": big["admin_warm"],
                "home_warm": big["home_warm"],
                "port_plan_s": big["port_plan_s"],
                "port_sessions": big["port_sessions"],
                "build_s": round(grew),
                "rows": big["rows"],
            }
        )
    )


if __name__ == "__main__":
    main()
