"""Classroom mode in Chromium: the teacher's live panel and two share-centers' class screens
on 390 px phones. Each room raises a hand, one sends a signal and a photo; the teacher sees them
in order, answers one, calls the roll, the chosen room sees the prompt and answers; a room that
is offline queues a question that arrives once. Screenshots of the three screens."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image

from tests.browser.conftest import PASSWORD, Hub, shot, sign_in

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}


def call(page: Any, method: str, path: str, body: Any = None) -> Any:
    """A JSON request from inside the page (the browser's own cookie and Origin)."""
    got = page.evaluate(
        """async ([method, path, body]) => {
            const r = await fetch(path, {method, credentials: "same-origin",
              headers: {"Content-Type": "application/json", "Accept": "application/json"},
              body: body === null ? undefined : JSON.stringify(body)});
            return {status: r.status, body: await r.text()};
        }""",
        [method, path, body],
    )
    assert got["status"] < 300, f"{method} {path}: {got}"
    return json.loads(got["body"]) if got["body"] else None


def a_class(admin: Any) -> dict[str, Any]:
    """Through the API as the administrator: a teacher, two centers with operators, a class
    that began five minutes ago, booked by both centers, both checked in."""
    made: dict[str, Any] = {}
    user = call(
        admin,
        "POST",
        "/api/v1/users",
        {"username": "cr_teacher", "password": PASSWORD, "role": "teacher"},
    )
    teacher = call(admin, "POST", "/api/v1/teachers", {"name": "周老师", "user_id": user["id"]})
    course = call(
        admin,
        "POST",
        "/api/v1/courses",
        {"title": "课堂互动课", "subject": "数学", "teacher_id": teacher["id"]},
    )
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    session = call(
        admin,
        "POST",
        "/api/v1/sessions",
        {
            "course_id": course["id"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=45)).isoformat(),
            "provider": "external_link",
            "provider_settings": {"meeting_url": "https://meeting.example/classroom"},
        },
    )
    made["session"] = session["id"]
    for n, (name, county) in enumerate([("会泽共享中心", "会泽县"), ("彝良共享中心", "彝良县")], 1):
        center = call(
            admin,
            "POST",
            "/api/v1/centers",
            {"name": name, "province": "云南省", "city": "昭通市", "county": county},
        )
        call(
            admin,
            "POST",
            "/api/v1/users",
            {
                "username": f"cr_center{n}",
                "password": PASSWORD,
                "role": "center",
                "center_id": center["id"],
            },
        )
        booking = call(
            admin, "POST", f"/api/v1/sessions/{session['id']}/bookings", {"center_id": center["id"]}
        )
        call(admin, "POST", f"/api/v1/bookings/{booking['id']}/check-in", {"children": 20 + n})
        made[f"center{n}"] = center["id"]
        made[f"booking{n}"] = booking["id"]
    return made


def worksheet_photo(path: Any) -> Any:
    image = Image.new("RGB", (1800, 1200), (250, 250, 240))
    for x in range(100, 1700, 50):
        for y in range(100, 1100, 8):
            image.putpixel((x, y), (20, 20, 20))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (27.0, 50.0, 3.0), 3: "E", 4: (104.0, 52.0, 1.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    path.write_bytes(out.getvalue())
    return path


def queue_texts(teacher: Any) -> list[str]:
    return [t.strip() for t in teacher.locator("#cr-queue li .who").all_inner_texts()]


def test_rooms_talk_back_and_the_teacher_answers(hub: Hub, new_page: Any, tmp_path: Any) -> None:
    admin = new_page()
    sign_in(admin, hub, "admin")
    made = a_class(admin)
    sid = made["session"]

    teacher = new_page(viewport={"width": 1100, "height": 1000})
    sign_in(teacher, hub, "cr_teacher")
    teacher.goto(f"{hub.url}/teacher/sessions/{sid}")
    teacher.wait_for_selector("#cr-strip tbody tr >> nth=1")  # both rooms in the strip
    teacher.wait_for_function("() => document.getElementById('cr-status').textContent.length > 0")
    rooms = []
    for n in (1, 2):
        room = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
        sign_in(room, hub, f"cr_center{n}")
        room.goto(f"{hub.url}/center/bookings/{made[f'booking{n}']}/class")
        room.wait_for_selector("#cr-hand")
        rooms.append(room)
    one, two = rooms
    # big touch targets, nothing wider than the phone
    box = one.locator("#cr-hand").bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 300
    assert one.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    one.fill("#cr-text", "第三题怎么做?")
    one.click("#cr-hand")
    one.wait_for_selector("#cr-result:has-text('已发给老师')")
    two.click(".cr-signal[data-signal=too_fast]")
    two.fill("#cr-text", "请再讲一遍")
    two.click("#cr-hand")
    two.wait_for_selector("#cr-result:has-text('已发给老师')")
    one.set_input_files("#cr-photo-file", str(worksheet_photo(tmp_path / "worksheet.jpg")))
    one.wait_for_selector("#cr-result:has-text('照片已发给老师')")

    teacher.wait_for_function("() => document.querySelectorAll('#cr-queue li').length === 3")
    assert queue_texts(teacher) == [
        "会泽共享中心 · 举手",
        "彝良共享中心 · 举手",
        "会泽共享中心 · 照片",
    ]
    teacher.wait_for_selector("#cr-queue li img")
    teacher.wait_for_function(
        "() => document.querySelector('#cr-queue li img').naturalWidth > 0"  # re-encoded photo
    )
    teacher.wait_for_selector("#cr-strip td:has-text('太快了')")
    shot(teacher, "classroom-teacher-queue")

    teacher.click("#cr-queue li >> nth=0 >> .cr-answer")
    teacher.wait_for_function("() => document.querySelectorAll('#cr-queue li').length === 2")
    one.wait_for_selector("#cr-feed li:has-text('老师回答了你们的问题')")

    teacher.click("#cr-rollcall")
    logged = teacher.wait_for_selector("#cr-log li:has-text('点名：')").inner_text()
    chosen = one if "会泽" in logged else two
    chosen.wait_for_selector("#cr-rollcall", state="visible")
    other = two if chosen is one else one
    assert not other.locator("#cr-rollcall").is_visible()
    shot(chosen, "classroom-room-rollcall")
    chosen.click("#cr-here")
    teacher.wait_for_selector("#cr-log li:has-text('已应答点名')")

    # offline: the question waits on the phone and arrives once when it is back
    two.context.set_offline(True)
    two.fill("#cr-text", "离线时的问题")
    two.click("#cr-hand")
    two.wait_for_selector("#cr-queued:not([hidden])")
    assert two.inner_text("#cr-queued-count") == "1"
    shot(two, "classroom-room-offline")
    two.context.set_offline(False)
    two.wait_for_selector("#cr-queued[hidden]", state="attached")
    teacher.wait_for_selector("#cr-queue li:has-text('离线时的问题')")
    sent = call(teacher, "GET", f"/api/v1/sessions/{sid}/classroom/events")
    assert [e["text"] for e in sent].count("离线时的问题") == 1
    assert teacher.locator("#cr-queue li:has-text('离线时的问题')").count() == 1
    shot(one, "classroom-room-answered")
    shot(teacher, "classroom-teacher-panel")


def test_a_rooms_player_steps_down_after_repeated_stalls(hub: Hub, new_page: Any) -> None:
    """The link-health script on a center's live player: three stalls within a minute step it
    down to low bandwidth, three more to audio only, and the room is told each time."""
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, hub, "center")
    page.goto(f"{hub.url}/watch/{hub.ids['live']}")
    page.wait_for_function("() => window.sharehubLinkHealth && window.sharehubPlayer")
    page.select_option("#quality", "auto")
    # a stall while the player seeks (to the live edge, as it starts) is not counted: stall
    # until three are counted, then three more
    stall_until = (
        "n => { const h = window.sharehubLinkHealth; h.stalled(); return h.stalls() >= n; }"
    )
    page.wait_for_function(stall_until, arg=3)
    page.wait_for_function("() => document.querySelector('#quality').value === 'low'")
    assert "流畅" in page.inner_text("#link-notice")
    page.wait_for_function(stall_until, arg=6)
    page.wait_for_function("() => document.querySelector('#quality').value === 'audio'")
    assert "仅声音" in page.inner_text("#link-notice")
    assert page.evaluate("() => window.sharehubLinkHealth.stalls()") == 6
    shot(page, "classroom-room-stepped-down")
