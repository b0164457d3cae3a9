"""The anonymous schedule answer is cached briefly and forgotten after any write."""

from __future__ import annotations

import asyncio
import time

import pytest

from hub.cache import ResponseCache
from tests.conftest import World

pytestmark = pytest.mark.cross_process

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


async def create_on(world: World, day: str, start: str, end: str) -> int:
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": f"{day}T{start}:00",
            "ends_at": f"{day}T{end}:00",
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


FUTURE_WEEK = {"from": "2027-03-01", "to": "2027-03-07"}


async def test_signed_in_lists_are_shared_and_see_a_write_at_once(world: World) -> None:
    """Every signed-in user sees the same sessions (centers-only too), in their own zone, and
    a write shows at once (the writer's process empties its answers)."""
    await world.patch(f"/api/v1/courses/{world.ids['course']}", {"visibility": "centers"}, "admin")
    first = await create_on(world, "2027-03-02", "09:00", "10:00")
    for who in ("center", "center2", "teacher", "admin"):
        r = await world.get("/api/v1/sessions", params=FUTURE_WEEK, who=who)
        assert r.status_code == 200, r.text
        assert [s["id"] for s in r.json()["items"]] == [first], who
    second = await create_on(world, "2027-03-03", "09:00", "10:00")
    r = await world.get("/api/v1/sessions", params=FUTURE_WEEK, who="center")
    assert [s["id"] for s in r.json()["items"]] == [first, second]
    await world.post(f"/api/v1/sessions/{first}/cancel", who="teacher")
    r = await world.get(
        "/api/v1/sessions", params={**FUTURE_WEEK, "status": "cancelled"}, who="center2"
    )
    assert [s["id"] for s in r.json()["items"]] == [first]
    anonymous = await world.get("/api/v1/sessions", params=FUTURE_WEEK)
    assert anonymous.json()["items"] == []


async def test_a_shared_answer_is_per_time_zone(world: World) -> None:
    await create_on(world, "2027-03-02", "09:00", "10:00")  # 09:00 in Shanghai = 01:00 UTC
    here = await world.get("/api/v1/sessions", params=FUTURE_WEEK, who="center")
    there = await world.get(
        "/api/v1/sessions", params={**FUTURE_WEEK, "tz": "America/Bogota"}, who="center"
    )
    assert here.json()["items"][0]["starts_local"] == "2027-03-02T09:00:00+08:00"
    assert there.json()["items"][0]["starts_local"] == "2027-03-01T20:00:00-05:00"
    r = await world.patch(
        f"/api/v1/centers/{world.ids['center2']}", {"timezone": "Asia/Urumqi"}, "admin"
    )
    assert r.status_code == 200, r.text
    urumqi = await world.get("/api/v1/sessions", params=FUTURE_WEEK, who="center2")
    assert urumqi.json()["items"][0]["starts_local"] == "2027-03-02T07:00:00+06:00"
    shanghai = await world.get("/api/v1/sessions", params=FUTURE_WEEK, who="center")
    assert shanghai.json()["items"][0]["starts_local"] == "2027-03-02T09:00:00+08:00"


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
