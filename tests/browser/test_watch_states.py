"""The watch page through a class day, in Chromium: opened before the teacher pushes, it waits
with a countdown; the push (ffmpeg, SRT, to the hub's recorder) starts playback with no reload;
stopping the push shows "the class has ended", then the replay plays, still with no reload.
An anonymous viewer on a desktop and a signed-in center on a 390x844 phone watch together.
Also: the unmute button and the audio-only player's controls.

Screenshots go to test-artifacts/screenshots/watch-*.png.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest

from tests.browser.conftest import PASSWORD, TIMEOUT_MS, Hub, shot, sign_in

pytestmark = pytest.mark.slow
VIDEO = "document.getElementById('video')"
PLAYER = "window.sharehubPlayer"


def api(page: Any, hub: Hub, path: str) -> Any:
    r = page.request.get(hub.url + path)
    assert r.ok, f"{path}: {r.status} {r.text()}"
    return r.json()


def visible(page: Any, selector: str) -> bool:
    return bool(page.is_visible(selector))


def advancing(page: Any, timeout_ms: float) -> float:
    """Wait until the video plays (currentTime moves on); the time it took, in seconds."""
    began = time.monotonic()
    page.wait_for_function(f"() => {VIDEO}.currentTime > 0.5", timeout=timeout_ms)
    t1 = page.evaluate(f"{VIDEO}.currentTime")
    page.wait_for_function(f"() => {VIDEO}.currentTime > {t1} + 1", timeout=timeout_ms)
    return time.monotonic() - began


def test_waiting_room_then_live_then_ended_then_replay(hub: Hub, new_page: Any) -> None:
    from media.commands import test_source_cmd
    from media.ffmpeg_bin import find_ffmpeg

    session_id = hub.ids["watch"]
    teacher = new_page()
    r = teacher.request.post(
        hub.url + "/api/v1/auth/login", data={"username": "teacher3", "password": PASSWORD}
    )
    assert r.ok, r.text()
    ingest = api(teacher, hub, f"/api/v1/sessions/{session_id}/ingest")
    url = next(e["url"] for e in ingest["endpoints"] if e["protocol"] == "srt")

    # before the push: an anonymous desktop viewer and a center on a phone wait
    desk = new_page()
    desk.goto(f"{hub.url}/watch/{session_id}")
    phone = new_page(viewport={"width": 390, "height": 844})
    sign_in(phone, hub, "center")
    phone.goto(f"{hub.url}/watch/{session_id}")
    for page in (desk, phone):
        page.wait_for_selector("#waiting-room", state="visible")
        assert "老师还没开始，开始后自动播放" in page.inner_text("#waiting-room")
        page.wait_for_function("() => document.getElementById('countdown').textContent !== ''")
        assert not visible(page, "#video-box")
        page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    countdown = desk.inner_text("#countdown")
    assert "距开始还有" in countdown or "马上开始" in countdown, countdown
    shot(desk, "watch-1-waiting")
    shot(phone, "watch-1-waiting-phone")

    encoder: subprocess.Popen[bytes] | None = None
    try:
        # the teacher's encoder: retried until the recorder's SRT listener is up
        deadline = time.monotonic() + 150
        while True:
            state = api(teacher, hub, f"/api/v1/sessions/{session_id}/state")
            if state["state"] == "live" and state["playlist_ready"]:
                break
            assert time.monotonic() < deadline, f"no live segment: {state}"
            if encoder is None or encoder.poll() is not None:
                cmd = test_source_cmd(url, 300, "mpegts", size="426x240", binary=find_ffmpeg())
                encoder = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            teacher.wait_for_timeout(500)
        first_segment = time.monotonic()
        # both pages switch to the live stream by themselves: no reload
        desk.wait_for_function(f"() => {PLAYER}.mode() === 'live'", timeout=TIMEOUT_MS)
        took = advancing(desk, TIMEOUT_MS)
        since_segment = time.monotonic() - first_segment
        assert since_segment < 15, f"playing {since_segment:.1f}s after the first segment"
        phone.wait_for_function(f"() => {PLAYER}.mode() === 'live'", timeout=TIMEOUT_MS)
        advancing(phone, TIMEOUT_MS)
        for page in (desk, phone):
            assert page.evaluate("window.__sameDocument") is True
            assert not visible(page, "#waiting-room")
            assert page.inner_text("#status-badge") == "直播中"
        print(f"live: playing {since_segment:.1f}s after the first segment ({took:.1f}s wait)")
        # the teacher sees the keyframe interval of the push (2 s here: no warning)
        teacher_state = api(teacher, hub, f"/api/v1/sessions/{session_id}/state")
        assert teacher_state["keyframe_seconds"] is not None
        assert teacher_state["keyframe_seconds"] <= 4.5, teacher_state
        assert api(desk, hub, f"/api/v1/sessions/{session_id}/state")["keyframe_seconds"] is None
        shot(desk, "watch-2-live")
        # the phone starts muted (the browser blocks sound): the big button turns it on
        phone.wait_for_selector("#unmute", state="visible")
        assert phone.evaluate(f"{VIDEO}.muted") is True
        shot(phone, "watch-2-live-phone-muted")
        phone.click("#unmute")
        phone.wait_for_function(f"() => !{VIDEO}.muted")
        assert not visible(phone, "#unmute")
        assert phone.evaluate("localStorage.getItem('sharehub_sound')") == "on"
        shot(phone, "watch-2-live-phone-sound")
        # 下课 while the encoder still runs: both pages say the class has ended
        r = teacher.request.post(
            f"{hub.url}/api/v1/sessions/{session_id}/end", headers={"Origin": hub.url}
        )
        assert r.ok, r.text()
        for page in (desk, phone):
            page.wait_for_selector("#ended-room", state="visible", timeout=TIMEOUT_MS)
            assert "本节课已结束，回放生成中" in page.inner_text("#ended-room")
            assert page.inner_text("#status-badge") == "已结束"
            assert not visible(page, "#video-box")
        shot(desk, "watch-3-ended")
        shot(phone, "watch-3-ended-phone")
    finally:
        if encoder is not None and encoder.poll() is None:
            encoder.terminate()
            encoder.wait(timeout=20)

    # the push stopped: the replay is made and plays, no reload
    for page in (desk, phone):
        page.wait_for_function(f"() => {PLAYER}.mode() === 'replay'", timeout=180_000)
        advancing(page, TIMEOUT_MS)
        assert page.evaluate("window.__sameDocument") is True
        seen = page.evaluate(f"{PLAYER}.seen()")
        assert seen[:1] == ["waiting"] and seen[-2:] == ["ended", "replay"], seen
        # the replay's playlists (the low-bandwidth center starts on the low rendition)
        assert f"/sessions/{session_id}/hls/" in page.evaluate(f"{PLAYER}.source()")
    assert desk.inner_text("#status-badge") == "回放"
    shot(desk, "watch-4-replay")
    # the sound choice was kept on the phone: the replay plays with sound, no button
    assert phone.evaluate(f"{VIDEO}.muted") is False
    assert not visible(phone, "#unmute")
    shot(phone, "watch-4-replay-phone")

    # audio only on the phone: a visible player with play/pause, position and volume
    phone.select_option("#quality", "audio")
    phone.wait_for_selector("#audio-controls", state="visible")
    box = phone.locator("#audio-controls").bounding_box()
    assert box is not None and box["width"] <= 390 and box["height"] > 30
    # switching reloads the player; a pause while it loads is kept (nothing resumes it)
    phone.wait_for_function(f"() => !{VIDEO}.paused")
    label = "document.getElementById('audio-play').textContent.trim()"
    phone.click("#audio-play")
    phone.wait_for_function(f"() => {VIDEO}.paused && {label} === '播放'")
    phone.wait_for_timeout(1500)
    assert phone.evaluate(f"{VIDEO}.paused") is True  # nothing resumes it behind the user
    phone.click("#audio-play")
    phone.wait_for_function(f"() => !{VIDEO}.paused && {label} === '暂停'")
    phone.fill("#audio-volume", "0.5")
    phone.wait_for_function(f"() => Math.abs({VIDEO}.volume - 0.5) < 0.01")
    phone.wait_for_function("() => Number(document.getElementById('audio-seek').max) > 3")
    phone.fill("#audio-seek", "1")
    phone.dispatch_event("#audio-seek", "change")
    phone.wait_for_function(f"() => {VIDEO}.currentTime < 3")
    shot(phone, "watch-5-audio-only-phone")


def test_a_muted_live_stream_offers_the_sound_and_keeps_the_choice(hub: Hub, new_page: Any) -> None:
    page = new_page()
    page.goto(f"{hub.url}/watch/{hub.ids['live']}")
    page.wait_for_function(f"() => {VIDEO}.currentTime > 1", timeout=120_000)
    page.wait_for_selector("#unmute", state="visible")
    assert page.inner_text("#unmute").endswith("点击开启声音")
    page.keyboard.press("Tab")  # reachable from the keyboard too
    page.focus("#unmute")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => !{VIDEO}.muted")
    assert not visible(page, "#unmute")
    # the same device later: the sound is on from the start
    again = page.context.new_page()
    again.goto(f"{hub.url}/watch/{hub.ids['live']}")
    again.wait_for_function(f"() => {VIDEO}.currentTime > 1", timeout=120_000)
    assert again.evaluate(f"{VIDEO}.muted") is False
    assert not visible(again, "#unmute")
    # muting through the player is remembered as well
    again.evaluate(f"{VIDEO}.muted = true")
    again.wait_for_selector("#unmute", state="visible")
    assert again.evaluate("localStorage.getItem('sharehub_sound')") == "off"
    # audio only on the live stream: the controls are there and work
    again.select_option("#quality", "audio")
    again.wait_for_selector("#audio-controls", state="visible")
    again.click("#audio-mute")
    again.wait_for_function(f"() => !{VIDEO}.muted")
    again.click("#audio-play")
    again.wait_for_function(f"() => {VIDEO}.paused")
    again.click("#audio-play")
    again.wait_for_function(f"() => !{VIDEO}.paused")
    shot(again, "watch-live-audio-only")
