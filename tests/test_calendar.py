"""The .ics feeds, read back with the ``icalendar`` package: the public schedule, a teacher's,
a center's. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar

from tests.conftest import World


def at(days: float, hour: int = 9) -> datetime:
    """A whole hour ``days`` from now, in UTC (feeds hold the last 30 days and the future)."""
    base = (datetime.now(UTC) + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    return base.replace(hour=hour)


async def add_session(world: World, course: str, who: str, start: datetime) -> int:
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids[course],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=45)).isoformat(),
        },
        who=who,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@dataclass
class Programme:
    a: int  # teacher, public, booked by center
    b: int  # teacher, public, cancelled
    c: int  # teacher2, public, booked by center2
    hidden: int  # teacher2, centers-only course, booked by center
    old: int  # teacher, public, 40 days ago (out of the feeds' window)
    recent: int  # teacher, public, 10 days ago (inside it)
    starts: dict[int, datetime]


async def programme(world: World) -> Programme:
    r = await world.post(
        "/api/v1/courses",
        {
            "title": "乡村阅读会",
            "subject": "阅读",
            "teacher_id": world.ids["teacher2_id"],
            "visibility": "centers",
        },
        who="admin",
    )
    world.ids["hidden_course"] = r.json()["id"]
    starts = {}
    p: dict[str, int] = {}
    for name, course, who, start in (
        ("a", "course", "teacher", at(2, 1)),
        ("b", "course", "teacher", at(3, 1)),
        ("c", "course2", "teacher2", at(2, 6)),
        ("hidden", "hidden_course", "teacher2", at(4, 2)),
        ("old", "course", "admin", at(-40, 1)),  # classes held: an administrator records them
        ("recent", "course", "admin", at(-10, 1)),
    ):
        p[name] = await add_session(world, course, who, start)
        starts[p[name]] = start
    assert (await world.post(f"/api/v1/sessions/{p['b']}/cancel", who="teacher")).status_code == 200
    for session, center in (
        ("a", "center"),
        ("c", "center2"),
        ("hidden", "center"),
        ("recent", "center"),
    ):
        r = await world.post(
            f"/api/v1/sessions/{p[session]}/bookings",
            {"center_id": world.ids[center]},
            who=center,
        )
        assert r.status_code == 201, r.text
    return Programme(starts=starts, **p)


async def feed(world: World, url: str) -> tuple[Any, dict[int, Any]]:
    r = await world.client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    assert r.headers["content-type"].count("charset") == 1, r.headers["content-type"]
    cal = icalendar.Calendar.from_ical(r.content)
    assert cal.name == "VCALENDAR" and str(cal["VERSION"]) == "2.0"
    events = [c for c in cal.walk() if c.name == "VEVENT"]
    by_session: dict[int, Any] = {}
    for event in events:
        uid = str(event["UID"])
        assert uid.startswith("session-") and "@" in uid
        session_id = int(uid.removeprefix("session-").split("@")[0])
        assert session_id not in by_session, "one VEVENT per session"
        by_session[session_id] = event
    return cal, by_session


def check_event(event: Any, start: datetime, title: str, teacher: str, status: str) -> None:
    dtstart = event["DTSTART"].dt
    assert dtstart.utcoffset() == timedelta(0) and dtstart == start
    assert event["DTSTART"].to_ical().endswith(b"Z")  # UTC, not floating or zoned
    assert event["DTEND"].dt == start + timedelta(minutes=45)
    summary = str(event["SUMMARY"])
    assert title in summary and teacher in summary
    assert str(event["STATUS"]) == status


async def test_public_feed(world: World) -> None:
    p = await programme(world)
    cal, events = await feed(world, "/calendar/public.ics")
    # every public session of the window, cancelled ones too; nothing centers-only or too old
    assert set(events) == {p.a, p.b, p.c, p.recent}
    check_event(events[p.a], p.starts[p.a], "数学直播课", "teacher老师", "CONFIRMED")
    check_event(events[p.b], p.starts[p.b], "数学直播课", "teacher老师", "CANCELLED")
    check_event(events[p.c], p.starts[p.c], "美术直播课", "teacher2老师", "CONFIRMED")
    assert str(cal["X-WR-CALNAME"])
    assert len({str(e["UID"]) for e in events.values()}) == 4


async def test_teacher_feed(world: World) -> None:
    p = await programme(world)
    _, mine = await feed(world, f"/calendar/teachers/{world.ids['teacher_id']}/schedule.ics")
    assert set(mine) == {p.a, p.b, p.recent}
    check_event(mine[p.b], p.starts[p.b], "数学直播课", "teacher老师", "CANCELLED")
    cal, theirs = await feed(world, f"/calendar/teachers/{world.ids['teacher2_id']}/schedule.ics")
    assert set(theirs) == {p.c}  # the centers-only class stays out of a public feed
    assert "teacher2老师" in str(cal["X-WR-CALNAME"])
    assert (await world.client.get("/calendar/teachers/987654/schedule.ics")).status_code == 404


async def test_center_feed_has_only_the_centers_bookings(world: World) -> None:
    p = await programme(world)
    cal, events = await feed(world, f"/calendar/centers/{world.ids['center']}/schedule.ics")
    assert set(events) == {p.a, p.recent}
    check_event(events[p.a], p.starts[p.a], "数学直播课", "teacher老师", "CONFIRMED")
    assert "镇雄共享中心" in str(cal["X-WR-CALNAME"])
    _, other = await feed(world, f"/calendar/centers/{world.ids['center2']}/schedule.ics")
    assert set(other) == {p.c}
    assert (await world.client.get("/calendar/centers/987654/schedule.ics")).status_code == 404


async def test_a_cancelled_booked_session_stays_in_the_center_feed_as_cancelled(
    world: World,
) -> None:
    p = await programme(world)
    assert (await world.post(f"/api/v1/sessions/{p.a}/cancel", who="teacher")).status_code == 200
    _, events = await feed(world, f"/calendar/centers/{world.ids['center']}/schedule.ics")
    assert str(events[p.a]["STATUS"]) == "CANCELLED"


async def test_a_moved_session_moves_in_the_feed(world: World) -> None:
    p = await programme(world)
    new_start = at(5, 3)
    r = await world.patch(
        f"/api/v1/sessions/{p.a}",
        {
            "starts_at": new_start.isoformat(),
            "ends_at": (new_start + timedelta(minutes=45)).isoformat(),
        },
        who="teacher",
    )
    assert r.status_code == 200, r.text
    _, events = await feed(world, "/calendar/public.ics")
    assert events[p.a]["DTSTART"].dt == new_start


async def test_empty_feed_is_a_valid_calendar(world: World) -> None:
    cal, events = await feed(world, "/calendar/public.ics")
    assert events == {}
    assert str(cal["PRODID"])


async def test_private_feeds_of_a_center_and_a_teacher_include_centers_only_classes(
    world: World,
) -> None:
    p = await programme(world)
    public = (await feed(world, f"/calendar/centers/{world.ids['center']}/schedule.ics"))[1]
    assert p.hidden not in public and p.a in public  # the public feed stays public
    r = await world.post("/api/v1/calendar/feeds", {"center_id": world.ids["center"]}, "center")
    assert r.status_code == 201, r.text
    created = r.json()
    url = created["url"].removeprefix("http://testserver.local")
    assert url.startswith("/calendar/private.ics?token=")
    mine = await world.client.get(url)
    assert mine.headers["cache-control"] == "private, no-store"
    center_feed = (await feed(world, url))[1]
    assert {p.a, p.hidden, p.recent} <= set(center_feed) and p.c not in center_feed
    r = await world.post(
        "/api/v1/calendar/feeds", {"teacher_id": world.ids["teacher2_id"]}, "teacher2"
    )
    assert r.status_code == 201, r.text
    teacher_feed = (await feed(world, r.json()["url"].removeprefix("http://testserver.local")))[1]
    assert {p.c, p.hidden} <= set(teacher_feed) and p.a not in teacher_feed
    # not someone else's feed; a wrong token, no token, a revoked one: 403
    for who, body in (
        ("center2", {"center_id": world.ids["center"]}),
        ("teacher", {"teacher_id": world.ids["teacher2_id"]}),
        ("center", {"teacher_id": world.ids["teacher_id"]}),
    ):
        assert (await world.post("/api/v1/calendar/feeds", body, who)).status_code == 403
    assert (await world.post("/api/v1/calendar/feeds", {}, "admin")).status_code == 400
    assert (await world.client.get("/calendar/private.ics?token=not-a-token")).status_code == 403
    assert (await world.client.get("/calendar/private.ics")).status_code == 403
    assert (
        await world.delete(f"/api/v1/calendar/feeds/{created['id']}", "center2")
    ).status_code == 403
    assert (
        await world.delete(f"/api/v1/calendar/feeds/{created['id']}", "center")
    ).status_code == 204
    assert (await world.client.get(url)).status_code == 403
