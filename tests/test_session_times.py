"""A session's times are in the same zone whichever endpoint answers (GET, cancel)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import World


async def test_cancel_answers_in_the_zone_get_answers_in(world: World) -> None:
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0, second=0)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=45)).isoformat(),
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text
    session = r.json()["id"]
    zone = "?tz=Asia/Urumqi"
    got = (await world.get(f"/api/v1/sessions/{session}{zone}", who="teacher")).json()
    cancelled = await world.post(f"/api/v1/sessions/{session}/cancel{zone}", who="teacher")
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert (body["starts_local"], body["timezone"]) == (got["starts_local"], got["timezone"])
    assert got["starts_local"].endswith("+06:00") and got["timezone"] == "Asia/Urumqi"
