"""The pages in Debian's Chromium (Playwright): language, scheduling with a clash, the center's
check-in (online, offline and replayed), the watch page playing a live HLS stream made by
ffmpeg with the view counted, and the administrator's XLSX export."""

from __future__ import annotations

import json
import subprocess
import time
import zipfile
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import PASSWORD, TIMEOUT_MS, Hub, shot, sign_in

pytestmark = pytest.mark.slow
SHANGHAI = ZoneInfo("Asia/Shanghai")


def api(page: Any, hub: Hub, path: str) -> Any:
    r = page.request.get(hub.url + path)
    assert r.ok, f"{path}: {r.status} {r.text()}"
    return r.json()


def test_chinese_by_default_english_after_the_switch(hub: Hub, new_page: Any) -> None:
    page = new_page("zh-CN")
    page.goto(hub.url + "/")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1") == "课程表"
    assert page.is_visible("text=数学直播课")
    shot(page, "schedule-zh")
    page.click("#lang-switch button[value=en]")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert page.inner_text("h1") == "Class schedule"
    page.reload()
    assert page.inner_text("h1") == "Class schedule"  # kept in the cookie
    shot(page, "schedule-en")
    # a browser that asks for English gets it without the switch
    english = new_page("en-US")
    english.goto(hub.url + "/")
    assert english.get_attribute("html", "lang") == "en"


def test_teacher_schedules_a_class_and_sees_the_clash(hub: Hub, new_page: Any) -> None:
    page = new_page()
    sign_in(page, hub, "teacher")
    page.goto(hub.url + "/teacher")
    soon = api(page, hub, f"/api/v1/sessions/{hub.ids['soon']}?tz=Asia/Shanghai")
    start = datetime.fromisoformat(soon["starts_local"]).astimezone(SHANGHAI)
    page.select_option("#course_id", str(hub.ids["course"]))
    page.fill("#date", start.date().isoformat())
    page.fill("#start", f"{start:%H:%M}")
    page.fill("#duration", "40")
    page.select_option("#provider", "external_link")
    page.fill("#meeting_url", "https://meeting.example/room")
    page.click("#schedule-form button[type=submit]")
    clash = page.wait_for_selector("#clash")
    text = clash.inner_text()
    assert "数学直播课" in text and str(hub.ids["soon"]) in text and f"{start:%H:%M}" in text
    shot(page, "teacher-clash")
    # the form kept its values; move it two days later and it is scheduled
    later = start.replace(hour=15, minute=0).date().toordinal() + 2
    page.fill("#date", datetime.fromordinal(later).date().isoformat())
    page.fill("#start", "15:00")
    page.click("#schedule-form button[type=submit]")
    page.wait_for_selector("p.notice")
    assert "课程已安排" in page.inner_text("p.notice")
    shot(page, "teacher-classes")
    # the go-live panel of a scheduled class
    page.click(f"a[href='/teacher/sessions/{hub.ids['soon']}']")
    page.wait_for_selector("h2:has-text('参与情况')")
    shot(page, "teacher-session")


def test_center_checks_in_32_children_online_then_offline(hub: Hub, new_page: Any) -> None:
    page = new_page()
    sign_in(page, hub, "center")
    page.goto(hub.url + "/center")
    page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.ready")
    shot(page, "center-home")
    page.click(f"a[href='/center/bookings/{hub.ids['booking']}']")
    page.fill("#children", "32")
    shot(page, "center-checkin")
    page.click("#checkin-form button[type=submit]")
    page.wait_for_selector("#checked-in")
    assert "32" in page.inner_text("#checked-in")
    booking = next(b for b in api(page, hub, "/api/v1/bookings") if b["id"] == hub.ids["booking"])
    assert booking["children_present"] == 32
    first_check_in = booking["checked_in_at"]

    # the connection drops: the page still opens (service worker) and a correction is queued
    page.goto(hub.url + f"/center/bookings/{hub.ids['booking']}")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.context.set_offline(True)
    page.reload()
    page.wait_for_selector("#checkin-form")
    assert page.is_visible("#offline-banner")
    page.fill("#children", "30")
    page.click("#checkin-form button[type=submit]")
    page.wait_for_selector("#checkin-result:not([hidden])")
    assert "保存在本设备" in page.inner_text("#checkin-result")
    queued = page.evaluate("window.sharehubCheckins.queued()")
    assert len(queued) == 1 and queued[0]["children"] == 30
    shot(page, "center-checkin-offline")
    # the center's schedule opens offline too (the service worker's copy)
    page.goto(hub.url + "/center")
    page.wait_for_selector("h2:has-text('我们预约的课')")
    assert page.is_visible("text=数学直播课") and page.is_visible("#offline-banner")
    assert page.inner_text("#queued-count") == "1"
    page.context.set_offline(False)
    page.wait_for_function(
        "() => window.sharehubCheckins.queued().length === 0", timeout=TIMEOUT_MS
    )
    booking = next(b for b in api(page, hub, "/api/v1/bookings") if b["id"] == hub.ids["booking"])
    assert booking["children_present"] == 30
    assert booking["checked_in_at"] == first_check_in
    # the same queued check-in sent again (an answer lost on the way) counts once
    page.evaluate(
        "q => { localStorage.setItem('sharehub_checkins', JSON.stringify(q)); }",
        [{**queued[0], "children": 99}],
    )
    page.evaluate("window.sharehubCheckins.flush()")
    page.wait_for_function(
        "() => window.sharehubCheckins.queued().length === 0", timeout=TIMEOUT_MS
    )
    booking = next(b for b in api(page, hub, "/api/v1/bookings") if b["id"] == hub.ids["booking"])
    assert booking["children_present"] == 30


def test_watch_page_plays_the_live_stream_and_the_view_counts(hub: Hub, new_page: Any) -> None:
    page = new_page()
    before = api(page, hub, f"/api/v1/sessions/{hub.ids['live']}/views")["live_views"]
    page.goto(hub.url + f"/watch/{hub.ids['live']}")
    video = "document.getElementById('video')"
    page.wait_for_function(f"() => {video}.currentTime > 4", timeout=120_000)
    t1 = page.evaluate(f"{video}.currentTime")
    page.wait_for_function(f"() => {video}.currentTime > {t1} + 2", timeout=TIMEOUT_MS)
    shot(page, "watch-live")
    page.select_option("#quality", "low")
    page.wait_for_function(f"() => {video}.currentTime > {t1} + 3", timeout=TIMEOUT_MS)
    page.evaluate("window.sharehubPlayer.flush()")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while api(page, hub, f"/api/v1/sessions/{hub.ids['live']}/views")["live_views"] == before:
        assert time.monotonic() < deadline, "the view was not counted"
        page.wait_for_timeout(500)
    after = api(page, hub, f"/api/v1/sessions/{hub.ids['live']}/views")
    assert after["live_views"] == before + 1


def test_admin_downloads_the_xlsx_export(hub: Hub, new_page: Any, tmp_path: Any) -> None:
    page = new_page()
    sign_in(page, hub, "admin")
    page.goto(hub.url + "/admin")
    assert page.locator(".chart svg").count() == 3
    shot(page, "admin-dashboard")
    with page.expect_download() as info:
        page.click("#export-attendance-xlsx")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.suffix == ".xlsx"
    with zipfile.ZipFile(path) as book:
        assert "xl/workbook.xml" in book.namelist()
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = (
            book.read("xl/sharedStrings.xml").decode()
            if "xl/sharedStrings.xml" in book.namelist()
            else ""
        )
    assert "威宁共享中心" in sheet + strings  # booked the class on air (today, any hour)
    json.dumps({"downloaded": path.name})


def test_watch_page_plays_a_self_hosted_stream_pushed_by_ffmpeg(hub: Hub, new_page: Any) -> None:
    """The teacher's encoder (ffmpeg) pushes SRT to the hub's recorder; the watch page plays
    the hub's own live HLS and the view counts."""
    from media.commands import test_source_cmd
    from media.ffmpeg_bin import find_ffmpeg

    page = new_page()
    session_id = hub.ids["selfhosted"]
    r = page.request.post(
        hub.url + "/api/v1/auth/login", data={"username": "teacher2", "password": PASSWORD}
    )
    assert r.ok, r.text()
    ingest = api(page, hub, f"/api/v1/sessions/{session_id}/ingest")
    url = next(e["url"] for e in ingest["endpoints"] if e["protocol"] == "srt")
    # the panel shows the same address, a copy button and the QR code
    page.goto(f"{hub.url}/teacher/sessions/{session_id}")
    assert page.inner_text("#url-1") == url
    assert page.locator(".qr svg").count() >= 1
    shot(page, "teacher-go-live")

    encoder: subprocess.Popen[bytes] | None = None
    deadline = time.monotonic() + 120
    try:
        while api(page, hub, f"/api/v1/sessions/{session_id}")["status"] != "live":
            assert time.monotonic() < deadline, "the pushed stream never went live"
            if encoder is None or encoder.poll() is not None:  # listener not up yet: retry
                cmd = test_source_cmd(url, 240, "mpegts", size="426x240", binary=find_ffmpeg())
                encoder = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            page.wait_for_timeout(1000)
        viewer = new_page()
        before = api(viewer, hub, f"/api/v1/sessions/{session_id}/views")["live_views"]
        viewer.goto(f"{hub.url}/watch/{session_id}")
        # the page plays the hub's own live playlist once it holds a segment
        viewer.wait_for_function(
            "() => (window.sharehubPlayer.source() || '').includes('/hls/index.m3u8')",
            timeout=150_000,
        )
        video = "document.getElementById('video')"
        viewer.wait_for_function(f"() => {video}.currentTime > 4", timeout=150_000)
        t1 = viewer.evaluate(f"{video}.currentTime")
        viewer.wait_for_function(f"() => {video}.currentTime > {t1} + 2", timeout=TIMEOUT_MS)
        shot(viewer, "watch-self-hosted")
        viewer.evaluate("window.sharehubPlayer.flush()")
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while api(viewer, hub, f"/api/v1/sessions/{session_id}/views")["live_views"] == before:
            assert time.monotonic() < deadline, "the view was not counted"
            viewer.wait_for_timeout(500)
    finally:
        if encoder is not None and encoder.poll() is None:
            encoder.terminate()
            encoder.wait(timeout=20)
