"""Issue 23, point 2: figures worked out once per period per process and shared
(``hub.cache.Shared``): stamped when ready, the first caller computes and the others wait,
an expired value answered while one refresh runs, and anonymous /api/v1/impact callers
never each set off a computation of their own."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.cache import Shared
from hub.settings import Settings
from tests.conftest import World, seed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_an_entry_is_stamped_when_its_value_is_ready() -> None:
    clock = Clock()
    shared: Shared[int] = Shared(60.0, clock=clock)

    async def slow() -> int:
        clock.now += 90.0  # the work takes longer than the entry lives
        return 1

    assert await shared.get("k", slow) == 1
    clock.now += 59.0  # 59 s after it was ready (149 s after the work began): still fresh

    async def never() -> int:
        raise AssertionError("worked out again")

    assert await shared.get("k", never) == 1
    assert shared.computed == 1


async def test_the_first_caller_computes_and_the_others_wait_for_it() -> None:
    shared: Shared[int] = Shared(60.0)
    gate = asyncio.Event()
    calls = 0

    async def make() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 42

    waiting = [asyncio.create_task(shared.get("k", make)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [42] * 50
    assert calls == 1
    # a caller that gives up does not cancel the work for the others
    gate.clear()
    shared.forget()
    first = asyncio.create_task(shared.get("k", make))
    second = asyncio.create_task(shared.get("k", make))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == 42 and calls == 2


async def test_an_expired_value_is_answered_while_one_refresh_runs() -> None:
    clock = Clock()
    shared: Shared[int] = Shared(60.0, stale=True, clock=clock)
    value = 1
    gate = asyncio.Event()

    async def make() -> int:
        await gate.wait()
        return value

    gate.set()
    assert await shared.get("k", make) == 1
    clock.now += 61.0
    value = 2
    gate.clear()
    # expired: the old value at once, for every caller, and one refresh behind them
    assert [await shared.get("k", make) for _ in range(5)] == [1] * 5
    gate.set()
    await asyncio.sleep(0.01)
    assert await shared.get("k", make) == 2
    assert shared.computed == 2


async def test_an_error_reaches_the_waiting_callers_and_is_not_kept() -> None:
    shared: Shared[int] = Shared(60.0)
    attempts = 0

    async def failing() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0)
        raise RuntimeError("database went away")

    results = await asyncio.gather(
        shared.get("k", failing), shared.get("k", failing), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results) and attempts == 1

    async def works() -> int:
        return 7

    assert await shared.get("k", works) == 7


async def test_lanes_bound_how_many_computations_run_at_once() -> None:
    shared: Shared[int] = Shared(60.0, lanes=1)
    running = 0
    most = 0

    async def make() -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001)
        running -= 1
        return 0

    await asyncio.gather(*(shared.get(f"period-{i}", make) for i in range(20)))
    assert most == 1 and shared.computed == 20


@pytest.fixture
async def cached_world(settings: Settings) -> AsyncIterator[World]:
    """conftest's world served by an app that shares figures for a minute (as deployed)."""
    app = create_app(dataclasses.replace(settings, figures_cache_seconds=60.0), manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        world = World(client=client)
        await seed(world)
        yield world


@pytest.mark.in_process("counts the computations in the test's process")
async def test_anonymous_impact_callers_share_one_computation(
    cached_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.api import impact as api

    world = cached_world
    computed: list[Any] = []
    real = api.compute

    async def counting(period: Any, group_by: Any = None) -> Any:
        computed.append((period.start, period.end, group_by))
        return await real(period, group_by)

    monkeypatch.setattr(api, "compute", counting)
    query = "/api/v1/impact?from=2026-11-01&to=2026-11-30"
    answers = await asyncio.gather(*(world.get(query) for _ in range(20)))
    assert all(r.status_code == 200 for r in answers)
    assert len({r.text for r in answers}) == 1
    assert len(computed) == 1
    assert (await world.get(query)).text == answers[0].text and len(computed) == 1
    # another period is its own computation; an administrator's figures are worked out fresh
    assert (await world.get("/api/v1/impact?from=2026-11-02&to=2026-11-30")).status_code == 200
    assert len(computed) == 2
    assert (await world.get(query, who="admin")).status_code == 200
    assert len(computed) == 3
    # a write this process handles (a new center) makes the next caller's figures fresh
    r = await world.post(
        "/api/v1/centers",
        {"name": "漳县共享中心", "province": "甘肃省", "city": "定西市", "county": "漳县"},
        who="admin",
    )
    assert r.status_code == 201, r.text
    assert (await world.get(query)).status_code == 200
    assert len(computed) == 4
