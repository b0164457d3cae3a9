"""``sharehub demo``: the programme it makes, its term of views, a recorded class that plays.

The demo fills the programme in one transaction: a run cut short leaves nothing, so the next
run starts over instead of taking half a programme for the whole. The tests run it with a
small ``scale`` of views (the default, 1, is the programme's 500,000) and one recorded class.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from piccolo.querystring import QueryString

from hub import accounts, db, demo
from hub.app import create_app
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.tables import Booking, Course, Job, LiveSession, Recording, ShareCenter, Teacher, User
from media.ffmpeg_bin import find_ffmpeg, probe
from media.worker import Worker
from plugins.self_hosted.provider import NAME as PROVIDER

pytestmark = pytest.mark.in_process("runs the demo and the worker inside the test process")

SCALE = 0.01
"""5,000 views instead of 500,000: the same code, a smaller term."""


async def test_a_demo_cut_short_leaves_nothing_and_the_next_run_fills(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = accounts.create_user

    async def fails_late(username: str, *args: object, **kw: object) -> int:
        if username == "center3":  # late: the users come after every session, booking, view
            raise RuntimeError("power cut")
        return await real(username, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts, "create_user", fails_late)
    with pytest.raises(RuntimeError, match="power cut"):
        await demo.run_demo(settings, provider=PROVIDER, scale=SCALE, record=False)
    assert await User.count().run() == 0
    assert await ShareCenter.count().run() == 0 and await LiveSession.count().run() == 0
    assert await count("SELECT COUNT(*) AS n FROM view_tally") == 0
    monkeypatch.setattr(accounts, "create_user", real)
    filled = await demo.run_demo(settings, provider=PROVIDER, scale=SCALE, record=False)
    assert filled.created and filled.views > 0
    again = await demo.run_demo(settings, provider=PROVIDER, scale=SCALE, record=False)
    assert not again.created and again.views == filled.views


async def count(sql: str, *args: object) -> int:
    rows = await db.engine().run_querystring(QueryString(sql, *args))
    return int(rows[0]["n"] or 0)


async def test_the_demo_shows_a_programme_alive_and_a_recorded_class_plays(
    settings: Settings, tmp_path: Path
) -> None:
    host = PluginHost(settings)
    made = await demo.run_demo(settings, provider=host.default_provider(), scale=SCALE, recorded=1)
    # the programme's registry, as it reports itself
    assert (made.centers, made.teachers) == (56, 120)
    assert made.courses >= 300 and made.held > 300
    assert await Course.count().run() == made.courses
    schools = {r["school"] for r in await Teacher.select(Teacher.school).run()}
    assert all(s.startswith("深圳") for s in schools), schools
    counties = await ShareCenter.select(ShareCenter.county).run()
    assert all(r["county"].endswith("县") for r in counties)
    # every booking was made before its check-in, and none in the future
    rows = await Booking.select(Booking.created_at, Booking.checked_in_at).run()
    now = datetime.now(UTC)
    assert all(r["created_at"] <= now for r in rows)
    checked = [r for r in rows if r["checked_in_at"] is not None]
    assert checked and all(r["created_at"] < r["checked_in_at"] for r in checked)

    # the impact figures count the views an independent count of the viewers' windows finds
    tz = ZoneInfo(settings.timezone)
    _, term_start, _, _ = demo.current_term(now.astimezone(tz).date())
    today = now.astimezone(tz).date()
    counted = await count(
        "SELECT COUNT(*) AS n FROM viewer_window WHERE counted AND day >= {} AND day <= {}",
        term_start,
        today,
    )
    assert counted > 0.8 * demo.TARGET_VIEWS * SCALE

    app = create_app(settings, manage_db=False, plugins=host)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as web:
        figures = (
            await web.get("/api/v1/impact", params={"from": str(term_start), "to": str(today)})
        ).json()["totals"]
        assert figures["online_views"] == counted
        assert figures["sessions_held"] == made.held
        assert figures["peak_concurrent"] > 1
        assert figures["children_reached"] > 0.8 * 56 * 150

        # one held class is recorded by the worker: test picture, recorder, finalize, transcode
        job = (
            await Job.select()
            .where(Job.kind == demo.RECORD_TEST_CLASS)
            .first()
            .output(load_json=True)
        )
        assert job is not None
        session_id = job["payload"]["session_id"]
        worker = Worker(settings, host, poll_interval=0.1, retry_wait=0.5)
        await worker.run_until_idle(limit=300)
        recording = await Recording.select().where(Recording.session_id == session_id).first()
        assert recording is not None and recording["state"] == "ready", recording
        assert 60 <= recording["duration"] <= 90

        # its replay plays over HTTP: playlist, segments, and a segment ffmpeg decodes
        out = (await web.get(f"/api/v1/sessions/{session_id}/recording")).json()
        assert out["mp4_url"] and {r["name"] for r in out["renditions"]} >= {"low", "audio"}
        playlist = (await web.get(out["playlist_url"])).text
        assert "#EXT-X-ENDLIST" in playlist
        segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
        assert len(segments) >= 10
        first = await web.get(httpx.URL(out["playlist_url"]).join(segments[0]))
        assert first.status_code == 200 and len(first.content) > 1000
        path = tmp_path / "seg.ts"
        path.write_bytes(first.content)
        info = probe(path)
        assert info.has_video and info.has_audio and (info.width, info.height) == (426, 240)
        mp4 = await web.get(out["mp4_url"])
        assert mp4.status_code == 200 and mp4.content[4:8] == b"ftyp"

        # the course page offers 观看回放 for the recorded class only, not for the others held
        course = (
            await LiveSession.select(LiveSession.course).where(LiveSession.id == session_id).first()
        )
        assert course is not None
        page = (await web.get(f"/courses/{course['course']}")).text
        offered = {int(x) for x in re.findall(r'href="/watch/(\d+)">观看回放', page)}
        assert offered == {session_id}, offered


def test_the_test_class_has_its_title_in_a_cjk_font(tmp_path: Path) -> None:
    """The picture carries the course's title: the frame with the text differs from the
    plain test picture where the title is drawn."""
    from media.sample_classes import cjk_font, sample_class_cmd

    font = cjk_font()
    if font is None:
        pytest.skip("fonts-noto-cjk is not installed")
    title = tmp_path / "title.txt"
    title.write_text("图形化编程（1-3年级）", encoding="utf-8")
    frames = []
    for name, text in (("with", title), ("without", None)):
        clip = tmp_path / f"{name}.ts"
        subprocess.run(
            sample_class_cmd(str(clip), text, seconds=1, font=font), check=True, timeout=120
        )
        still = tmp_path / f"{name}.gray"
        subprocess.run(
            [find_ffmpeg(), "-v", "error", "-i", str(clip), "-frames:v", "1", "-vf",
             "crop=iw:40:0:ih-50", "-f", "rawvideo", "-pix_fmt", "gray", str(still)],
            check=True, timeout=60,
        )  # fmt: skip
        frames.append(still.read_bytes())
    assert frames[0] != frames[1]
