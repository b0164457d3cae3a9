"""Issue 23: the figures summed in SQL (sessions, teaching time, bookings, check-ins, child
visits, per group) and the view figures read from the rollups the beacon flush keeps
(``center_day_tally``, ``viewer_first``) equal the figures accumulated row by row and counted
from the viewer windows (``compute(..., direct=True)``), for random periods over generated
classes (every status, streamed or not, some still to come), bookings, check-ins and views
that cross day and month (and year) boundaries, in the hub's zone and in a second one; and
the migration that fills the rollups from the windows of an existing programme makes the
same figures."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from hub import db, views
from hub.impact import FAR_PAST, GroupBy, Period, compute, span_of
from hub.migrations import hub_2026_12_03t23_00_01_000000_view_rollups_fill as fill
from hub.pages import impact_view
from hub.tables import Booking, LiveSession, ShareCenter
from plugins.self_hosted.provider import NAME as PROVIDER
from tests.conftest import World, app_settings, reseeded

pytestmark = pytest.mark.cross_process

NOW = datetime(2027, 1, 20, tzinfo=UTC)
FIRST = date(2026, 11, 27)
"""Views on the days FIRST .. FIRST + DAYS - 1: the end of November, December, into January."""
DAYS = 40
GROUPS = [None, GroupBy.center, GroupBy.province, GroupBy.teacher, GroupBy.course]


@pytest.fixture
async def world(module_client: World) -> World:
    return await reseeded(module_client)


async def add_center(name: str, province: str) -> int:
    row = await ShareCenter.insert(
        ShareCenter(name=name, province=province, city="市", county=name)
    ).run()
    return int(row[0]["id"])


async def add_session(
    world: World, course: str, starts: datetime, status: str = "ended", **extra: Any
) -> int:
    row = await LiveSession.insert(
        LiveSession(
            course=world.ids[course],
            teacher=world.ids["teacher_id" if course == "course" else "teacher2_id"],
            starts_at=starts,
            ends_at=starts + timedelta(minutes=45),
            status=status,
            provider=PROVIDER,
            **extra,
        )
    ).run()
    return int(row[0]["id"])


async def add_classes(world: World, rng: random.Random, tz: ZoneInfo, centers: list[int]) -> None:
    """Classes on most days, held or not (streamed for an odd number of microseconds,
    or not at all, or shorter than zero), some after ``NOW`` (their slot not over), each
    booked by some centers, most of which check in with a head count (some with none)."""
    for d in range(-3, DAYS + 70, 1):
        day = FIRST + timedelta(days=d)
        for _ in range(rng.randint(0, 2)):
            hour = rng.choice([0, 7, 9, 15, 23])
            starts = datetime(day.year, day.month, day.day, hour, 30, tzinfo=tz).astimezone(UTC)
            # (no "live": past classes left live are ended by the cluster's worker meanwhile)
            status = rng.choice(["ended", "archived", "scheduled", "cancelled"])
            extra: dict[str, Any] = {}
            if status != "scheduled" and rng.random() < 0.7:
                extra["live_at"] = starts + timedelta(seconds=rng.randint(0, 300))
                extra["ended_at"] = extra["live_at"] + timedelta(
                    seconds=rng.randint(-60, 3000), microseconds=rng.randint(0, 999_999)
                )
            session = await add_session(
                world, rng.choice(["course", "course2"]), starts, status, **extra
            )
            for center in rng.sample(centers, rng.randint(0, len(centers))):
                checked = rng.random() < 0.7 and status != "scheduled"
                await Booking.insert(
                    Booking(
                        session=session,
                        center=center,
                        checked_in_at=starts if checked else None,
                        children_present=rng.choice([None, 0, 7, 31]) if checked else None,
                    )
                ).run()


async def generate(world: World, tz: ZoneInfo, seed: int) -> None:
    """Sessions every other day; each day a random crowd of a shared pool of viewers (so
    viewers come back on other days, months and the next year) and of center screens, some
    watching just before and after local midnight, some too briefly to count, in several
    flushes (a viewer's window counted in a later flush than its first beacons)."""
    rng = random.Random(seed)
    settings = app_settings(world)
    gap = settings.view_threshold_seconds
    centers = [world.ids["center"], world.ids["center2"]]
    centers += [
        await add_center(f"测试中心{i}", rng.choice(["甘肃省", "云南省"])) for i in range(3)
    ]
    await add_classes(world, rng, tz, centers)
    sessions = []
    for d in range(0, DAYS, 2):
        day = FIRST + timedelta(days=d)
        starts = datetime(day.year, day.month, day.day, 9, tzinfo=tz).astimezone(UTC)
        sessions.append(await add_session(world, rng.choice(["course", "course2"]), starts))
    pool = [f"viewer{n:026d}" for n in range(60)]
    n = 0
    for d in range(DAYS):
        day = FIRST + timedelta(days=d)
        batches: list[list[views.Beacon]] = [[], []]
        for viewer in rng.sample(pool, rng.randint(0, 12)):
            # late evening, or just after midnight (the next local day)
            hour, minute = rng.choice([(20, 0), (23, 50), (0, 5)])
            at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).timestamp()
            center = rng.choice([None, None, *centers])
            kind = rng.choice(views.KINDS)
            session = rng.choice(sessions)
            seconds = rng.choice([5, 30, 90])
            for part in range(2):
                n += 1
                beacon = views.Beacon(
                    f"b{n}", session, viewer, kind, seconds * 500, at + part * gap, center
                )
                batches[part if rng.random() < 0.5 else 0].append(beacon)
        for batch in batches:
            if batch:
                latest = max(b.received for b in batch)
                await views.write_batch(batch, settings, tz, latest)


def random_periods(rng: random.Random, tz: ZoneInfo, count: int) -> list[Period]:
    last = FIRST + timedelta(days=DAYS)
    periods = [
        Period(FAR_PAST, FIRST + timedelta(days=10), tz),  # all, until a day
        Period(FAR_PAST, last, tz),
        Period(date(2026, 12, 1), date(2026, 12, 1), tz),  # a month's first day
        Period(date(2026, 12, 1), date(2026, 12, 17), tz),  # a month so far
        Period(date(2026, 12, 1), date(2026, 12, 31), tz),  # a whole month
        Period(date(2026, 1, 1), date(2026, 12, 31), tz),  # a year
        Period(date(2027, 1, 1), date(2027, 1, 3), tz),  # a new year so far
        Period(date(2026, 11, 30), date(2026, 12, 1), tz),  # across a month's end
        Period(date(2026, 12, 31), date(2027, 1, 1), tz),  # across a year's end
        Period(date(2026, 11, 1), date(2026, 12, 20), tz),  # months from a first day
        Period(date(2026, 12, 1), date(2027, 1, 9), tz),  # across a year from a first day
        Period(date(2026, 11, 1), date(2027, 2, 28), tz),  # a term
    ]
    for _ in range(count):
        a = FIRST - timedelta(days=2) + timedelta(days=rng.randint(0, DAYS + 3))
        b = a + timedelta(days=rng.randint(0, 20))
        periods.append(Period(a, b, tz))
    return periods


def as_dict(impact: Any) -> dict[str, Any]:
    return dict(msgspec.to_builtins(impact))


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[Any]:
    """The figures (of the totals and of each group) that differ: (where, name, got, want)."""
    out = [
        ("totals", k, v, want["totals"].get(k))
        for k, v in got["totals"].items()
        if v != want["totals"].get(k)
    ]
    wanted = {g["key"]: g for g in want["groups"]}
    for g in got["groups"]:
        w = wanted.pop(g["key"], {})
        out += [(g["key"], k, v, w.get(k)) for k, v in g.items() if v != w.get(k)]
    return out + [(key, "missing", None, None) for key in wanted]


async def assert_rollups_equal_direct(periods: list[Period]) -> int:
    """Every figure of every period and grouping equal both ways; how many used a span."""
    spans = 0
    for period in periods:
        spans += span_of(period) is not None
        for group_by in GROUPS:
            rolled = await compute(period, group_by, now=NOW)
            direct = await compute(period, group_by, now=NOW, direct=True)
            got, want = as_dict(rolled), as_dict(direct)
            assert got == want, (period, group_by, differences(got, want))
    return spans


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/Los_Angeles"])
async def test_figures_from_the_rollups_equal_the_direct_count(world: World, zone: str) -> None:
    tz = ZoneInfo(zone)
    await generate(world, tz, seed=23)
    rng = random.Random(zone)
    periods = random_periods(rng, tz, count=25)
    spans = await assert_rollups_equal_direct(periods)
    assert spans >= 7  # the span counts were exercised, not only the fallback
    assert sum(span_of(p) is None and p.start.day == 1 for p in periods) >= 3  # and months
    everything = await compute(Period(FAR_PAST, FIRST + timedelta(days=DAYS), tz), now=NOW)
    assert everything.totals.unique_viewers > 20 and everything.totals.center_screen_views > 0
    t = everything.totals
    assert t.checked_in > 10 and t.children_served > 0 and t.bookings_ended < t.bookings
    assert t.teaching_hours > 0 and t.counties_reached >= 3
    centers = await compute(Period(FAR_PAST, NOW.date(), tz), GroupBy.center, now=NOW)
    assert sum(g.unique_viewers for g in centers.groups) >= 3


async def test_the_migration_fills_the_rollups_from_the_windows(world: World) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    await generate(world, tz, seed=7)
    periods = random_periods(random.Random(7), tz, count=8)
    before = [as_dict(await compute(p, g, now=NOW)) for p in periods for g in GROUPS]
    # an existing programme: the windows are there, the rollups not yet
    engine = db.engine()
    for table in ("center_day_tally", "viewer_first"):
        await engine.run_ddl(f"DELETE FROM {table}")
    for statement in [fill.FILL_CENTERS, *fill.fill_viewers(db.is_sqlite())]:
        await engine.run_ddl(statement)
    after = [as_dict(await compute(p, g, now=NOW)) for p in periods for g in GROUPS]
    for got, want in zip(after, before, strict=True):
        assert got == want, differences(got, want)
    await assert_rollups_equal_direct(periods)


async def test_the_dashboard_figures_equal_the_impact_service(world: World) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    await generate(world, tz, seed=11)
    impact_view.forget()
    data = await impact_view.dashboard(tz)
    impact_view.forget()
    for first, views_in_week in data["views_per_week"]:
        week = Period(first, first + timedelta(days=6), tz)
        assert views_in_week == (await compute(week)).totals.online_views, first
    assert sum(v for _, v in data["views_per_week"]) > 0
    today = datetime.now(tz).date()
    everything = await compute(Period.of(None, None, tz, today=today))
    totals = msgspec.to_builtins(data["totals"])
    assert totals == msgspec.to_builtins(everything.totals)
    provinces = await compute(Period.of(None, None, tz, today=today), GroupBy.province)
    want = sorted(
        ((g.label, g.children_served) for g in provinces.groups), key=lambda x: (-x[1], x[0])
    )
    assert data["children_per_province"] == want
    assert sum(children for _, children in want) > 0
