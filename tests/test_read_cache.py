"""The anonymous schedule answer is cached briefly and forgotten after any write."""

from __future__ import annotations

import asyncio
import time

import pytest

from hub.cache import ResponseCache
from tests.conftest import World

WEEK = {"from": "2036-11-30", "to": "2036-12-06"}


async def create(world: World, start: str, end: str) -> int:
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": f"2036-12-01T{start}:00",
            "ends_at": f"2036-12-01T{end}:00",
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_anonymous_list_sees_a_write_at_once(world: World) -> None:
    first = await create(world, "09:00", "10:00")
    r = await world.get("/api/v1/sessions", params=WEEK)
    assert r.status_code == 200
    assert [s["id"] for s in r.json()["items"]] == [first]
    second = await create(world, "10:00", "11:00")
    r = await world.get("/api/v1/sessions", params=WEEK)
    assert [s["id"] for s in r.json()["items"]] == [first, second]
    await world.post(f"/api/v1/sessions/{first}/cancel", who="teacher")
    r = await world.get("/api/v1/sessions", params={**WEEK, "status": "cancelled"})
    assert [s["id"] for s in r.json()["items"]] == [first]


async def test_hidden_courses_stay_hidden_from_anonymous_readers(world: World) -> None:
    sid = await create(world, "09:00", "10:00")
    await world.patch(f"/api/v1/courses/{world.ids['course']}", {"visibility": "centers"}, "admin")
    anonymous = await world.get("/api/v1/sessions", params=WEEK)
    assert anonymous.json()["items"] == []
    signed_in = await world.get("/api/v1/sessions", params=WEEK, who="center")
    assert [s["id"] for s in signed_in.json()["items"]] == [sid]


def test_cache_expires_and_ignores_answers_computed_before_a_write() -> None:
    cache = ResponseCache(ttl=0.05)
    generation = cache.generation
    cache.put("k", b"old", generation)
    assert cache.get("k") == b"old"
    time.sleep(0.06)
    assert cache.get("k") is None
    generation = cache.generation
    cache.invalidate()  # a write finished while the answer was being computed
    cache.put("k", b"stale", generation)
    assert cache.get("k") is None
    assert ResponseCache(ttl=0).get("k") is None


async def test_a_rush_of_misses_makes_the_answer_once_and_errors_are_not_kept() -> None:
    cache = ResponseCache(ttl=60)
    made = 0
    gate = asyncio.Event()

    async def make() -> bytes:
        nonlocal made
        made += 1
        await gate.wait()
        return b"page"

    waiting = [asyncio.create_task(cache.shared("k", make)) for _ in range(50)]
    await asyncio.sleep(0.01)
    gate.set()
    assert await asyncio.gather(*waiting) == [b"page"] * 50
    assert made == 1
    assert await cache.shared("k", make) == b"page" and made == 1  # kept

    async def missing() -> bytes:
        raise LookupError("session 9 not found")

    for _ in range(2):
        with pytest.raises(LookupError):
            await cache.shared("gone", missing)
    assert cache.get("gone") is None
    cache.invalidate()  # a write: the next miss makes the answer again
    assert await cache.shared("k", make) == b"page" and made == 2
    assert await ResponseCache(ttl=0).shared("k", make) == b"page" and made == 3  # never kept
