"""Classroom mode's fan-out: 60 share-center class screens and one teacher's panel connected
through server-sent events, 10 messages a second for 2 minutes.

Of every 5 messages, 4 are a room's raised hand (a different room each time, sent to the
classroom API) and 1 is the teacher showing a question and its answer to all rooms. Measured:
the delivery latency from the send (just before the POST) to the teacher's panel for the
rooms' hands, and to every one of the 60 screens for the teacher's messages (p50, p99), with
lost and duplicated deliveries counted (targets: 0 and 0) and no room receiving another room's
hand. The default run is the embedded default (SQLite, one ``sharehub serve``); when a local
PostgreSQL is there, the same load runs again on two serve processes sharing it (the panel on
one, the rooms spread over both, sends alternating), fanned out by LISTEN/NOTIFY. The baseline
of the same run is a bare asyncpg NOTIFY -> LISTEN round trip between two connections.
Target: p99 under 1 s. Run: python bench/classroom_fanout.py
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from support import bench_env, free_port, pg_url, serve, stop

from hub import accounts, db
from hub.tables import Booking, Course, LiveSession, Role, ShareCenter, Teacher

ROOMS = 60
RATE = 10
SECONDS = int(os.environ.get("CLASSROOM_BENCH_SECONDS", "120"))
BROADCAST_EVERY = 5
DRAIN_SECONDS = 15.0
TARGET_P99_MS = 1000.0
NOTIFY_ROUND_TRIPS = 500


@dataclass
class Programme:
    session_id: int
    teacher_token: str
    room_tokens: list[str]
    room_ids: list[int]


async def seed(url: str) -> Programme:
    """A teacher, 60 checked-in share-centers (operators with API tokens), a class on now."""
    engine = db.engine_for(url)
    db.bind(engine)
    await db.open_engine(engine)
    try:
        await db.migrate()
        uid = await accounts.create_user("bench-teacher", "bench-pass-12345", Role.teacher)
        teacher = (await Teacher.insert(Teacher(name="周老师", user=uid)).run())[0]["id"]
        course = (
            await Course.insert(Course(title="课堂互动", subject="数学", teacher=teacher)).run()
        )[0]["id"]
        now = datetime.now(UTC)
        session = (
            await LiveSession.insert(
                LiveSession(
                    course=course,
                    teacher=teacher,
                    starts_at=now - timedelta(minutes=5),
                    ends_at=now + timedelta(hours=2),
                    provider="external_link",
                    provider_settings={"meeting_url": "https://meeting.example/x"},
                )
            ).run()
        )[0]["id"]
        tokens, ids = [], []
        for n in range(ROOMS):
            center = (
                await ShareCenter.insert(
                    ShareCenter(
                        name=f"共享中心{n:02d}", province="云南省", city="昭通市", county="县"
                    )
                ).run()
            )[0]["id"]
            user = await accounts.create_user(
                f"bench-room{n}", "bench-pass-12345", Role.center, center_id=center
            )
            await Booking.insert(
                Booking(session=session, center=center, checked_in_at=now, children_present=30)
            ).run()
            tokens.append(await accounts.create_token(user, "bench"))
            ids.append(center)
        return Programme(session, await accounts.create_token(uid, "bench"), tokens, ids)
    finally:
        await db.close_engine(engine)


@dataclass
class Deliveries:
    connected: int = 0
    teacher: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    rooms: list[dict[str, list[float]]] = field(default_factory=list)
    leaked: int = 0
    """Hands a room received from another room (must be 0)."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set on every connection and delivery (what ``until`` waits on)."""

    async def until(self, done: Any, seconds: float) -> bool:
        """Until ``done()`` holds, at most ``seconds``; whether it holds."""
        deadline = time.monotonic() + seconds
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return bool(done())
        return True


async def read_stream(
    client: httpx.AsyncClient,
    url: str,
    token: str,
    on_data: Any,
    got: Deliveries,
    stop_at: asyncio.Event,
) -> None:
    """One screen: the SSE stream, again from Last-Event-ID when the server ends it."""
    last = ""
    first = True
    while not stop_at.is_set():
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last:
            headers["Last-Event-ID"] = last
        async with client.stream("GET", url, headers=headers) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if first and line.startswith(":"):
                    first = False
                    got.connected += 1
                    got.changed.set()
                elif line.startswith("id: "):
                    last = line[4:]
                elif line.startswith("data: "):
                    on_data(json.loads(line[6:]), time.perf_counter())
                    got.changed.set()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run_load(ports: list[int], prog: Programme, label: str) -> dict[str, Any]:
    base = f"/api/v1/sessions/{prog.session_id}/classroom"
    got = Deliveries(rooms=[defaultdict(list) for _ in range(ROOMS)])
    stop_at = asyncio.Event()
    limits = httpx.Limits(max_connections=ROOMS * 2 + 20, max_keepalive_connections=ROOMS * 2)
    clients = [
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", limits=limits, timeout=None)
        for p in ports
    ]

    def teacher_data(d: dict[str, Any], at: float) -> None:
        if d["kind"] == "hand":
            got.teacher[d["text"]].append(at)

    def room_data(i: int) -> Any:
        def on(d: dict[str, Any], at: float) -> None:
            if d["kind"] == "broadcast":
                got.rooms[i][d["data"]["answer"]].append(at)
            elif d["kind"] == "hand" and d["center_id"] != prog.room_ids[i]:
                got.leaked += 1

        return on

    readers = [
        asyncio.create_task(
            read_stream(
                clients[0],
                base + "/stream?seconds=3600",
                prog.teacher_token,
                teacher_data,
                got,
                stop_at,
            )
        )
    ] + [
        asyncio.create_task(
            read_stream(
                clients[i % len(clients)],
                base + "/stream?seconds=3600",
                prog.room_tokens[i],
                room_data(i),
                got,
                stop_at,
            )
        )
        for i in range(ROOMS)
    ]
    if not await got.until(lambda: got.connected >= ROOMS + 1, 60):
        raise RuntimeError(f"only {got.connected} of {ROOMS + 1} streams connected")
    r = await clients[0].post(
        base + "/messages",
        json={"kind": "hand", "text": "seed", "key": "bench-seed-0001"},
        headers={"Authorization": f"Bearer {prog.room_tokens[0]}"},
    )
    r.raise_for_status()
    question = r.json()["id"]

    sent_hand: dict[str, float] = {}
    sent_all: dict[str, float] = {}
    errors: list[str] = []

    retries = [0]

    async def post(
        client: httpx.AsyncClient, url: str, body: dict[str, Any], token: str
    ) -> httpx.Response:
        """A send, retried with the same idempotency key when the connection drops (a kept-alive
        connection the server closed): it must still arrive once."""
        for attempt in range(3):
            try:
                return await client.post(
                    url, json=body, headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.TransportError:
                if attempt == 2:
                    raise
                retries[0] += 1
        raise AssertionError("unreachable")

    async def send(n: int) -> None:
        client = clients[n % len(clients)]
        if n % BROADCAST_EVERY == BROADCAST_EVERY - 1:
            tag = f"b{n}"
            sent_all[tag] = time.perf_counter()
            r = await post(
                client,
                f"{base}/messages/{question}/show-all",
                {"answer": tag, "key": f"bench-all-{n:06d}"},
                prog.teacher_token,
            )
        else:
            tag = f"m{n}"
            room = n % ROOMS
            sent_hand[tag] = time.perf_counter()
            r = await post(
                client,
                f"{base}/messages",
                {"kind": "hand", "text": tag, "key": f"bench-hand-{n:06d}"},
                prog.room_tokens[room],
            )
        if r.status_code != 201:
            errors.append(f"{n}: {r.status_code} {r.text[:200]}")

    started = time.perf_counter()
    sends = []
    for n in range(RATE * SECONDS):
        delay = started + n / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sends.append(asyncio.create_task(send(n)))
    await asyncio.gather(*sends)
    wall = time.perf_counter() - started

    def complete() -> bool:
        return all(tag in got.teacher for tag in sent_hand) and all(
            tag in room for room in got.rooms for tag in sent_all
        )

    await got.until(complete, DRAIN_SECONDS)
    stop_at.set()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for client in clients:
        await client.aclose()

    to_teacher = [got.teacher[t][0] - s for t, s in sent_hand.items() if got.teacher.get(t)]
    to_rooms = [room[t][0] - s for t, s in sent_all.items() for room in got.rooms if room.get(t)]
    lost = sum(1 for t in sent_hand if not got.teacher.get(t)) + sum(
        1 for t in sent_all for room in got.rooms if not room.get(t)
    )
    dup = sum(max(0, len(got.teacher.get(t, [])) - 1) for t in sent_hand) + sum(
        max(0, len(room.get(t, [])) - 1) for t in sent_all for room in got.rooms
    )
    out = {
        "label": label,
        "messages": len(sent_hand) + len(sent_all),
        "rate": round((len(sent_hand) + len(sent_all)) / wall, 2),
        "send_errors": len(errors),
        "send_retries": retries[0],
        "room_to_teacher_p50_ms": round(pct(to_teacher, 50) * 1000, 1),
        "room_to_teacher_p99_ms": round(pct(to_teacher, 99) * 1000, 1),
        "teacher_to_all_p50_ms": round(pct(to_rooms, 50) * 1000, 1),
        "teacher_to_all_p99_ms": round(pct(to_rooms, 99) * 1000, 1),
        "deliveries": len(to_teacher) + len(to_rooms),
        "lost": lost,
        "duplicated": dup,
        "leaked": got.leaked,
    }
    if errors:
        print(f"{label}: first send errors: {errors[:3]}")
    return out


async def notify_round_trips(url: str) -> dict[str, float]:
    """The floor: NOTIFY on one asyncpg connection, received by LISTEN on another."""
    import asyncpg

    listener = await asyncpg.connect(url)
    notifier = await asyncpg.connect(url)
    waiting: dict[str, asyncio.Future[float]] = {}

    def heard(_c: Any, _p: int, _ch: str, payload: str) -> None:
        fut = waiting.pop(payload, None)
        if fut is not None and not fut.done():
            fut.set_result(time.perf_counter())

    await listener.add_listener("bench_classroom", heard)
    took = []
    try:
        for n in range(NOTIFY_ROUND_TRIPS):
            fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            waiting[str(n)] = fut
            t0 = time.perf_counter()
            await notifier.execute("SELECT pg_notify('bench_classroom', $1)", str(n))
            took.append(await asyncio.wait_for(fut, 5) - t0)
    finally:
        await listener.close()
        await notifier.close()
    return {"p50_ms": round(pct(took, 50) * 1000, 2), "p99_ms": round(pct(took, 99) * 1000, 2)}


def part(env: dict[str, str], url: str, servers: int, label: str, data: Path) -> dict[str, Any]:
    prog = asyncio.run(seed(url))
    ports = [free_port() for _ in range(servers)]
    procs = []
    try:
        for i, port in enumerate(ports):
            procs.append(serve(env, port, data / f"serve-{label}-{i}.log"))
        return asyncio.run(run_load(ports, prog, label))
    finally:
        for p in procs:
            stop(p)


def show(r: dict[str, Any]) -> None:
    print(
        f"{r['label']}: {r['messages']} messages at {r['rate']}/s; room->teacher p50 "
        f"{r['room_to_teacher_p50_ms']} ms, p99 {r['room_to_teacher_p99_ms']} ms; teacher->"
        f"{ROOMS} screens p50 {r['teacher_to_all_p50_ms']} ms, p99 {r['teacher_to_all_p99_ms']} "
        f"ms; {r['deliveries']} deliveries, {r['lost']} lost, {r['duplicated']} duplicated, "
        f"{r['leaked']} leaked to other rooms, {r['send_errors']} send errors"
    )


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="sharehub-classroom-"))
    results = []
    baseline: dict[str, float] | None = None
    try:
        env = bench_env(data / "sqlite", SHAREHUB_EMBEDDED_WORKER="off")
        sqlite_url = f"sqlite:///{data / 'sqlite' / 'hub.sqlite'}"
        env["SHAREHUB_DATABASE_URL"] = sqlite_url
        results.append(part(env, sqlite_url, 1, "sqlite, 1 process", data))
        show(results[-1])
        url = pg_url()
        if url:
            baseline = asyncio.run(notify_round_trips(url))
            print(
                f"baseline: bare asyncpg NOTIFY->LISTEN round trip p50 {baseline['p50_ms']} ms, "
                f"p99 {baseline['p99_ms']} ms ({NOTIFY_ROUND_TRIPS} round trips)"
            )
            pg_env = {
                **bench_env(data / "pg", SHAREHUB_EMBEDDED_WORKER="off"),
                "SHAREHUB_DATABASE_URL": url,
            }
            results.append(part(pg_env, url, 2, "postgresql, 2 processes", data))
            show(results[-1])
        else:
            print("no local PostgreSQL: no NOTIFY baseline, no two-process part")
    finally:
        shutil.rmtree(data, ignore_errors=True)
    worst = max(max(r["room_to_teacher_p99_ms"], r["teacher_to_all_p99_ms"]) for r in results)
    clean = all(r["lost"] == 0 and r["duplicated"] == 0 and r["leaked"] == 0 for r in results)
    print(
        f"target: p99 < {TARGET_P99_MS:.0f} ms, 0 lost, 0 duplicated: "
        f"{'met' if worst < TARGET_P99_MS and clean else 'NOT met'}"
    )
    base = baseline["p99_ms"] if baseline else None
    line = {
        "bench": "classroom_fanout",
        "value": worst,
        "unit": "ms p99 delivery",
        "baseline": base,
        "ratio": round(worst / base, 1) if base else None,
        "lost": sum(r["lost"] for r in results),
        "duplicated": sum(r["duplicated"] for r in results),
        "parts": results,
    }
    print(json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
