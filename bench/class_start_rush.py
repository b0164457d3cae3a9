"""A class starts: 2,000 viewers open the watch page and start beacons within 10 s, against one
``sharehub serve`` process on the embedded default (SQLite, local storage).

Each viewer opens its own connection at its moment in the 10 s (evenly spread), loads the watch
page, asks for the playback URLs (as the player does) and sends its first live beacon (3.5 s
watched), then, keeping its connection, its second one 10.5 s later (10 s watched): a view is
earned in server time (two beacons at least the 10 s threshold apart), so one view each.
The same arrival pattern against ``/healthz`` (four no-op GETs per viewer, the same pause) is
the baseline. Afterwards the counts must be exact: views, unique viewers and hours
watched in the database equal what was sent. Latency is per request, from send to last byte.
Then the same rush on a second class with every viewer signed in as one of 300 share-centers
(each center and its operator made through the API, each operator signed in once; viewer i
sends the sign-in cookie of center i mod 300): signed-in pages are rendered per viewer. A
center is one viewer for the view count (its room), so only its first viewer sends beacons:
the counts must come to 300 views.
Run: python bench/class_start_rush.py   (targets: 0 errors, counts exact, signed-in p99 < 1 s)
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import build_request
from support import bench_env, free_port, start_serve, stop

VIEWERS = 2000
WINDOW = 10.0
FIRST, SECOND = 3.5, 10.0
WATCHED = FIRST + SECOND
GAP = 10.5
"""Seconds between a viewer's two beacons (more than the view threshold of wall time)."""
DEMO_ADMIN = ("demo-admin", "sharehub-demo")
CENTERS = 300


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response: status and body (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length) if length else b""
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    failures: list[str] = field(default_factory=list)
    by_step: dict[int, list[float]] = field(default_factory=dict)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


async def visit(port: int, requests: list[bytes | float], tally: Tally) -> None:
    """One viewer: its own connection, its requests in turn (keep-alive; a number is a pause
    of that many seconds, after which it connects again), then close."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        tally.errors += len(requests)
        tally.failures.append(f"connect: {exc}")
        return
    try:
        step = -1
        for request in requests:
            if isinstance(request, float):
                # a pause longer than the server's keep-alive: the player connects again
                writer.close()
                await asyncio.sleep(request)
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError as exc:
                    tally.errors += 1
                    tally.failures.append(f"reconnect: {exc}")
                    return
                continue
            step += 1
            started = time.perf_counter()
            writer.write(request)
            status, body = await read_response(reader)
            tally.latencies.append(time.perf_counter() - started)
            tally.by_step.setdefault(step, []).append(tally.latencies[-1])
            tally.requests += 1
            if status >= 400:
                tally.errors += 1
                if len(tally.failures) < 5:
                    tally.failures.append(f"{status}: {body[:200]!r}")
    except (OSError, asyncio.IncompleteReadError) as exc:
        tally.errors += 1
        tally.failures.append(f"connection: {exc!r}")
    finally:
        writer.close()


async def rush(
    port: int, per_viewer: list[list[bytes | float]], window: float
) -> tuple[Tally, float]:
    """Start viewer i at i * window / n seconds; wait for all; the tally and the wall time."""
    tally = Tally()
    start = time.perf_counter()
    step = window / len(per_viewer)

    async def later(i: int, requests: list[bytes]) -> None:
        await asyncio.sleep(max(0.0, start + i * step - time.perf_counter()))
        await visit(port, requests, tally)

    await asyncio.gather(*(later(i, r) for i, r in enumerate(per_viewer)))
    return tally, time.perf_counter() - start


def http(port: int, method: str, path: str, body: Any = None, token: str = "") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def admin_token(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/auth/login",
        data=json.dumps({"username": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        cookie = response.headers["Set-Cookie"].split(";")[0]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/tokens",
        data=b'{"name": "bench"}',
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Cookie": cookie,
            "Origin": f"http://127.0.0.1:{port}",  # a change made with a cookie: same origin
        },
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return str(json.load(response)["token"])


def class_now(port: int, token: str, starts_in: float = -60, lasts: float = 3600) -> int:
    """A new session of a demo course starting about now (tries courses until one is free)."""
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=starts_in)
    courses = http(port, "GET", "/api/v1/courses?per_page=100", token=token)["items"]
    for course in [c for c in courses if c.get("visibility") == "public"]:  # anyone watches
        try:
            return int(
                http(
                    port,
                    "POST",
                    "/api/v1/sessions",
                    {
                        "course_id": course["id"],
                        "starts_at": starts.isoformat(),
                        "ends_at": (starts + timedelta(seconds=lasts)).isoformat(),
                    },
                    token,
                )["id"]
            )
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # a teacher already teaching then: try another course
                raise
    raise RuntimeError("no demo course with a free teacher now")


def center_cookies(port: int, token: str, n: int = CENTERS) -> list[str]:
    """``n`` new share-centers, each with an operator account, signed in: their cookies
    (made 8 at a time: each account's password is hashed twice, at creation and sign-in)."""
    password = "rush-" + uuid.uuid4().hex
    tag = uuid.uuid4().hex[:6]

    def one(i: int) -> str:
        center = http(
            port,
            "POST",
            "/api/v1/centers",
            {"name": f"Rush {tag} {i}", "province": "P", "city": "C", "county": f"K{i % 30}"},
            token,
        )
        username = f"rush-{tag}-{i}"
        http(
            port,
            "POST",
            "/api/v1/users",
            {
                "username": username,
                "password": password,
                "role": "center",
                "center_id": center["id"],
            },
            token,
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            data=json.dumps({"username": username, "password": password}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return str(response.headers["Set-Cookie"].split(";")[0])

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


def viewer_requests(
    host: str, session_id: int, tag: str, cookies: list[str] | None = None
) -> list[list[bytes | float]]:
    """Each viewer's requests; with ``cookies``, viewer i is signed in with cookie i mod n
    (its beacons carry the page's origin, as a browser's do) and only the first viewer of
    each center sends beacons (a center counts as one viewer: a second player's beacons
    would be refused as too early)."""
    out: list[list[bytes | float]] = []
    at = datetime.now(UTC) + timedelta(seconds=WINDOW / 2)  # within the 2-minute lead
    path = f"/api/v1/sessions/{session_id}/beacons"
    for i in range(VIEWERS):
        beacons = [
            json.dumps(
                {
                    "beacon_id": f"{tag}-b{i:05d}-{n}",
                    "viewer_id": f"{tag}-v{i:05d}",
                    "kind": "live",
                    "seconds": seconds,
                    "at": (at + timedelta(seconds=n * GAP)).isoformat(),
                }
            ).encode()
            for n, seconds in enumerate((FIRST, SECOND))
        ]
        who = {"Cookie": cookies[i % len(cookies)]} if cookies else {}
        post = {**who, "Origin": f"http://{host}"} if cookies else {}
        if cookies and i >= len(cookies):
            out.append(
                [
                    build_request(
                        "GET", f"/watch/{session_id}", host, headers={"Accept": "text/html", **who}
                    ),
                    build_request(
                        "GET", f"/api/v1/sessions/{session_id}/playback", host, headers=who
                    ),
                ]
            )
            continue
        out.append(
            [
                build_request(
                    "GET", f"/watch/{session_id}", host, headers={"Accept": "text/html", **who}
                ),
                build_request("GET", f"/api/v1/sessions/{session_id}/playback", host, headers=who),
                build_request("POST", path, host, beacons[0], headers=post),
                GAP,
                build_request("POST", path, host, beacons[1], headers=post),
            ]
        )
    return out


def class_rush(
    port: int, session_id: int, cookies: list[str] | None = None
) -> tuple[Tally, float, dict[str, Any]]:
    """The viewers' rush on ``session_id``: the tally, the wall time, the counted views."""
    host = f"127.0.0.1:{port}"
    tag = uuid.uuid4().hex[:8]
    tally, wall = asyncio.run(rush(port, viewer_requests(host, session_id, tag, cookies), WINDOW))
    views: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the tallies are flushed every 2 s
        views = http(port, "GET", f"/api/v1/sessions/{session_id}/views")
        if views["live_views"] >= (len(cookies) if cookies else VIEWERS):
            break
        time.sleep(0.5)
    return tally, wall, views


def counted_exactly(views: dict[str, Any], viewers: int = VIEWERS) -> bool:
    counted_seconds = views.get("live_hours", 0) * 3600
    return (
        views.get("live_views") == viewers
        and views.get("unique_viewers") == viewers
        and abs(counted_seconds - viewers * WATCHED) <= 1.8  # hours are shown to 3 decimals
    )


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="sharehub-rush-"))
    port = free_port()
    env = bench_env(data, SHAREHUB_EMBEDDED_WORKER="off")
    server = start_serve(env, port, data / "serve.log")
    try:
        token = admin_token(port)
        session_id = class_now(port, token)
        host = f"127.0.0.1:{port}"
        warm = viewer_requests(host, session_id, "warm")[:50]
        asyncio.run(rush(port, [[r[0], r[1]] for r in warm], 1.0))  # templates, caches
        noop = build_request("GET", "/healthz", host)
        baseline, _ = asyncio.run(
            rush(port, [[noop, noop, noop, GAP, noop] for _ in range(VIEWERS)], WINDOW)
        )
        tally, wall, views = class_rush(port, session_id)
        cookies = center_cookies(port, token)
        signed_class = class_now(port, token)
        asyncio.run(  # the signed-in path warmed up too
            rush(
                port,
                [r[:2] for r in viewer_requests(host, signed_class, "warm", cookies)[:50]],
                1.0,
            )
        )
        signed, signed_wall, signed_views = class_rush(port, signed_class, cookies)
    finally:
        stop(server)
        shutil.rmtree(data, ignore_errors=True)
    sent_seconds = VIEWERS * WATCHED
    counted_seconds = views.get("live_hours", 0) * 3600
    exact = counted_exactly(views)
    p50, p99 = tally.percentile(50) * 1000, tally.percentile(99) * 1000
    b50, b99 = baseline.percentile(50) * 1000, baseline.percentile(99) * 1000
    print(
        f"{VIEWERS} viewers in {wall:.1f} s: {tally.requests} requests, {tally.errors} errors; "
        f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms (no-op /healthz rush: p50 {b50:.1f} ms, "
        f"p99 {b99:.1f} ms, {baseline.errors} errors)"
    )
    print(
        f"counted: {views.get('live_views')} views, {views.get('unique_viewers')} unique viewers, "
        f"{counted_seconds:.1f} s watched, peak {views.get('peak_concurrent')} "
        f"(sent {VIEWERS} viewers, {sent_seconds:.1f} s): {'exact' if exact else 'NOT exact'}"
    )
    steps = {}
    for step, name in enumerate(("watch_page", "playback", "beacon", "second_beacon")):
        ordered = sorted(tally.by_step.get(step, [0.0]))
        steps[f"{name}_p50_ms"] = round(ordered[len(ordered) // 2] * 1000, 1)
        steps[f"{name}_p99_ms"] = round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1)
    print("by request:", steps)
    for failure in tally.failures[:5]:
        print("  failure:", failure)
    s50, s99 = signed.percentile(50) * 1000, signed.percentile(99) * 1000
    signed_exact = counted_exactly(signed_views, CENTERS)
    print(
        f"signed in as {CENTERS} centers: {VIEWERS} viewers in {signed_wall:.1f} s: "
        f"{signed.requests} requests, {signed.errors} errors; latency p50 {s50:.1f} ms, "
        f"p99 {s99:.1f} ms (target < 1000); counts {'exact' if signed_exact else 'NOT exact'}"
    )
    for failure in signed.failures[:5]:
        print("  signed-in failure:", failure)
    print(
        json.dumps(
            {
                "bench": "class_start_rush",
                "value": round(p99, 1),
                "unit": "ms p99",
                "baseline": round(b99, 1),
                "ratio": round(p99 / b99, 2) if b99 else None,
                "p50_ms": round(p50, 1),
                "baseline_p50_ms": round(b50, 1),
                "viewers": VIEWERS,
                "window_s": WINDOW,
                "requests": tally.requests,
                "errors": tally.errors,
                "views": views.get("live_views"),
                "unique_viewers": views.get("unique_viewers"),
                "peak_concurrent": views.get("peak_concurrent"),
                "counts_exact": exact,
                "wall_s": round(wall, 1),
                **steps,
                "signed_in_centers": CENTERS,
                "signed_in_p50_ms": round(s50, 1),
                "signed_in_p99_ms": round(s99, 1),
                "signed_in_requests": signed.requests,
                "signed_in_errors": signed.errors,
                "signed_in_counts_exact": signed_exact,
            }
        )
    )


if __name__ == "__main__":
    main()
