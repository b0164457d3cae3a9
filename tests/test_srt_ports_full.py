"""Issue 16, point 9: an exhausted SRT port range answers 503 with Retry-After (public
playback, push addresses, key rotation), alerts in the log and in /metrics, and a rotation
that cannot finish leaves the old key in place."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from hub.tables import LiveSession
from tests.conftest import World
from tests.test_self_hosted_provider import SH_APP, new_session
from tests.test_self_hosted_provider import sh_world as sh_world  # the fixture


async def stream_key(session_id: int) -> str:
    row = (
        await LiveSession.select(LiveSession.stream_key)
        .where(LiveSession.id == session_id)
        .first()
        .run()
    )
    assert row is not None
    return str(row["stream_key"])


@SH_APP
async def test_a_full_port_range_is_a_503_and_rotation_is_not_half_done(
    sh_world: World,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = sh_world
    caplog.set_level(logging.INFO)
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    # two teachers, two classes each, back to back: every push window overlaps the others'
    # (early sound checks and the restart grace), so the range's three ports are taken
    held = [
        await new_session(world, starts=starts),
        await new_session(world, starts=starts, course="course2"),
        await new_session(world, starts=starts + timedelta(minutes=45)),
    ]
    for session, who in zip(held, ("teacher", "teacher2", "teacher"), strict=True):
        r = await world.get(f"/api/v1/sessions/{session['id']}/ingest", who=who)
        assert r.status_code == 200, r.text
    extra = await new_session(world, starts=starts + timedelta(minutes=45), course="course2")
    sid = extra["id"]
    r = await world.get(f"/api/v1/sessions/{sid}/playback")
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) > 0
    assert "SRT port" in r.json()["detail"]
    key_before = await stream_key(sid)  # made on first use (the playback answer above)
    assert key_before
    r = await world.post(f"/api/v1/sessions/{sid}/ingest/rotate", who="teacher2")
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) > 0
    assert await stream_key(sid) == key_before  # nothing rotated
    r = await world.get(f"/api/v1/sessions/{sid}/ingest", who="teacher2")
    assert r.status_code == 503
    alerts = [
        rec.getMessage() for rec in caplog.records if "srt_ports_exhausted" in rec.getMessage()
    ]
    assert alerts and all(not rec.exc_info for rec in caplog.records)
    metrics = await world.get("/metrics", who="admin")
    assert metrics.status_code == 200
    line = next(
        ln
        for ln in metrics.text.splitlines()
        if ln.startswith('sharehub_alerts_total{kind="srt_ports_exhausted"}')
    )
    assert float(line.split()[-1]) >= 3
    # a held session still rotates: its key changes, its port stays
    r = await world.post(f"/api/v1/sessions/{held[0]['id']}/ingest/rotate", who="teacher")
    assert r.status_code == 200, r.text
