"""Counting views: beacons through the API, the threshold and window rules at their edges,
retries and duplicates counted once, bad beacons refused, center screens as one viewer."""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from piccolo.querystring import QueryString

from hub import db, metrics, views
from hub.tables import (
    BeaconSeen,
    Course,
    LiveSession,
    SessionStatus,
    ViewerWindow,
    ViewPeak,
    ViewTally,
    Visibility,
)
from hub.views import ViewCounter
from plugins.self_hosted.provider import NAME as PROVIDER
from tests.conftest import World, flush_views, reseeded

pytestmark = pytest.mark.cross_process

WINDOW = 6 * 3600


@pytest.fixture
async def world(module_client: World) -> World:
    w = await reseeded(module_client)
    if w.cluster is None:
        counter(w).pending.clear()
    return w


CLOCKED = pytest.mark.in_process(
    "moves the counter's clock (a server's clock is the real one) or calls its flush"
)


def counter(world: World) -> ViewCounter:
    app = world.client._transport.app  # type: ignore[attr-defined]
    return app.state.views  # type: ignore[no-any-return]


class Clock:
    """A settable clock for the counter (epoch seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(world: World) -> Any:
    if world.cluster is not None:  # the servers' real clock: a test here does not move it
        yield Clock(datetime.now(UTC).timestamp())
        return
    c = counter(world)
    real = c.clock
    fake = Clock(datetime.now(UTC).timestamp())
    c.clock = fake
    c._last_beacon.clear()
    c._recent_ids.clear()
    c._sessions.clear()
    yield fake
    c.clock = real


async def new_session(world: World, status: str = "live", minutes_ago: int = 10) -> int:
    start = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    row = await LiveSession.insert(
        LiveSession(
            course=world.ids["course"],
            teacher=world.ids["teacher_id"],
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            status=status,
            provider=PROVIDER,
        )
    ).run()
    return int(row[0]["id"])


def beacon(
    viewer: str, seconds: float, clock: Clock, kind: str = "live", **over: Any
) -> dict[str, Any]:
    body = {
        "beacon_id": secrets.token_hex(8),
        "viewer_id": viewer,
        "kind": kind,
        "seconds": seconds,
        "at": datetime.fromtimestamp(clock.now, UTC).isoformat(),
    }
    body.update(over)
    return body


async def send(world: World, session_id: int, body: dict[str, Any], who: str | None = None) -> Any:
    return await world.post(f"/api/v1/sessions/{session_id}/beacons", body, who=who)


async def watch(
    world: World,
    clock: Clock,
    session_id: int,
    viewer: str,
    total: float,
    step: float = 10,
    kind: str = "live",
) -> None:
    """One viewer watching ``total`` seconds, a beacon every ``step`` seconds of clock."""
    left = total
    while left > 0:
        part = min(step, left)
        clock.now += part
        r = await send(world, session_id, beacon(viewer, part, clock, kind=kind))
        assert r.status_code == 202, r.text
        left -= part


async def tallies(session_id: int) -> dict[str, float]:
    rows = await ViewTally.select().where(ViewTally.session_id == session_id).run()
    out = {"views": 0, "center_views": 0, "seconds": 0.0}
    for r in rows:
        out["views"] += r["views"]
        out["center_views"] += r["center_views"]
        out["seconds"] += r["seconds_watched"]
    return out


async def taken(world: World) -> set[str]:
    """Ids of the beacons a server holds or wrote (a refused one must not be among them).

    On the cluster: one marker beacon to each server, their flushes awaited (a flush writes
    everything taken before), and the ids in ``beacon_seen`` other than the markers."""
    if world.cluster is None:
        return {b.beacon_id for b in counter(world).pending}
    live = await new_session(world)
    for n in range(len(world.cluster.ports)):
        body = beacon(f"marker-viewer-{n}", 1, Clock(datetime.now(UTC).timestamp()))
        assert (await send(world, live, body, who="admin")).status_code == 202
        MARKERS.add(body["beacon_id"])
    await flush_views(world)
    seen = {r["beacon_id"] for r in await BeaconSeen.select(BeaconSeen.beacon_id).run()}
    return seen - MARKERS


MARKERS: set[str] = set()


HUB_TZ = ZoneInfo("Asia/Shanghai")


def at_window_start(clock: Clock, offset: float = 0, tz: ZoneInfo = HUB_TZ) -> None:
    """Move the clock into a fresh window (of the hub's zone), ``offset`` s after its start."""
    clock.now = views.window_start(clock.now, 6, tz) + WINDOW + offset


# ------------------------------------------------------------------------------ threshold


@CLOCKED
async def test_a_view_counts_at_the_threshold_not_before(world: World, clock: Clock) -> None:
    session = await new_session(world)
    at_window_start(clock, 60)
    await watch(world, clock, session, "viewer-below", 9.999, step=3.333)
    # beacons at 5, 10 and 15 s: the server saw this viewer for exactly 10 s
    await watch(world, clock, session, "viewer-exact", 15, step=5)
    await watch(world, clock, session, "viewer-longer", 95, step=10)
    result = await counter(world).flush()
    assert result.views == 2
    figures = await tallies(session)
    assert figures["views"] == 2
    assert figures["seconds"] == pytest.approx(9.999 + 15 + 95)
    windows = {
        r["millis"]: r["counted"]
        for r in await ViewerWindow.select().where(ViewerWindow.session_id == session).run()
    }
    assert windows == {9999: False, 15000: True, 95000: True}


@CLOCKED
async def test_the_threshold_reached_over_several_flushes_counts_once(
    world: World, clock: Clock
) -> None:
    session = await new_session(world)
    at_window_start(clock, 60)
    for _ in range(6):  # 6 flushes of 4 s: crosses 10 s in the third
        await watch(world, clock, session, "slow-viewer", 4, step=4)
        await counter(world).flush()
    assert (await tallies(session))["views"] == 1


# ------------------------------------------------------------------------------ window


@CLOCKED
async def test_once_per_viewer_per_window_and_again_in_the_next(world: World, clock: Clock) -> None:
    session = await new_session(world, status="ended", minutes_ago=120)
    at_window_start(clock, WINDOW - 30)  # 30 s before the window ends
    for _ in range(2):
        await watch(
            world, clock, session, "family-1", 12, step=6, kind="replay"
        )  # counts, twice the threshold
    await counter(world).flush()
    assert (await tallies(session))["views"] == 1
    # the clock is 6 s before the end: 5 s there and 6 s after do not add up across windows
    await watch(world, clock, session, "family-2", 5, step=5, kind="replay")
    await watch(world, clock, session, "family-2", 6, step=6, kind="replay")
    # the next window: family-1 counts again
    await watch(world, clock, session, "family-1", 20, step=10, kind="replay")
    await counter(world).flush()
    assert (await tallies(session))["views"] == 2
    rows = await ViewerWindow.select(ViewerWindow.window_start, ViewerWindow.millis).run()
    assert len({r["window_start"] for r in rows}) == 2


# ------------------------------------------------------------------------------ exactly once


@CLOCKED
async def test_a_resent_beacon_counts_once(world: World, clock: Clock) -> None:
    session = await new_session(world)
    at_window_start(clock, 60)
    clock.now += 10
    body = beacon("resender", 10, clock)
    first = await send(world, session, body)
    again = await send(world, session, body)
    assert first.json() == {"accepted": True, "duplicate": False}
    assert again.json() == {"accepted": True, "duplicate": True}
    clock.now += 10
    assert (await send(world, session, beacon("resender", 10, clock))).status_code == 202
    await counter(world).flush()
    # another process (no memory of it) gets the same beacon: written before, a duplicate
    other = ViewCounter(counter(world).settings, clock=clock)
    assert not await other.accept(
        session,
        beacon_id=body["beacon_id"],
        viewer_id="resender",
        kind="live",
        seconds=10,
        at=datetime.fromtimestamp(clock.now, UTC),
        address="10.0.0.9",
    )
    result = await other.flush()
    assert (result.beacons, result.fresh, result.views) == (0, 0, 0)
    # after a restart (a process with no memory of it) the resent beacon is a duplicate
    with hub_counter(world, clock):
        assert (await send(world, session, body)).json() == {"accepted": True, "duplicate": True}
    figures = await tallies(session)
    assert figures["views"] == 1
    assert figures["seconds"] == pytest.approx(20)


@CLOCKED
async def test_a_failed_flush_is_retried_and_counts_once(
    world: World, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await new_session(world)
    at_window_start(clock, 60)
    await watch(world, clock, session, "viewer-1", 20)
    await watch(world, clock, session, "viewer-2", 20)
    real = views._Conn.fetch

    async def failing(self: Any, sql: str, args: Any) -> Any:
        if sql.startswith("INSERT INTO view_tally"):
            raise RuntimeError("connection lost")
        return await real(self, sql, args)

    monkeypatch.setattr(views._Conn, "fetch", failing)
    with pytest.raises(RuntimeError):
        await counter(world).flush()
    assert len(counter(world).pending) == 4
    assert await ViewerWindow.count().run() == 0  # rolled back
    monkeypatch.setattr(views._Conn, "fetch", real)
    assert (await counter(world).flush()).views == 2
    # the commit succeeded but the answer was lost: the same batch written again adds nothing
    batch = [
        views.Beacon(b, session, "x" * 32, "live", 10_000, clock.now + 10 * n)
        for n, b in enumerate(("b1", "b2"))
    ]
    s = counter(world).settings
    await views.write_batch(batch, s, counter(world).tz, clock.now)
    replay = await views.write_batch(batch, s, counter(world).tz, clock.now)
    assert replay.fresh == 0
    figures = await tallies(session)
    assert figures["views"] == 3
    assert figures["seconds"] == pytest.approx(60)


# ------------------------------------------------------------------------------ refused


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"seconds": -1}, 400, None),
        ({"seconds": 61}, 400, "seconds"),
        ({"kind": "download"}, 400, None),
        ({"viewer_id": "short"}, 400, None),
        ({"viewer_id": "名字名字名字名字名字"}, 400, None),
        ({"extra": 1}, 400, None),
        ({"seconds": "10"}, 400, "seconds"),
        ({"kind": 1}, 400, "kind"),
        ({"at": 1764547200}, 400, "at"),
        ({"at": "2026-11-23T10:00:00"}, 400, "at"),
        ("future", 400, "at"),
        ("old", 400, "at"),
    ],
    ids=[
        "negative",
        "too-long",
        "kind",
        "short-id",
        "non-ascii-id",
        "unknown-field",
        "seconds-as-text",
        "kind-as-number",
        "at-as-number",
        "naive",
        "future",
        "old",
    ],
)
async def test_bad_beacons_are_refused_and_count_nothing(
    world: World, clock: Clock, change: Any, status: int, field: str | None
) -> None:
    session = await new_session(world)
    body = beacon("careful-viewer", 10, clock)
    if change == "future":
        body["at"] = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    elif change == "old":
        body["at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    else:
        body.update(change)
    r = await send(world, session, body)
    assert r.status_code == status, r.text
    if field:
        assert r.json()["extra"][0]["key"] == field
    assert await taken(world) == set()


@pytest.mark.in_process("the wall-time check keeps a viewer's last beacon in one process's memory")
async def test_more_seconds_than_wall_time_is_refused(world: World, clock: Clock) -> None:
    session = await new_session(world)
    clock.now += 1
    assert (await send(world, session, beacon("fast-viewer", 10, clock))).status_code == 202
    clock.now += 5
    r = await send(world, session, beacon("fast-viewer", 30, clock))
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "seconds"
    assert len(counter(world).pending) == 1


@pytest.mark.in_process("the wall-time check keeps a viewer's last beacon in one process's memory")
async def test_a_stalled_server_still_takes_beacons_the_player_sent_apart(
    world: World, clock: Clock
) -> None:
    session = await new_session(world)
    clock.now += 1

    def sent(seconds_ago: float) -> str:
        return datetime.fromtimestamp(clock.now - seconds_ago, UTC).isoformat()

    # the server handles three beacons at one moment; the player sent them 9 s and 31 s apart
    first = beacon("patient-viewer", 5, clock, at=sent(40))
    assert (await send(world, session, first)).status_code == 202
    second = beacon("patient-viewer", 9, clock, at=sent(31))
    assert (await send(world, session, second)).status_code == 202
    # the players' clock is trusted only views.STALL_ALLOWANCE (30 s) beyond the server's
    third = beacon("patient-viewer", 40, clock, at=sent(0))
    assert (await send(world, session, third)).status_code == 400
    assert len(counter(world).pending) == 2
    # one sent between the first two that arrives last is taken: it covers an earlier stretch
    between = beacon("patient-viewer", 8, clock, at=sent(35))
    assert (await send(world, session, between)).status_code == 202
    third = beacon("patient-viewer", 40, clock, at=sent(0))  # and the check still holds
    assert (await send(world, session, third)).status_code == 400


async def test_sessions_that_cannot_be_watched(world: World, clock: Clock) -> None:
    cancelled = await new_session(world, status=SessionStatus.cancelled)
    assert (await send(world, cancelled, beacon("a-viewer", 5, clock))).status_code == 409
    later = await new_session(world, status="scheduled", minutes_ago=-24 * 60)
    assert (await send(world, later, beacon("a-viewer", 5, clock))).status_code == 409
    r = await send(world, later, beacon("a-viewer", 5, clock, kind="replay"))
    assert r.status_code == 409
    assert (await send(world, 999_999, beacon("a-viewer", 5, clock))).status_code == 404


@pytest.mark.in_process("rate limits are per process (documented)")
async def test_rate_limits_answer_429_with_retry_after(world: World, clock: Clock) -> None:
    session = await new_session(world)
    limit = counter(world).settings.view_rate_viewer
    clock.now = (clock.now // 60) * 60 + 1
    codes = []
    for _ in range(limit + 2):
        codes.append((await send(world, session, beacon("chatty-viewer", 0, clock))).status_code)
    assert codes[:limit] == [202] * limit
    assert codes[limit:] == [429, 429]
    r = await send(world, session, beacon("chatty-viewer", 0, clock))
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert (await send(world, session, beacon("someone-else", 0, clock))).status_code == 202
    clock.now += 60
    assert (await send(world, session, beacon("chatty-viewer", 0, clock))).status_code == 202


async def test_address_limit() -> None:
    limiter = views.RateLimiter(3)
    assert [limiter.hit("a", 120.0) for _ in range(4)] == [0, 0, 0, 60]
    assert limiter.hit("a", 150.0) == 30
    assert limiter.hit("a", 180.0) == 0
    assert views.RateLimiter(0).hit("a", 1.0) == 0


# ------------------------------------------------------------------------------ center screens


@CLOCKED
async def test_a_center_screen_is_one_viewer(world: World, clock: Clock) -> None:
    session = await new_session(world)
    at_window_start(clock, 60)
    for browser in ("classroom-pc-1", "classroom-pc-2"):
        clock.now += 10
        r = await send(world, session, beacon(browser, 10, clock), who="center")
        assert r.status_code == 202
    await watch(world, clock, session, "home-viewer", 20, step=10)
    await counter(world).flush()
    figures = await tallies(session)
    assert (figures["views"], figures["center_views"]) == (2, 1)
    centers = await ViewerWindow.select(ViewerWindow.center_id).run()
    assert sorted(r["center_id"] or 0 for r in centers) == [0, world.ids["center"]]


# ------------------------------------------------------------------------------ concurrency


@CLOCKED
async def test_concurrent_viewers_and_peak(world: World, clock: Clock) -> None:
    session = await new_session(world)
    clock.now = datetime.now(UTC).timestamp()
    for n in range(5):
        r = await send(world, session, beacon(f"concurrent-{n}", 1, clock))
        assert r.status_code == 202, r.text
    await counter(world).flush()
    r = await world.get(f"/api/v1/sessions/{session}/views")
    assert r.status_code == 200
    assert r.json()["concurrent_viewers"] == 5
    assert r.json()["peak_concurrent"] == 5
    clock.now += 45  # the five left; two others come
    for n in range(2):
        r = await send(world, session, beacon(f"later-viewer-{n}", 1, clock))
        assert r.status_code == 202, r.text
    await counter(world).flush()
    assert await views.concurrent_viewers(session, counter(world).settings, now=clock.now) == 2
    peak = await ViewPeak.select().where(ViewPeak.session_id == session).first().run()
    assert peak is not None and peak["peak"] == 5
    assert (await world.get("/api/v1/sessions/999999/views")).status_code == 404


@CLOCKED
async def test_the_flush_loop_runs_and_flushes_on_stop(world: World) -> None:
    session = await new_session(world)
    fake = Clock(datetime.now(UTC).timestamp())
    c = ViewCounter(counter(world).settings, clock=fake)
    async with views.running(c):
        for n in range(2):
            fake.now += 10
            await c.accept(
                session,
                beacon_id=f"loop-beacon-{n}",
                viewer_id="loop-viewer",
                kind="live",
                seconds=10,
                at=datetime.fromtimestamp(fake.now, UTC),
                address="127.0.0.1",
            )
    assert c.pending == []
    assert (await tallies(session))["views"] == 1


async def test_centers_only_sessions_count_only_signed_in_viewers(
    world: World, clock: Clock
) -> None:
    await Course.update({Course.visibility: Visibility.centers.value}).where(
        Course.id == world.ids["course"]
    )
    session = await new_session(world)
    assert (await send(world, session, beacon("anonymous", 5, clock))).status_code == 404
    assert await taken(world) == set()
    body = beacon("a-center-screen", 5, clock)
    r = await send(world, session, body, who="center")
    assert r.status_code == 202
    assert await taken(world) == {body["beacon_id"]}


# ------------------------------------------------------------------------------ local days


@contextlib.contextmanager
def hub_counter(world: World, clock: Clock, **changes: Any) -> Iterator[ViewCounter]:
    """The app counts with a counter of changed settings (another zone, other limits)."""
    app = world.client._transport.app  # type: ignore[attr-defined]
    real = app.state.views
    swapped = ViewCounter(dataclasses.replace(real.settings, **changes), clock=clock)
    app.state.views = swapped
    try:
        yield swapped
    finally:
        app.state.views = real


async def day_tallies(session_id: int) -> dict[str, tuple[int, float]]:
    """Our own SQL over what was written: views and seconds per day, and viewers' days."""
    rows = await db.engine().run_querystring(
        QueryString(
            "SELECT day, SUM(views) AS v, SUM(seconds_watched) AS s FROM view_tally "
            "WHERE session_id = {} GROUP BY day",
            session_id,
        )
    )
    return {str(r["day"]): (int(r["v"]), round(float(r["s"]), 3)) for r in rows}


@CLOCKED
@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/Bogota"])
async def test_a_view_its_viewer_and_seconds_belong_to_the_local_day_watched(
    world: World, clock: Clock, zone: str
) -> None:
    tz = ZoneInfo(zone)
    session = await new_session(world)
    with hub_counter(world, clock, timezone=zone) as c:
        # 00:23 local on the first of the month: a UTC-aligned window started the day before
        clock.now = datetime(2026, 12, 1, 0, 23, tzinfo=tz).timestamp()
        for n in range(3):
            await watch(world, clock, session, f"early-viewer-{n}", 30, step=10)
        # and watching 00:00-02:00 local on the same day
        clock.now = datetime(2026, 12, 1, 1, 50, tzinfo=tz).timestamp()
        await watch(world, clock, session, "late-night", 20, step=10)
        assert (await c.flush()).views == 4
    assert await day_tallies(session) == {"2026-12-01": (4, 110.0)}
    days = {str(r["day"]) for r in await ViewerWindow.select(ViewerWindow.day).run()}
    assert days == {"2026-12-01"}
    if zone == "Asia/Shanghai":  # the hub's zone: the impact figures of the day and month
        day = (await world.get("/api/v1/impact?from=2026-12-01&to=2026-12-01")).json()
        assert (day["totals"]["live_views"], day["totals"]["unique_viewers"]) == (4, 4)
        november = (await world.get("/api/v1/impact?from=2026-11-01&to=2026-11-30")).json()
        assert november["totals"]["online_views"] == 0


@CLOCKED
async def test_a_window_never_crosses_local_midnight(world: World, clock: Clock) -> None:
    session = await new_session(world)
    tz = ZoneInfo("America/Bogota")
    with hub_counter(world, clock, timezone="America/Bogota") as c:
        clock.now = datetime(2026, 11, 30, 23, 59, 35, tzinfo=tz).timestamp()
        await watch(world, clock, session, "night-owl", 50, step=10)  # 23:59:45 .. 00:00:25
        await c.flush()
    rows = await ViewerWindow.select().order_by(ViewerWindow.window_start).run()
    assert [(str(r["day"]), r["millis"], r["counted"]) for r in rows] == [
        ("2026-11-30", 20_000, True),
        ("2026-12-01", 30_000, True),
    ]
    assert rows[1]["window_start"] == datetime(2026, 12, 1, tzinfo=tz).timestamp()
    assert await day_tallies(session) == {"2026-11-30": (1, 20.0), "2026-12-01": (1, 30.0)}


# ------------------------------------------------------------------------------ earned views


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or None) or 0.0


@CLOCKED
async def test_views_are_earned_in_server_time_not_claimed(world: World, clock: Clock) -> None:
    session = await new_session(world)
    at_window_start(clock, 60)
    suspect = sample("sharehub_beacons_suspect_total", reason="first_claim")
    # 100 fresh ids from one address, each claiming a minute, within 1.6 s: no view
    for n in range(100):
        clock.now += 0.016
        r = await send(world, session, beacon(f"made-up-{n:03d}", 60, clock))
        assert r.status_code == 202, r.text
    assert sample("sharehub_beacons_suspect_total", reason="first_claim") == suspect + 100
    # one id claiming a minute, then again 5 s later: seen 5 s by the server, no view
    await watch(world, clock, session, "quick-claimer", 65, step=60)
    assert (await counter(world).flush()).views == 0
    assert (await tallies(session))["views"] == 0
    # the same viewer seen again 5 s later: 10 s of server time across three beacons, a view
    clock.now += 5
    assert (await send(world, session, beacon("quick-claimer", 5, clock))).status_code == 202
    assert (await counter(world).flush()).views == 1
    assert (await tallies(session))["views"] == 1


@CLOCKED
async def test_new_viewers_per_address_are_limited(world: World, clock: Clock) -> None:
    session = await new_session(world)
    clock.now = (clock.now // 60) * 60 + 1
    refused = sample("sharehub_beacons_refused_total", reason="new_viewers")
    with hub_counter(world, clock, view_new_viewers_per_minute=5):
        codes = [
            (await send(world, session, beacon(f"fresh-viewer-{n}", 5, clock))).status_code
            for n in range(7)
        ]
        assert codes == [202] * 5 + [429] * 2
        # those already seen go on; the refused ones are taken in the next minute
        clock.now += 10
        assert (await send(world, session, beacon("fresh-viewer-0", 10, clock))).status_code == 202
        clock.now += 60
        assert (await send(world, session, beacon("fresh-viewer-6", 5, clock))).status_code == 202
    assert sample("sharehub_beacons_refused_total", reason="new_viewers") == refused + 2
    text = (await world.client.get("/metrics")).text
    assert 'sharehub_beacons_refused_total{reason="new_viewers"}' in text
    assert "sharehub_beacons_suspect_total" in text
    assert counter(world).settings.view_new_viewers_per_minute == 600  # the default
