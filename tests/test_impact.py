"""The impact figures service and API, checked against figures computed here from the rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub import views
from hub.impact import GroupBy, Period, compute
from hub.tables import Booking, LiveSession, ShareCenter
from plugins.self_hosted.provider import NAME as PROVIDER
from tests.conftest import World, app_settings, reseeded

pytestmark = pytest.mark.cross_process

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 10, 12)  # a Monday in the past


@pytest.fixture
async def world(module_client: World) -> World:
    return await reseeded(module_client)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).astimezone(UTC)


async def add_session(
    world: World, course: str, start: datetime, minutes: int, status: str, **extra: Any
) -> int:
    teacher = "teacher_id" if course == "course" else "teacher2_id"
    row = await LiveSession.insert(
        LiveSession(
            course=world.ids[course],
            teacher=world.ids[teacher],
            starts_at=start,
            ends_at=start + timedelta(minutes=minutes),
            status=status,
            **{"provider": PROVIDER, **extra},
        )
    ).run()
    return int(row[0]["id"])


async def add_booking(session: int, center: int, children: int | None) -> None:
    checked = children is not None
    await Booking.insert(
        Booking(
            session=session,
            center=center,
            checked_in_at=datetime.now(UTC) if checked else None,
            children_present=children,
        )
    ).run()


async def add_views(
    world: World,
    session: int,
    day: date,
    viewers: int,
    kind: str,
    seconds: int = 30,
    center_id: int | None = None,
    prefix: str = "v",
) -> None:
    """Each viewer watches ``seconds`` in two beacons the server took the view threshold
    apart (a view is earned in server time), from 10:00 local on ``day``."""
    settings = app_settings(world)
    received = at(day, 10).timestamp()
    gap = settings.view_threshold_seconds
    batch = [
        views.Beacon(
            f"{prefix}-{session}-{day}-{kind}-{n}-{part}",
            session,
            f"{prefix}{n:030d}"[:32],
            kind,
            seconds * 500,
            received + part * gap,
            center_id,
        )
        for n in range(viewers)
        for part in range(2)
    ]
    await views.write_batch(batch, settings, TZ, received + gap)


@pytest.fixture
async def programme(world: World) -> dict[str, Any]:
    return await make_programme(world)


async def make_programme(world: World) -> dict[str, Any]:
    """Two weeks: teacher 1 holds three classes (one streamed 40 of 45 minutes), teacher 2 one;
    one class scheduled later, one cancelled; two centers book and check in (not all)."""
    c1, c2 = world.ids["center"], world.ids["center2"]
    s1 = await add_session(
        world, "course", at(DAY, 9), 45, "ended", live_at=at(DAY, 9, 2), ended_at=at(DAY, 9, 42)
    )
    s2 = await add_session(world, "course", at(DAY + timedelta(days=2), 9), 45, "ended")
    s3 = await add_session(world, "course2", at(DAY + timedelta(days=3), 14), 60, "archived")
    s4 = await add_session(world, "course", at(DAY + timedelta(days=9), 9), 45, "ended")
    later = await add_session(world, "course2", at(DAY + timedelta(days=10), 9), 45, "scheduled")
    cancelled = await add_session(world, "course2", at(DAY + timedelta(days=4), 9), 45, "cancelled")
    await add_booking(s1, c1, 31)
    await add_booking(s1, c2, 12)
    await add_booking(s2, c1, None)  # booked, never came
    await add_booking(s3, c2, 20)
    await add_booking(s4, c1, 28)
    await add_booking(later, c1, None)
    await add_booking(cancelled, c2, 50)  # never counts
    await add_views(world, s1, DAY, 7, "live")
    await add_views(world, s1, DAY, 1, "live", center_id=c1, prefix="c")
    await add_views(world, s1, DAY + timedelta(days=5), 4, "replay")  # same viewers, later day
    await add_views(world, s3, DAY + timedelta(days=3), 3, "live", seconds=5)  # below threshold
    await add_views(world, s4, DAY + timedelta(days=9), 2, "live")
    return {"s": [s1, s2, s3, s4, later, cancelled], "c1": c1, "c2": c2}


async def test_programme_totals(world: World, programme: dict[str, Any]) -> None:
    week = Period(DAY, DAY + timedelta(days=6), TZ)
    t = (await compute(week)).totals
    assert t.sessions_held == 3 and t.teachers_taught == 2 and t.courses_held == 2
    assert t.teaching_hours == pytest.approx(40 / 60 + 45 / 60 + 1, abs=0.01)
    assert (t.bookings, t.checked_in, t.children_served) == (4, 3, 31 + 12 + 20)
    assert t.attendance_rate == pytest.approx(3 / 4)
    assert (t.centers_active, t.provinces_reached, t.counties_reached) == (2, 2, 2)
    assert (t.live_views, t.replay_views, t.online_views) == (8, 4, 12)
    assert t.center_screen_views == 1
    assert t.unique_viewers == 8  # the replay viewers watched live too
    assert t.replay_hours_watched == pytest.approx(4 * 30 / 3600, abs=0.01)
    assert t.live_hours_watched == pytest.approx((8 * 30 + 3 * 5) / 3600, abs=0.01)

    whole = (await compute(Period(DAY, DAY + timedelta(days=13), TZ))).totals
    assert whole.sessions_held == 4 and whole.children_served == 91
    assert whole.bookings == 6 and whole.checked_in == 4  # the later class is booked only
    assert whole.online_views == 14


async def test_groups_add_up_to_the_totals(world: World, programme: dict[str, Any]) -> None:
    period = Period(DAY, DAY + timedelta(days=13), TZ)
    totals = (await compute(period)).totals
    for group_by in GroupBy:
        impact = await compute(period, group_by)
        assert impact.totals == totals
        groups = impact.groups
        assert sum(g.children_served for g in groups) == totals.children_served, group_by
        assert sum(g.bookings for g in groups) == totals.bookings, group_by
        if group_by in (GroupBy.teacher, GroupBy.course):
            assert sum(g.sessions_held for g in groups) == totals.sessions_held
            assert sum(g.online_views for g in groups) == totals.online_views
            assert sum(g.teaching_hours for g in groups) == pytest.approx(totals.teaching_hours)
    by_center = {g.key: g for g in (await compute(period, GroupBy.center)).groups}
    c1 = by_center[str(programme["c1"])]
    assert (c1.children_served, c1.sessions_held, c1.center_screen_views) == (59, 2, 1)
    assert c1.attendance_rate == pytest.approx(2 / 3, abs=1e-4)  # the later class never held
    assert c1.label == "镇雄共享中心"
    by_teacher = {g.label: g for g in (await compute(period, GroupBy.teacher)).groups}
    assert by_teacher["teacher老师"].sessions_held == 3
    assert by_teacher["teacher2老师"].sessions_held == 1


async def test_period_edges_are_days_in_the_hub_time_zone(world: World) -> None:
    # 23:30 in Beijing on the 12th is 15:30 UTC the 12th; 00:30 on the 13th is 16:30 UTC the 12th
    late = await add_session(world, "course", at(DAY, 23, 30), 20, "ended")
    early = await add_session(world, "course2", at(DAY + timedelta(days=1), 0, 30), 20, "ended")
    first = await compute(Period(DAY, DAY, TZ))
    second = await compute(Period(DAY + timedelta(days=1), DAY + timedelta(days=1), TZ))
    assert first.totals.sessions_held == 1 and second.totals.sessions_held == 1
    assert {late, early}


async def test_api_headline_is_public_breakdowns_are_admin(
    world: World, programme: dict[str, Any]
) -> None:
    query = f"?from={DAY}&to={DAY + timedelta(days=6)}"
    r = await world.get("/api/v1/impact" + query)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["totals"]["children_served"] == 63
    assert body["groups"] == []
    assert (await world.get(f"/api/v1/impact{query}&group_by=center")).status_code == 403
    r = await world.get(f"/api/v1/impact{query}&group_by=center", who="teacher")
    assert r.status_code == 403
    r = await world.get(f"/api/v1/impact{query}&group_by=province", who="admin")
    assert r.status_code == 200
    assert {g["key"] for g in r.json()["groups"]} == {"云南省", "贵州省"}
    assert (await world.get("/api/v1/impact?group_by=planet", who="admin")).status_code == 400
    r = await world.get(f"/api/v1/impact?from={DAY}&to={DAY - timedelta(days=1)}")
    assert r.status_code == 400
    assert (await world.get("/api/v1/impact?from=yesterday")).status_code == 400


async def test_no_data_gives_zeros_not_errors(world: World) -> None:
    impact = await compute(Period(DAY, DAY, TZ), GroupBy.province)
    assert impact.totals.online_views == 0 and impact.totals.attendance_rate is None
    assert impact.groups == []
    assert await ShareCenter.count().run() == 2


async def test_peak_is_the_highest_of_the_periods_sessions(
    world: World, programme: dict[str, Any]
) -> None:
    week = Period(DAY, DAY + timedelta(days=6), TZ)
    assert (await compute(week)).totals.peak_concurrent == 8  # s1: 7 viewers and a center
    # a class whose status the hub never moved to live (an external link), watched by 12
    unmoved = await add_session(world, "course2", at(DAY + timedelta(days=1), 9), 45, "scheduled")
    await add_views(world, unmoved, DAY + timedelta(days=1), 12, "live", prefix="u")
    impact = await compute(week)
    assert impact.totals.peak_concurrent == 12
    assert impact.totals.sessions_held == 3  # still not held
    for group_by in (GroupBy.course, GroupBy.teacher):
        groups = (await compute(week, group_by)).groups
        assert max(g.peak_concurrent for g in groups) == 12
    r = await world.get(f"/api/v1/impact?from={DAY}&to={DAY + timedelta(days=6)}")
    assert r.json()["totals"]["peak_concurrent"] == 12


async def test_attendance_rate_counts_only_held_classes_whose_slot_ended(
    world: World, programme: dict[str, Any]
) -> None:
    c1, c2 = programme["c1"], programme["c2"]
    now = datetime.now(UTC)
    # a class on air now (one center already in) and one next week, both booked
    on_air = await add_session(world, "course", now - timedelta(minutes=10), 60, "live")
    await add_booking(on_air, c1, 25)
    await add_booking(on_air, c2, None)
    coming = await add_session(world, "course2", now + timedelta(days=7), 45, "scheduled")
    await add_booking(coming, c1, None)
    await add_booking(coming, c2, None)
    to_day = (await compute(Period(DAY, DAY + timedelta(days=13), TZ))).totals
    # held and ended: s1 (2 of 2), s2 (0 of 1), s3 (1 of 1), s4 (1 of 1); the later class was
    # never held
    assert to_day.attendance_rate == pytest.approx(4 / 5)
    assert (to_day.bookings_ended, to_day.checked_in_ended) == (5, 4)
    term_end = now.astimezone(TZ).date() + timedelta(days=60)
    term = (await compute(Period(DAY, term_end, TZ))).totals
    assert term.attendance_rate == pytest.approx(4 / 5)
    assert (term.bookings, term.checked_in) == (10, 5)
    by_center = {
        g.key: g for g in (await compute(Period(DAY, term_end, TZ), GroupBy.center)).groups
    }
    assert by_center[str(c1)].attendance_rate == pytest.approx(2 / 3, abs=1e-4)  # s1, s2, s4


async def test_child_visits_and_children_reached_by_enrolment(
    world: World, programme: dict[str, Any]
) -> None:
    c1, c2 = programme["c1"], programme["c2"]
    url = "/api/v1/centers/{}/enrolment"
    for center, who, children, since in (
        (c1, "center", 120, "2026-09-01"),
        (c1, "center", 150, str(DAY + timedelta(days=8))),  # the center grew mid-period
        (c2, "admin", 80, "2026-09-01"),
    ):
        r = await world.post(
            url.format(center), {"children": children, "effective_from": since}, who=who
        )
        assert r.status_code == 201, r.text
    history = (await world.get(url.format(c1), who="center")).json()
    assert [(h["children"], h["effective_from"]) for h in history] == [
        (150, str(DAY + timedelta(days=8))),
        (120, "2026-09-01"),
    ]
    assert (await world.get(url.format(c1), who="center2")).status_code == 403
    bad = await world.post(url.format(c1), {"children": -1}, who="center")
    assert bad.status_code == 400
    week = (await world.get(f"/api/v1/impact?from={DAY}&to={DAY + timedelta(days=6)}")).json()
    # child visits: head counts added up (31 + 12 + 20); reached: both centers' enrolment
    assert week["totals"]["children_served"] == 63
    assert week["totals"]["children_reached"] == 120 + 80
    fortnight = f"from={DAY}&to={DAY + timedelta(days=13)}"
    totals = (await world.get(f"/api/v1/impact?{fortnight}")).json()["totals"]
    assert totals["children_reached"] == 150 + 80
    provinces = (
        await world.get(f"/api/v1/impact?{fortnight}&group_by=province", who="admin")
    ).json()
    assert {g["key"]: g["children_reached"] for g in provinces["groups"]} == {
        "云南省": 150,
        "贵州省": 80,
    }
    from hub.reporting import FIGURE_LABELS

    assert FIGURE_LABELS["children_served"] == (
        "线下服务儿童人次",
        "Child visits (check-in head counts)",
    )
    assert "children_reached" in FIGURE_LABELS


async def test_the_method_page_defines_every_figure(world: World) -> None:
    zh = await world.client.get("/impact/method", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 200
    assert "各项数字如何计算" in zh.text and "人次" in zh.text and "覆盖儿童" in zh.text
    en = await world.client.get("/impact/method", headers={"Accept-Language": "en"})
    assert en.status_code == 200
    assert "How each figure is counted" in en.text and "Child visits" in en.text
