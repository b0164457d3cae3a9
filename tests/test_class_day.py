"""A class day from the room's side, through the API: the state the watch page polls, a
rehearsal push that leaves the schedule alone, and 开始上课 / 下课 by API (teacher or admin).

Pushes arrive as nginx's RTMP ``on_publish`` callbacks (what nginx posts for an encoder).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub import live
from hub.settings import Settings
from plugins.self_hosted.callbacks import CALLBACK_PATH, callback_secret
from tests.conftest import World

PUBLISH = f"{CALLBACK_PATH}/publish"
DONE = f"{CALLBACK_PATH}/publish-done"


async def a_class(world: World, starts_in: timedelta, **extra: Any) -> tuple[int, str]:
    starts = datetime.now(UTC).replace(microsecond=0) + starts_in
    body = {
        "course_id": world.ids["course"],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=40)).isoformat(),
        "provider_settings": {"ingest": "rtmp"},
        **extra,
    }
    r = await world.post("/api/v1/sessions", body, "teacher")
    assert r.status_code == 201, r.text
    session_id = int(r.json()["id"])
    key = ""
    if body.get("provider", "self_hosted") == "self_hosted":
        shown = await world.get(f"/api/v1/sessions/{session_id}/ingest", "teacher")
        assert shown.status_code == 200, shown.text
        key = str((await live.session_row(session_id))["stream_key"])
    return session_id, key


async def nginx(world: World, settings: Settings, path: str, session_id: int, key: str) -> None:
    call = "publish" if path == PUBLISH else "publish_done"
    form = {"app": "live", "call": call, "name": f"sh{session_id}", "key": key, "addr": "1.2.3.4"}
    r = await world.client.post(path, data=form, params={"secret": callback_secret(settings)})
    assert r.status_code == 200, r.text


async def state(world: World, session_id: int, who: str | None = None) -> dict[str, Any]:
    r = await world.get(f"/api/v1/sessions/{session_id}/state", who)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return dict(r.json())


async def listed_status(world: World, session_id: int) -> str:
    page = (await world.get("/api/v1/sessions")).json()  # the public schedule
    return next(s["status"] for s in page["items"] if s["id"] == session_id)


async def test_waiting_room_state_says_when_the_class_starts(world: World) -> None:
    session_id, _ = await a_class(world, timedelta(minutes=30))
    got = await state(world, session_id)
    assert got["state"] == "waiting" and got["status"] == "scheduled"
    assert 1700 < got["seconds_to_start"] <= 1800
    assert got["live_source"] is None and not got["playlist_ready"] and got["replay"] == {}
    assert (await world.get("/api/v1/sessions/987654/state")).status_code == 404


async def test_state_obeys_the_course_visibility(world: World) -> None:
    r = await world.patch(
        f"/api/v1/courses/{world.ids['course']}", {"visibility": "centers"}, who="admin"
    )
    assert r.status_code == 200, r.text
    session_id, _ = await a_class(world, timedelta(minutes=30))
    assert (await world.get(f"/api/v1/sessions/{session_id}/state")).status_code == 404
    assert (await state(world, session_id, "center"))["state"] == "waiting"


async def test_a_rehearsal_leaves_the_schedule_alone_until_the_teacher_starts(
    world: World, settings: Settings
) -> None:
    session_id, key = await a_class(world, timedelta(minutes=30))
    await nginx(world, settings, PUBLISH, session_id, key)  # 30 minutes early: a rehearsal
    row = await live.session_row(session_id)
    assert row["status"] == "scheduled" and row["live_at"] is None
    assert row["pushing_since"] is not None
    assert await listed_status(world, session_id) == "scheduled"
    assert (await state(world, session_id))["state"] == "waiting"
    # the rehearsal stops: nothing changed for the public
    await nginx(world, settings, DONE, session_id, key)
    row = await live.session_row(session_id)
    assert row["status"] == "scheduled" and row["pushing_since"] is None

    # the teacher pushes again and presses 开始上课 before the start: live at once
    await nginx(world, settings, PUBLISH, session_id, key)
    r = await world.post(f"/api/v1/sessions/{session_id}/start", None, "teacher")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "live"
    got = await state(world, session_id)
    assert got["state"] == "live"
    assert got["live_source"].endswith(f"/api/v1/sessions/{session_id}/hls/index.m3u8")
    assert got["playlist_ready"] is False  # nothing recorded yet: the page keeps trying
    assert await listed_status(world, session_id) == "live"
    # 下课
    r = await world.post(f"/api/v1/sessions/{session_id}/end", None, "teacher")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ended"
    assert (await state(world, session_id))["state"] == "ended"  # the replay is being made
    again = await world.post(f"/api/v1/sessions/{session_id}/end", None, "teacher")
    assert again.status_code == 200 and again.json()["status"] == "ended"


@pytest.mark.in_process("moves the clock of the promotion to the start of class")
async def test_a_rehearsal_that_goes_on_turns_live_at_the_window(
    world: World, settings: Settings
) -> None:
    session_id, key = await a_class(world, timedelta(minutes=30))
    await nginx(world, settings, PUBLISH, session_id, key)
    assert await live.promote_due() == []  # still a rehearsal now
    starts = (await live.session_row(session_id))["starts_at"]
    at_window = starts - live.LIVE_EARLY + timedelta(seconds=1)
    assert await live.promote_due(at_window) == [session_id]
    row = await live.session_row(session_id)
    assert row["status"] == "live" and row["live_at"] == at_window
    # a class nobody pushes to is not made live by the clock
    other, _ = await a_class(world, timedelta(hours=3))
    assert await live.promote_due(datetime.now(UTC) + timedelta(hours=3)) == []
    assert (await live.session_row(other))["status"] == "scheduled"


async def test_a_push_in_the_live_window_turns_the_class_live(
    world: World, settings: Settings
) -> None:
    session_id, key = await a_class(world, timedelta(minutes=2))
    await nginx(world, settings, PUBLISH, session_id, key)
    assert (await live.session_row(session_id))["status"] == "live"
    await nginx(world, settings, DONE, session_id, key)
    assert (await live.session_row(session_id))["status"] == "ended"


async def test_a_meeting_app_class_is_marked_held_by_start_and_end(world: World) -> None:
    session_id, _ = await a_class(
        world,
        timedelta(minutes=20),
        provider="external_link",
        provider_settings={"meeting_url": "https://meeting.example/room"},
    )
    got = await state(world, session_id)
    assert got["state"] == "waiting" and got["link"] == "https://meeting.example/room"
    r = await world.post(f"/api/v1/sessions/{session_id}/start", None, "admin")
    assert r.status_code == 200 and r.json()["status"] == "live"
    row = await live.session_row(session_id)
    assert row["live_at"] is not None
    r = await world.post(f"/api/v1/sessions/{session_id}/end", None, "teacher")
    assert r.status_code == 200 and r.json()["status"] == "ended"
    assert (await live.session_row(session_id))["ended_at"] is not None


async def test_start_and_end_are_for_the_teacher_or_an_admin(world: World) -> None:
    session_id, _ = await a_class(world, timedelta(minutes=20))
    for who, code in ((None, 401), ("center", 403), ("teacher2", 403)):
        for action in ("start", "end"):
            r = await world.post(f"/api/v1/sessions/{session_id}/{action}", None, who)
            assert r.status_code == code, (who, action, r.text)
    assert (await live.session_row(session_id))["status"] == "scheduled"
    # ending a class that never started is a conflict naming the status
    r = await world.post(f"/api/v1/sessions/{session_id}/end", None, "teacher")
    assert r.status_code == 409, r.text
    # a cancelled class cannot start
    assert (await world.post(f"/api/v1/sessions/{session_id}/cancel", None, "teacher")).is_success
    r = await world.post(f"/api/v1/sessions/{session_id}/start", None, "teacher")
    assert r.status_code == 409, r.text
    assert (await state(world, session_id))["state"] == "cancelled"
    assert (await world.post("/api/v1/sessions/987654/start", None, "admin")).status_code == 404


def test_the_keyframe_interval_is_read_from_the_recorded_segments() -> None:
    from hub.watch_state import recent_segment_seconds

    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n" + b"".join(
        b"#EXTINF:%.3f,\nseg_%05d.ts\n" % (d, i)
        for i, d in enumerate([2.0, 10.0, 10.01, 9.96, 10.0, 10.0])
    )
    assert recent_segment_seconds(playlist) == 10.0
    assert recent_segment_seconds(b"#EXTM3U\n#EXTINF:2.002,\na.ts\n#EXTINF:2.0,\nb.ts\n") == 2.0
    assert recent_segment_seconds(b"#EXTM3U\n") is None
