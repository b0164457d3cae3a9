"""The schedule rules through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import World

DAY = "2036-12-01"


async def make_session(
    world: World, start: str, end: str, who: str = "teacher", course: str = "course", **extra: str
) -> object:
    return await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids[course],
            "starts_at": f"{DAY}T{start}:00",
            "ends_at": f"{DAY}T{end}:00",
            **extra,
        },
        who=who,
    )


async def test_session_times_are_stored_in_utc_and_shown_in_the_zone(world: World) -> None:
    r = await make_session(world, "09:00", "09:45")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["starts_at"] == "2036-12-01T01:00:00Z"
    assert body["starts_local"] == "2036-12-01T09:00:00+08:00"
    r = await world.get(f"/api/v1/sessions/{body['id']}", params={"tz": "Europe/Berlin"})
    assert r.json()["starts_local"] == "2036-12-01T02:00:00+01:00"


async def test_end_must_follow_start(world: World) -> None:
    r = await make_session(world, "10:00", "09:00")
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "ends_at"
    r = await make_session(world, "10:00", "10:00")
    assert r.status_code == 400


async def test_teacher_cannot_hold_two_overlapping_sessions(world: World) -> None:
    first = (await make_session(world, "09:00", "10:00")).json()
    r = await make_session(world, "09:30", "10:30")
    assert r.status_code == 409
    body = r.json()
    assert str(first["id"]) in body["detail"]
    assert body["clashes"][0]["session_id"] == first["id"]
    assert body["clashes"][0]["title"] == "数学直播课"
    # contained and containing intervals clash too
    assert (await make_session(world, "09:10", "09:20")).status_code == 409
    assert (await make_session(world, "08:00", "11:00")).status_code == 409


async def test_touching_sessions_are_allowed(world: World) -> None:
    assert (await make_session(world, "09:00", "10:00")).status_code == 201
    assert (await make_session(world, "10:00", "11:00")).status_code == 201
    assert (await make_session(world, "08:00", "09:00")).status_code == 201


async def test_other_teachers_may_overlap(world: World) -> None:
    assert (await make_session(world, "09:00", "10:00")).status_code == 201
    r = await make_session(world, "09:00", "10:00", who="teacher2", course="course2")
    assert r.status_code == 201


async def test_cancelled_session_frees_the_slot(world: World) -> None:
    first = (await make_session(world, "09:00", "10:00")).json()
    r = await world.post(f"/api/v1/sessions/{first['id']}/cancel", who="teacher")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert (await make_session(world, "09:00", "10:00")).status_code == 201


async def test_moving_a_session_checks_the_teacher(world: World) -> None:
    a = (await make_session(world, "09:00", "10:00")).json()
    b = (await make_session(world, "11:00", "12:00")).json()
    r = await world.patch(
        f"/api/v1/sessions/{b['id']}",
        {"starts_at": f"{DAY}T09:30:00", "ends_at": f"{DAY}T10:30:00"},
        who="teacher",
    )
    assert r.status_code == 409 and r.json()["clashes"][0]["session_id"] == a["id"]
    r = await world.patch(
        f"/api/v1/sessions/{b['id']}",
        {"starts_at": f"{DAY}T10:00:00", "ends_at": f"{DAY}T11:00:00"},
        who="teacher",
    )
    assert r.status_code == 200, r.text
    assert r.json()["starts_local"] == "2036-12-01T10:00:00+08:00"


async def book(world: World, session_id: int, center: str = "center") -> object:
    return await world.post(
        f"/api/v1/sessions/{session_id}/bookings", {"center_id": world.ids[center]}, who=center
    )


async def test_one_room_center_cannot_book_overlapping_sessions(world: World) -> None:
    a = (await make_session(world, "09:00", "10:00")).json()
    b = (await make_session(world, "09:30", "10:30", who="teacher2", course="course2")).json()
    c = (await make_session(world, "10:00", "11:00")).json()
    assert (await book(world, a["id"])).status_code == 201
    r = await book(world, b["id"])
    assert r.status_code == 409
    assert r.json()["clashes"][0]["session_id"] == a["id"]
    assert (await book(world, c["id"])).status_code == 201  # touching is fine


async def test_two_room_center_books_two_overlapping_but_not_three(world: World) -> None:
    await world.post(
        "/api/v1/courses",
        {"title": "音乐", "subject": "音乐", "teacher_id": world.ids["teacher_id"]},
        who="admin",
    )
    a = (await make_session(world, "09:00", "10:00")).json()
    b = (await make_session(world, "09:30", "10:30", who="teacher2", course="course2")).json()
    assert (await book(world, a["id"], "center2")).status_code == 201
    assert (await book(world, b["id"], "center2")).status_code == 201
    # a third teacher's session overlapping both
    r = await world.post("/api/v1/teachers", {"name": "第三位老师"}, who="admin")
    t3 = r.json()["id"]
    course3 = (
        await world.post(
            "/api/v1/courses", {"title": "科学", "subject": "科学", "teacher_id": t3}, who="admin"
        )
    ).json()["id"]
    c = (
        await world.post(
            "/api/v1/sessions",
            {
                "course_id": course3,
                "starts_at": f"{DAY}T09:40:00",
                "ends_at": f"{DAY}T09:50:00",
            },
            who="admin",
        )
    ).json()
    r = await book(world, c["id"], "center2")
    assert r.status_code == 409
    assert {x["session_id"] for x in r.json()["clashes"]} == {a["id"], b["id"]}


async def test_booking_twice_is_a_conflict(world: World) -> None:
    a = (await make_session(world, "09:00", "10:00")).json()
    assert (await book(world, a["id"])).status_code == 201
    r = await book(world, a["id"])
    assert r.status_code == 409 and "already booked" in r.json()["detail"]


async def test_moving_a_booked_session_checks_the_centers_rooms(world: World) -> None:
    a = (await make_session(world, "09:00", "10:00")).json()
    b = (await make_session(world, "11:00", "12:00", who="teacher2", course="course2")).json()
    assert (await book(world, a["id"])).status_code == 201
    assert (await book(world, b["id"])).status_code == 201
    r = await world.patch(
        f"/api/v1/sessions/{b['id']}",
        {"starts_at": f"{DAY}T09:30:00", "ends_at": f"{DAY}T10:30:00"},
        who="teacher2",
    )
    assert r.status_code == 409
    assert r.json()["clashes"][0]["session_id"] == a["id"]


async def test_check_in_counts_children_once_per_key(world: World) -> None:
    start = datetime.now(UTC) + timedelta(minutes=10)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=45)).isoformat(),
        },
        who="teacher",
    )
    session = r.json()
    booking = (await book(world, session["id"])).json()
    url = f"/api/v1/bookings/{booking['id']}/check-in"
    r = await world.post(url, {"children": 32, "key": "offline-abc-123"}, who="center")
    assert r.status_code == 200, r.text
    assert r.json()["children_present"] == 32
    first_time = r.json()["checked_in_at"]
    r = await world.post(url, {"children": 32, "key": "offline-abc-123"}, who="center")
    assert r.json()["checked_in_at"] == first_time
    # another center may not check in for this one
    assert (await world.post(url, {"children": 5}, who="center2")).status_code == 403
    assert (await world.post(url, {"children": -1}, who="center")).status_code == 400
    r = await world.post(f"/api/v1/bookings/{booking['id']}/check-out", who="center")
    assert r.status_code == 200 and r.json()["checked_out_at"]
    # attendance is kept: a checked-in booking cannot be deleted
    assert (
        await world.delete(f"/api/v1/bookings/{booking['id']}", who="center")
    ).status_code == 409


async def test_check_in_does_not_open_days_early(world: World) -> None:
    a = (await make_session(world, "09:00", "10:00")).json()
    booking = (await book(world, a["id"])).json()
    if datetime.now(UTC) < datetime(2036, 12, 1, tzinfo=UTC):
        r = await world.post(
            f"/api/v1/bookings/{booking['id']}/check-in", {"children": 3}, who="center"
        )
        assert r.status_code == 400
        assert r.json()["extra"][0]["key"] == "booking_id"


async def test_unbook_frees_the_room(world: World) -> None:
    a = (await make_session(world, "09:00", "10:00")).json()
    b = (await make_session(world, "09:30", "10:30", who="teacher2", course="course2")).json()
    booking = (await book(world, a["id"])).json()
    assert (
        await world.delete(f"/api/v1/bookings/{booking['id']}", who="center")
    ).status_code == 204
    assert (await book(world, b["id"])).status_code == 201


async def test_centers_upcoming_in_the_centers_zone(world: World) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=45)).isoformat(),
        },
        who="teacher",
    )
    sid = r.json()["id"]
    await world.patch(
        f"/api/v1/centers/{world.ids['center']}", {"timezone": "Asia/Urumqi"}, who="admin"
    )
    assert (await book(world, sid)).status_code == 201
    r = await world.get(f"/api/v1/centers/{world.ids['center']}/upcoming", who="center")
    assert r.status_code == 200
    [item] = r.json()
    assert item["id"] == sid and item["timezone"] == "Asia/Urumqi"
    assert item["starts_local"].endswith("+06:00")
    r = await world.get(f"/api/v1/teachers/{world.ids['teacher_id']}/upcoming")
    assert [s["id"] for s in r.json()] == [sid]
    assert (
        await world.get(f"/api/v1/centers/{world.ids['center']}/upcoming", who="center2")
    ).status_code == 403


async def test_a_class_in_the_past_is_refused_naming_starts_at(world: World) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": past.isoformat(),
            "ends_at": (past + timedelta(minutes=45)).isoformat(),
        },
        who="teacher",
    )
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "starts_at"
    # moving a class into the past is refused the same way
    a = (await make_session(world, "09:00", "10:00")).json()
    r = await world.patch(
        f"/api/v1/sessions/{a['id']}",
        {"starts_at": past.isoformat(), "ends_at": (past + timedelta(hours=1)).isoformat()},
        who="teacher",
    )
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "starts_at"
    # a class starting in a few minutes is fine
    soon = datetime.now(UTC) + timedelta(minutes=5)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": soon.isoformat(),
            "ends_at": (soon + timedelta(minutes=45)).isoformat(),
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text


async def test_a_series_may_start_today_but_not_before(world: World) -> None:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    series = {
        "course_id": world.ids["course"],
        "duration_minutes": 45,
        "rrule": "FREQ=DAILY;COUNT=3",
        "timezone": "Asia/Shanghai",
    }
    r = await world.post(
        "/api/v1/series",
        {**series, "first_start": f"{today - timedelta(days=1)}T23:00:00"},
        who="teacher",
    )
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "first_start"
    r = await world.post(
        "/api/v1/series", {**series, "first_start": f"{today}T23:30:00"}, who="teacher"
    )
    assert r.status_code == 201, r.text
