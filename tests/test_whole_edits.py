"""An edit that is refused changes nothing, and out-of-range series and terms are named 4xx.

A session PATCH may change its provider, its status and its times at once: when any part is
refused (bad times, a clash, a cancelled session), no part is kept.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import World


async def a_session(world: World, start: str = "09:00", end: str = "10:00") -> dict[str, Any]:
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
    return dict(r.json())


LINK = {"provider": "external_link", "provider_settings": {"meeting_url": "https://m.example/a"}}


@pytest.mark.parametrize(
    "times, status, field",
    [
        ({"ends_at": "2036-12-01T08:00:00"}, 400, "ends_at"),
        ({"starts_at": "1999-12-01T09:00:00"}, 400, "starts_at"),
        ({"starts_at": "2036-12-01T11:30:00", "ends_at": "2036-12-01T12:30:00"}, 409, None),
    ],
    ids=["ends-before-start", "year-out-of-range", "teacher-clash"],
)
async def test_a_refused_patch_keeps_the_provider_too(
    world: World, times: dict[str, str], status: int, field: str | None
) -> None:
    session = await a_session(world)
    await a_session(world, "11:00", "12:00")  # the teacher's next class: moving onto it clashes
    r = await world.patch(f"/api/v1/sessions/{session['id']}", {**LINK, **times}, "teacher")
    assert r.status_code == status, r.text
    if field:
        assert r.json()["extra"][0]["key"] == field
    after = (await world.get(f"/api/v1/sessions/{session['id']}", who="teacher")).json()
    assert after["provider"] == session["provider"] == "self_hosted"
    assert (after["starts_at"], after["ends_at"]) == (session["starts_at"], session["ends_at"])


async def test_cancel_and_move_in_one_change_is_refused_whole(world: World) -> None:
    session = await a_session(world)
    both = {
        "status": "cancelled",
        "starts_at": "2036-12-01T13:00:00",
        "ends_at": "2036-12-01T14:00:00",
    }
    r = await world.patch(f"/api/v1/sessions/{session['id']}", {**LINK, **both}, "teacher")
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "status"
    after = (await world.get(f"/api/v1/sessions/{session['id']}", who="teacher")).json()
    assert after["status"] == "scheduled" and after["starts_at"] == session["starts_at"]
    assert after["provider"] == "self_hosted"
    ok = await world.patch(f"/api/v1/sessions/{session['id']}", LINK, "teacher")
    assert ok.status_code == 200 and ok.json()["provider"] == "external_link"


@pytest.mark.parametrize(
    "fields, key",
    [
        ({"first_start": "0001-01-01T00:30:00"}, "first_start"),
        ({"first_start": "9999-12-27T09:00:00"}, "first_start"),
        ({"first_start": "9999-12-31T23:00:00-12:00"}, "first_start"),
        ({"first_start": "0001-01-01T00:30:00+14:00"}, "first_start"),
        ({"first_start": "2200-12-01T09:00:00", "rrule": "FREQ=WEEKLY;COUNT=20"}, "rrule"),
    ],
    ids=["year-1", "year-9999", "offset-past-9999", "offset-before-1", "runs-past-2200"],
)
async def test_series_outside_the_years_served_are_refused(
    world: World, fields: dict[str, str], key: str
) -> None:
    body = {
        "course_id": world.ids["course"],
        "first_start": "2036-11-30T09:00:00",
        "duration_minutes": 45,
        "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=3",
        "timezone": "Asia/Shanghai",
        **fields,
    }
    r = await world.post("/api/v1/series", body, who="teacher")
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == key


async def test_a_break_must_lie_inside_its_term(world: World) -> None:
    term = {"name": "2027年春季学期", "starts_on": "2027-02-22", "ends_on": "2027-07-02"}
    outside = {"name": "寒假", "starts_on": "2026-12-28", "ends_on": "2027-01-08"}
    r = await world.post("/api/v1/terms", {**term, "breaks": [outside]}, who="admin")
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "breaks[0].starts_on"
    inside = {"name": "劳动节", "starts_on": "2027-05-01", "ends_on": "2027-05-05"}
    assert (
        await world.post("/api/v1/terms", {**term, "breaks": [inside]}, who="admin")
    ).status_code == 201
