"""Issue 16, point 7: what is shown about a session follows its visibility. The view figures
of a centers-only session are 404 to anonymous callers (as the session is); the replay of a
cancelled session is not public."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import World


async def session_of(world: World, visibility: str, days: int = 2) -> int:
    r = await world.post(
        "/api/v1/courses",
        {
            "title": f"{visibility}课",
            "subject": "数学",
            "visibility": visibility,
            "teacher_id": world.ids["teacher_id"],
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": r.json()["id"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=45)).isoformat(),
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_view_figures_of_a_centers_only_session_are_not_public(world: World) -> None:
    hidden = await session_of(world, "centers")
    shown = await session_of(world, "public", days=3)
    assert (await world.get(f"/api/v1/sessions/{hidden}")).status_code == 404
    r = await world.get(f"/api/v1/sessions/{hidden}/views")
    assert r.status_code == 404, r.text
    for who in ("center", "teacher", "admin"):
        r = await world.get(f"/api/v1/sessions/{hidden}/views", who=who)
        assert r.status_code == 200, (who, r.text)
    r = await world.get(f"/api/v1/sessions/{shown}/views")
    assert r.status_code == 200 and r.json()["session_id"] == shown
    assert (await world.get("/api/v1/sessions/999999/views")).status_code == 404


async def test_a_cancelled_sessions_replay_is_not_public(world: World) -> None:
    session = await session_of(world, "public")
    # before: anonymous callers reach the replay routes (no recording yet, said as such)
    r = await world.get(f"/api/v1/sessions/{session}/recording")
    assert r.status_code == 404 and "no recording" in r.json()["detail"]
    r = await world.post(f"/api/v1/sessions/{session}/cancel", who="teacher")
    assert r.status_code == 200, r.text
    for url in (
        f"/api/v1/sessions/{session}/recording",
        f"/api/v1/sessions/{session}/hls/index.m3u8",
        f"/api/v1/sessions/{session}/views",
    ):
        r = await world.get(url)
        assert r.status_code == 404, (url, r.text)
        assert r.json()["detail"] == f"session {session} not found", url
    # signed-in users still get past the visibility check
    r = await world.get(f"/api/v1/sessions/{session}/recording", who="center")
    assert r.status_code == 404 and "no recording" in r.json()["detail"]
    r = await world.get(f"/api/v1/sessions/{session}/views", who="center")
    assert r.status_code == 200
