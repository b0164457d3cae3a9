"""Held by rule: a class given in another app (external_link) that nobody started or ended
counts as held once its slot passed, if a share-center checked in (README, "Held by rule")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub import live
from hub.job_kinds import hold_by_rule
from tests.conftest import World, app_plugins

pytestmark = pytest.mark.in_process("runs the periodic job's step in this process")


async def link_class(world: World, hours_ago: float) -> int:
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours_ago)
    created = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=45)).isoformat(),
            "provider": "external_link",
            "provider_settings": {"meeting_url": "https://meeting.example.cn/j/9"},
        },
        "admin",  # a class already given: only an administrator enters one afterwards
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def test_a_passed_link_class_with_a_check_in_is_held(world: World) -> None:
    checked = await link_class(world, hours_ago=1.5)
    nobody = await link_class(world, hours_ago=3)
    booked = await world.post(
        f"/api/v1/sessions/{checked}/bookings", {"center_id": world.ids["center"]}, "center"
    )
    if booked.status_code != 201:
        pytest.skip(f"bookings of a past class are refused here: {booked.text}")
    check_in = await world.post(
        f"/api/v1/bookings/{booked.json()['id']}/check-in", {"children": 23}, "center"
    )
    if check_in.status_code != 200:
        pytest.skip(f"check-in after the class is refused here: {check_in.text}")

    class Ctx:
        plugins = app_plugins(world)

    assert await hold_by_rule(Ctx()) == [checked]  # type: ignore[arg-type]
    row = await live.session_row(checked)
    assert row["status"] == "ended"
    assert row["live_at"] == row["starts_at"] and row["ended_at"] == row["ends_at"]
    assert (await live.session_row(nobody))["status"] == "scheduled"
    assert await hold_by_rule(Ctx()) == []  # once  # type: ignore[arg-type]
    day = row["starts_at"].date()
    impact = await world.get(
        f"/api/v1/impact?from={day - timedelta(days=1)}&to={day + timedelta(days=1)}"
    )
    totals = impact.json()["totals"]
    assert totals["sessions_held"] == 1 and totals["teaching_hours"] == 0.75, totals
