"""Offline lesson packs: a center's week of booked classes (replays in the low rendition and
materials), built by a worker job, downloaded file by file (resumable), written by
``sharehub pack``, and played from a folder by the pack's own page in Chromium.

The replays are real MP4s made by ffmpeg (lavfi); the worker's bookkeeping calls
(``recordings.start``, ``finalized``, ``add_renditions``) announce them, as the transcode job
does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import http.server
import os
import subprocess
import sysconfig
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub import packs, recordings
from hub.job_runner import Runner
from hub.packs import BUILD_PACK
from hub.storage import Storage, storage_for
from media.ffmpeg_bin import find_ffmpeg
from tests import material_files
from tests.conftest import World, hub_client
from tests.netutil import free_port
from tests.test_materials import attach

WEEK = "2026-11-23"  # a Monday; the classes below are in that week, Beijing time
SCRIPT = Path(sysconfig.get_path("scripts")) / "sharehub"
CHROMIUM = os.environ.get("SHAREHUB_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get(
        "SHAREHUB_SCREENSHOTS",
        Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots",
    )
)


def low_mp4(path: Path, seconds: int = 4, tone: int = 440) -> bytes:
    """A small H.264/AAC MP4 (faststart), like the worker's low rendition."""
    command = [
        find_ffmpeg(),
        "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency={tone}:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart",
        str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return path.read_bytes()


async def a_class(world: World, starts: str) -> int:
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": f"{starts}+08:00",
            "ends_at": f"{starts[:11]}{int(starts[11:13]) + 1:02d}{starts[13:]}+08:00",
        },
        who="admin",  # a class in the past: entered by an administrator
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def recorded(storage: Storage, session_id: int, mp4: Path) -> None:
    """The worker's calls once a replay and its low rendition as one MP4 are stored."""
    prefix = f"sessions/{session_id}"
    await recordings.start(session_id, prefix, f"{prefix}/hls/index.m3u8")
    size = await storage.put_file(f"{prefix}/replay.mp4", mp4)
    await recordings.finalized(
        session_id,
        playlist_key=f"{prefix}/hls/index.m3u8",
        mp4_key=f"{prefix}/replay.mp4",
        poster_key="",
        duration=4.0,
        segments=2,
        bytes_total=size,
        mp4_bytes=size,
    )
    low = await storage.put_file(f"{prefix}/replay-low.mp4", mp4)
    m4a = mp4.with_suffix(".m4a")
    command = [find_ffmpeg(), "-v", "error", "-y", "-i", str(mp4), "-vn", "-c:a", "copy", str(m4a)]
    await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True, timeout=60)
    audio = await storage.put_file(f"{prefix}/replay-audio.m4a", m4a)
    await recordings.add_renditions(
        session_id,
        {
            "low_mp4": {"key": f"{prefix}/replay-low.mp4", "bytes": low, "duration": 4.0},
            "audio_m4a": {"key": f"{prefix}/replay-audio.m4a", "bytes": audio, "duration": 4.0},
        },
    )


async def download(world: World, url: str, who: str = "center") -> bytes:
    """One file, in two requests: the first cut off after 1000 bytes, the rest with Range."""
    first = await world.client.get(url, headers={**world.auth(who), "Range": "bytes=0-999"})
    assert first.status_code in (200, 206), first.text
    if first.status_code == 200:
        return bytes(first.content)
    total = int(first.headers["content-range"].rsplit("/", 1)[1])
    if total <= 1000:
        return bytes(first.content)
    rest = await world.client.get(url, headers={**world.auth(who), "Range": "bytes=1000-"})
    assert rest.status_code == 206, rest.text
    assert rest.headers["content-range"] == f"bytes 1000-{total - 1}/{total}"
    return bytes(first.content + rest.content)


@pytest.fixture
async def week(world: World, tmp_path: Path) -> dict[str, Any]:
    """Two booked classes of the week with replays and materials; another center's class."""
    if world.cluster is not None:
        pytest.skip("the test's worker runs the build job in this process")
    settings = world.client._transport.app.state.settings  # type: ignore[attr-defined]
    storage = storage_for(settings)
    monday = await a_class(world, "2026-11-23T10:00:00")
    thursday = await a_class(world, "2026-11-26T14:00:00")
    other = await a_class(world, "2026-11-24T10:00:00")
    next_week = await a_class(world, "2026-11-30T10:00:00")
    for session_id in (monday, thursday, next_week):
        r = await world.post(
            f"/api/v1/sessions/{session_id}/bookings", {"center_id": world.ids["center"]}, "center"
        )
        assert r.status_code == 201, r.text
    r = await world.post(
        f"/api/v1/sessions/{other}/bookings", {"center_id": world.ids["center2"]}, "center2"
    )
    assert r.status_code == 201, r.text
    replays = {}
    for number, session_id in enumerate((monday, thursday, other)):
        path = tmp_path / f"replay-{session_id}.mp4"
        replays[session_id] = low_mp4(path, tone=440 + 110 * number)
        await recorded(storage, session_id, path)
    handout = (await attach(world, material_files.pdf(), "讲义.pdf")).json()
    board = (await attach(world, material_files.png(), "板书.png", session_id=thursday)).json()
    return {
        "settings": settings,
        "storage": storage,
        "sessions": (monday, thursday),
        "other": other,
        "replays": replays,
        "materials": (handout, board),
    }


async def built(world: World, settings: Any) -> dict[str, Any]:
    r = await world.post(
        f"/api/v1/centers/{world.ids['center']}/packs", {"week": "2026-11-25"}, "center"
    )
    assert r.status_code == 202, r.text
    assert r.json()["week"] == WEEK and r.json()["state"] == "queued"
    host = world.client._transport.app.state.plugins  # type: ignore[attr-defined]
    await Runner(settings, host, kinds=[BUILD_PACK], poll_interval=0.1).run_until_idle(60)
    listed = await world.get(f"/api/v1/centers/{world.ids['center']}/packs", "center")
    assert listed.status_code == 200
    (pack,) = listed.json()
    assert pack["state"] == "ready", pack
    return pack  # type: ignore[no-any-return]


async def test_a_weeks_pack_downloads_file_by_file_and_matches_its_manifest(
    world: World, week: dict[str, Any]
) -> None:
    pack = await built(world, week["settings"])
    monday, thursday = week["sessions"]
    handout, board = week["materials"]
    answer = await world.get(pack["manifest_url"], "center")
    manifest = answer.json()
    paths = [f["path"] for f in manifest["files"]]
    assert paths == [
        f"classes/{monday}/replay-low.mp4",
        f"classes/{monday}/materials/{handout['id']}-讲义.pdf",
        f"classes/{thursday}/replay-low.mp4",
        f"classes/{thursday}/materials/{handout['id']}-讲义.pdf",
        f"classes/{thursday}/materials/{board['id']}-板书.png",
    ]
    assert pack["files"] == 5 and pack["bytes"] == sum(f["bytes"] for f in manifest["files"])

    base = pack["manifest_url"].rsplit("/", 1)[0]
    served = 0
    for f in manifest["files"]:
        data = await download(world, f"{base}/{f['path']}")
        served += len(data)
        assert len(data) == f["bytes"]
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
    replay = await download(world, f"{base}/classes/{thursday}/replay-low.mp4")
    assert replay == week["replays"][thursday], "a resumed download is byte-identical"
    served += len(replay)

    usage = (await world.get("/api/v1/packs/usage", "admin")).json()
    mine = [u for u in usage if u["center_id"] == world.ids["center"]]
    assert [u["week"] for u in mine] == [WEEK]
    assert mine[0]["bytes"] == served + len(answer.content), "every byte served is counted"

    # the pack is the center's own: another center, a teacher, anonymous get no file
    url = f"{base}/classes/{monday}/replay-low.mp4"
    assert (await world.get(url, "center2")).status_code == 403
    assert (await world.get(url, "teacher")).status_code == 403
    assert (await world.get(url)).status_code == 401
    assert (await world.get(f"{base}/../../etc/passwd", "center")).status_code in (400, 404)
    assert (
        await world.get(f"{base}/classes/{week['other']}/replay-low.mp4", "center")
    ).status_code == 404
    home = await world.get("/center", "center")
    assert f"{pack['bytes'] / 1048576:.1f} MB" in home.text


async def test_bad_weeks_are_refused_naming_the_field(world: World) -> None:
    r = await world.post(
        f"/api/v1/centers/{world.ids['center']}/packs", {"week": "2026-13-01"}, "center"
    )
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "week", r.text
    r = await world.post(f"/api/v1/centers/{world.ids['center2']}/packs", {"week": WEEK}, "center")
    assert r.status_code == 403
    r = await world.get(f"/api/v1/centers/{world.ids['center']}/packs/{WEEK}/index.html", "center")
    assert r.status_code == 404 and r.json()["extra"][0]["key"] == "week"


def served(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined,method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def play_offline(url: str, shot: Path) -> dict[str, Any]:
    """Open the pack's page from a plain static server and play its first replay."""
    from playwright.sync_api import sync_playwright

    shot.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
            headless=True,
        )
        try:
            page = browser.new_page()
            page.goto(url + "/index.html")
            page.wait_for_selector("video")
            page.evaluate("document.querySelector('video').play()")
            page.wait_for_function(
                "document.querySelector('video').currentTime > 1", timeout=60_000
            )
            state = page.evaluate(
                "(() => { const v = document.querySelector('video');"
                " return {time: v.currentTime, width: v.videoWidth, error: v.error,"
                " src: v.currentSrc, title: document.title,"
                " links: [...document.querySelectorAll('a')].map(a => a.getAttribute('href'))} })()"
            )
            page.screenshot(path=str(shot))
            return state  # type: ignore[no-any-return]
        finally:
            browser.close()


async def test_sharehub_pack_writes_the_same_pack_and_its_page_plays_offline(
    world: World, week: dict[str, Any], tmp_path: Path
) -> None:
    pack = await built(world, week["settings"])
    base = pack["manifest_url"].rsplit("/", 1)[0]
    manifest = (await world.get(pack["manifest_url"], "center")).json()
    settings = week["settings"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREHUB_")}
    env.update(
        SHAREHUB_DATA_DIR=str(settings.data_dir),
        SHAREHUB_DATABASE_URL=settings.database_url,
        SHAREHUB_SECRET_KEY=settings.secret_key,
    )
    out = tmp_path / "pack"
    done = await asyncio.to_thread(
        subprocess.run,
        [str(SCRIPT), "pack", str(world.ids["center"]), "--week", "2026-11-27", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(
        ["index.html", "manifest.json", *(f["path"] for f in manifest["files"])]
    )
    for name in written:
        assert (out / name).read_bytes() == await download(world, f"{base}/{name}"), name

    server, url = served(out)
    try:
        state = await asyncio.to_thread(play_offline, url, SCREENSHOTS / "offline-pack.png")
    finally:
        server.shutdown()
    assert state["error"] is None and state["time"] > 1 and state["width"] == 640, state
    assert state["src"].endswith("/replay-low.mp4")
    assert "镇雄共享中心" in state["title"]
    assert any(link.endswith("讲义.pdf") for link in state["links"])


async def test_a_center_over_its_monthly_cap_is_refused(world: World, week: dict[str, Any]) -> None:
    pack = await built(world, week["settings"])
    capped = dataclasses.replace(week["settings"], pack_monthly_cap_mb=1)
    async with hub_client(capped, None) as client:
        small = World(client=client, tokens=world.tokens, ids=world.ids)
        base = pack["manifest_url"].rsplit("/", 1)[0]
        manifest = (await small.get(pack["manifest_url"], "center")).json()
        answers = []
        for f in manifest["files"] * 3:
            r = await small.get(f"{base}/{f['path']}", "center")
            answers.append(r.status_code)
            if r.status_code == 429:
                assert r.json()["extra"][0]["key"] == "center_id"
                assert "1 MB" in r.json()["detail"]
                break
        assert answers[0] == 200 and answers[-1] == 429, answers
        usage = (await small.get("/api/v1/packs/usage", "admin")).json()
        assert sum(u["bytes"] for u in usage) >= 1024 * 1024
        assert (await small.get(pack["manifest_url"], "center2")).status_code == 403


async def test_a_low_bandwidth_centers_pack_carries_audio_only(
    world: World, week: dict[str, Any]
) -> None:
    r = await world.patch(f"/api/v1/centers/{world.ids['center']}", {"bandwidth": "low"}, "center")
    assert r.status_code == 200, r.text
    pack = await built(world, week["settings"])
    manifest = (await world.get(pack["manifest_url"], "center")).json()
    replays = [f["path"] for f in manifest["files"] if f["kind"] == "replay"]
    monday, thursday = week["sessions"]
    assert replays == [
        f"classes/{monday}/replay-audio.m4a",
        f"classes/{thursday}/replay-audio.m4a",
    ]
    base = pack["manifest_url"].rsplit("/", 1)[0]
    sound = await world.get(f"{base}/{replays[0]}", "center")
    assert sound.headers["content-type"] == "audio/mp4"
    assert b"ftyp" in sound.content[:16]
    page = (await world.get(pack["index_url"], "center")).text
    assert f'<audio controls preload="metadata" src="{replays[0]}"></audio>' in page
    assert "<video" not in page


async def test_next_weeks_packs_are_queued_on_the_scheduled_day(
    world: World, week: dict[str, Any]
) -> None:
    settings = week["settings"]
    assert settings.pack_build_weekday == 5  # Friday
    thursday = datetime(2026, 11, 19, 10, tzinfo=UTC)
    assert await packs.queue_due(settings, thursday) == []
    friday = datetime(2026, 11, 20, 2, tzinfo=UTC)  # 10:00 in Beijing
    queued = await packs.queue_due(settings, friday)
    assert sorted(queued) == sorted([(world.ids["center"], WEEK), (world.ids["center2"], WEEK)])
    assert await packs.queue_due(settings, friday) == [], "once per center and week"
    off = dataclasses.replace(settings, pack_build_weekday=0)
    assert await packs.queue_due(off, datetime(2026, 11, 27, 2, tzinfo=UTC)) == []
    listed = await world.get(f"/api/v1/centers/{world.ids['center']}/packs", "center")
    assert [(p["week"], p["state"]) for p in listed.json()] == [(WEEK, "queued")]
