"""The pages over HTTP (no browser): languages, CSRF, sign-in, the schedule, scheduling with a
clash, booking and check-in, the dashboard, error pages, static assets. Runs on SQLite and
PostgreSQL through the ``world`` fixture; the browser tests are in ``tests/browser/``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from hub.pages import impact_view
from hub.tables import (
    Booking,
    Course,
    LiveSession,
    Recording,
    RecordingState,
    ShareCenter,
    Teacher,
    User,
)
from hub.volunteer.tables import VolunteerCertificate, VolunteerCorrection, VolunteerEntry
from tests.conftest import World

HTML = {"Accept": "text/html,application/xhtml+xml"}


def token_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, who: str) -> None:
    page = await client.get("/login", headers=HTML)
    r = await client.post(
        "/login",
        data={"csrf_token": token_in(page.text), "username": who, "password": f"password-{who}"},
        headers=HTML,
    )
    assert r.status_code == 303, r.text


@pytest.fixture
async def browser(world: World) -> httpx.AsyncClient:
    """A cookie-keeping client on the same app (a browser without JavaScript)."""
    transport = world.client._transport  # the ASGI app of ``world``
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c  # type: ignore[misc]


async def a_session(
    world: World, hours: float = 24.0, course: str = "course", who: str | None = None
) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids[course],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=45)).isoformat(),
            "provider": "external_link",
            "provider_settings": {"meeting_url": "https://meeting.example/abc"},
        },
        who=who or ("teacher" if course == "course" else "teacher2"),
    )
    assert r.status_code == 201, r.text
    return r.json()


# --------------------------------------------------------------------------- language


async def test_schedule_is_chinese_by_default_and_english_on_request(world: World) -> None:
    s = await a_session(world, hours=1)
    r = await world.client.get("/", headers=HTML)
    assert r.status_code == 200
    assert '<html lang="zh-CN">' in r.text
    assert "课程表" in r.text and "数学直播课" in r.text
    assert "已安排" in r.text and "Scheduled" not in r.text  # macros are translated too
    r = await world.client.get("/", headers={**HTML, "Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in r.text and "Class schedule" in r.text
    assert "课程表" not in r.text
    # a lower-quality Chinese preference loses to English
    r = await world.client.get("/", headers={**HTML, "Accept-Language": "zh;q=0.2, en;q=0.8"})
    assert '<html lang="en">' in r.text
    assert f"/courses/{s['course_id']}" in r.text


async def test_the_language_switch_is_kept_in_a_cookie(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/", headers=HTML)
    r = await browser.post(
        "/lang", data={"csrf_token": token_in(page.text), "lang": "en", "next": "/?week=next"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/?week=next"
    r = await browser.get("/?week=next", headers={**HTML, "Accept-Language": "zh-CN"})
    assert '<html lang="en">' in r.text
    r = await browser.post("/lang", data={"csrf_token": token_in(r.text), "lang": "zh_CN"})
    r = await browser.get("/", headers=HTML)
    assert '<html lang="zh-CN">' in r.text


async def test_schedule_filters_by_subject_and_week(world: World) -> None:
    await a_session(world, hours=1)
    await a_session(world, hours=2, course="course2")
    r = await world.client.get("/?subject=美术", headers=HTML)
    assert "美术直播课" in r.text and "数学直播课" not in r.text
    r = await world.client.get("/?subject=数学&grade=3", headers=HTML)
    assert "数学直播课" in r.text and "美术直播课" not in r.text
    far = await world.client.get("/?week=next&subject=美术", headers=HTML)
    assert far.status_code == 200


async def test_centers_only_courses_are_hidden_from_anonymous_visitors(world: World) -> None:
    r = await world.patch(
        f"/api/v1/courses/{world.ids['course2']}", {"visibility": "centers"}, who="admin"
    )
    assert r.status_code == 200
    await a_session(world, hours=1, course="course2")
    r = await world.client.get("/", headers=HTML)
    assert "美术直播课" not in r.text
    r = await world.client.get(f"/courses/{world.ids['course2']}", headers=HTML)
    assert r.status_code == 404 and "<html" in r.text


# --------------------------------------------------------------------------- sign-in, CSRF


async def test_sign_in_needs_the_csrf_token(browser: httpx.AsyncClient) -> None:
    await browser.get("/login", headers=HTML)
    r = await browser.post(
        "/login", data={"username": "teacher", "password": "password-teacher"}, headers=HTML
    )
    assert r.status_code == 403
    assert "sharehub_session" not in r.headers.get("set-cookie", "")


async def test_a_forged_token_is_refused(browser: httpx.AsyncClient) -> None:
    await browser.get("/login", headers=HTML)
    r = await browser.post(
        "/login",
        data={"csrf_token": "x" * 43, "username": "teacher", "password": "password-teacher"},
        headers=HTML,
    )
    assert r.status_code == 403


async def test_sign_in_wrong_password_then_right(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/login?next=/teacher", headers=HTML)
    r = await browser.post(
        "/login",
        data={"csrf_token": token_in(page.text), "username": "teacher", "password": "nope"},
        headers=HTML,
    )
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    r = await browser.post(
        "/login",
        data={
            "csrf_token": token_in(page.text),
            "username": "teacher",
            "password": "password-teacher",
            "next": "//evil.example/",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/teacher"
    r = await browser.get("/teacher", headers=HTML)
    assert r.status_code == 200 and "安排一节课" in r.text
    r = await browser.post("/logout", data={"csrf_token": token_in(r.text)})
    assert r.status_code == 303
    r = await browser.get("/teacher", headers=HTML)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


async def test_change_password(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "center")
    page = await browser.get("/account/password", headers=HTML)
    token = token_in(page.text)
    r = await browser.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": "wrong",
            "new_password": "a-new-password",
            "repeat_password": "a-new-password",
        },
        headers=HTML,
    )
    assert r.status_code == 400 and "当前密码不对" in r.text
    r = await browser.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": "password-center",
            "new_password": "a-new-password",
            "repeat_password": "a-new-password",
        },
        headers=HTML,
    )
    assert r.status_code == 200 and "密码已修改" in r.text
    r = await browser.post(
        "/api/v1/auth/login", json={"username": "center", "password": "a-new-password"}
    )
    assert r.status_code == 200


# --------------------------------------------------------------------------- teacher


async def test_teacher_schedules_a_class_and_sees_the_clash_named(
    browser: httpx.AsyncClient, world: World
) -> None:
    await sign_in(browser, "teacher")
    page = await browser.get("/teacher", headers=HTML)
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    form = {
        "csrf_token": token_in(page.text),
        "course_id": str(world.ids["course"]),
        "date": day,
        "start": "10:00",
        "duration": "45",
        "weeks": "1",
        "provider": "external_link",
        "meeting_url": "https://meeting.example/abc",
    }
    r = await browser.post("/teacher/sessions", data=form)
    assert r.status_code == 303, r.text
    first = (
        await LiveSession.select(LiveSession.id)
        .where(LiveSession.teacher == world.ids["teacher_id"])
        .first()
        .run()
    )
    assert first is not None
    r = await browser.post("/teacher/sessions", data={**form, "start": "10:30"}, headers=HTML)
    assert r.status_code == 409
    clash = re.search(r'id="clash">(.*?)</p>', r.text, re.S)
    assert clash, r.text
    assert "数学直播课" in clash.group(1) and str(first["id"]) in clash.group(1)
    assert "10:00" in clash.group(1)
    assert (
        await LiveSession.count().where(LiveSession.teacher == world.ids["teacher_id"]).run() == 1
    )
    # a weekly series of three
    r = await browser.post(
        "/teacher/sessions", data={**form, "date": day, "start": "14:00", "weeks": "3"}
    )
    assert r.status_code == 303, r.text
    assert (
        await LiveSession.count().where(LiveSession.teacher == world.ids["teacher_id"]).run() == 4
    )


async def test_bad_form_values_are_named_in_the_form(
    browser: httpx.AsyncClient, world: World
) -> None:
    await sign_in(browser, "teacher")
    page = await browser.get("/teacher", headers=HTML)
    r = await browser.post(
        "/teacher/sessions",
        data={
            "csrf_token": token_in(page.text),
            "course_id": str(world.ids["course"]),
            "date": "not-a-day",
            "start": "25:99",
            "duration": "5",
            "weeks": "1",
        },
        headers=HTML,
    )
    assert r.status_code == 400
    assert r.text.count('class="field-error"') == 3


async def test_teacher_cannot_schedule_in_another_teachers_course(
    browser: httpx.AsyncClient, world: World
) -> None:
    await sign_in(browser, "teacher")
    page = await browser.get("/teacher", headers=HTML)
    r = await browser.post(
        "/teacher/sessions",
        data={
            "csrf_token": token_in(page.text),
            "course_id": str(world.ids["course2"]),
            "date": (datetime.now(UTC) + timedelta(days=3)).date().isoformat(),
            "start": "10:00",
            "duration": "45",
            "weeks": "1",
            "provider": "external_link",
            "meeting_url": "https://meeting.example/abc",
        },
        headers=HTML,
    )
    assert r.status_code == 403 and "<html" in r.text


async def test_go_live_panel_is_the_teachers_only(browser: httpx.AsyncClient, world: World) -> None:
    s = await a_session(world, hours=1)
    await sign_in(browser, "teacher2")
    r = await browser.get(f"/teacher/sessions/{s['id']}", headers=HTML)
    assert r.status_code == 403


# --------------------------------------------------------------------------- center


async def test_a_booking_leaves_the_centers_list_to_book_and_stays_in_the_others(
    browser: httpx.AsyncClient, world: World
) -> None:
    """A booking takes the class out of that center's classes to book at once and leaves it in
    the other's, each page carries its viewer's own form token, and a new class shows at once."""
    first = await a_session(world, hours=2)
    book = f'action="/center/sessions/{first["id"]}/book"'
    await sign_in(browser, "center")
    home = await browser.get("/center", headers=HTML)
    assert book in home.text
    r = await browser.post(
        f"/center/sessions/{first['id']}/book", data={"csrf_token": token_in(home.text)}
    )
    assert r.status_code == 303
    mine = await browser.get("/center", headers=HTML)
    assert book not in mine.text
    transport = world.client._transport
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        await sign_in(c, "center2")
        theirs = await c.get("/center", headers=HTML)
    assert book in theirs.text  # still theirs to book
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', theirs.text))
    assert tokens == {token_in(theirs.text)} and token_in(mine.text) not in tokens
    second = await a_session(world, hours=3)
    mine = await browser.get("/center", headers=HTML)
    assert f'action="/center/sessions/{second["id"]}/book"' in mine.text


async def test_center_books_checks_in_32_children_once(
    browser: httpx.AsyncClient, world: World
) -> None:
    s = await a_session(world, hours=0.5)
    await sign_in(browser, "center")
    home = await browser.get("/center", headers=HTML)
    assert home.status_code == 200 and "数学直播课" in home.text
    r = await browser.post(
        f"/center/sessions/{s['id']}/book", data={"csrf_token": token_in(home.text)}
    )
    assert r.status_code == 303
    booking = await Booking.select().where(Booking.session == s["id"]).first().run()
    assert booking is not None and booking["center"] == world.ids["center"]
    page = await browser.get(f"/center/bookings/{booking['id']}", headers=HTML)
    assert page.status_code == 200 and 'id="checkin-form"' in page.text
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key
    data = {"csrf_token": token_in(page.text), "key": key.group(1), "children": "32"}
    r = await browser.post(f"/center/bookings/{booking['id']}/check-in", data=data)
    assert r.status_code == 303
    # the same form sent again (a retry) counts once
    r = await browser.post(
        f"/center/bookings/{booking['id']}/check-in", data={**data, "children": "64"}
    )
    assert r.status_code == 303
    row = await Booking.select().where(Booking.id == booking["id"]).first().run()
    assert row is not None and row["children_present"] == 32 and row["checked_in_at"]
    home = await browser.get("/center", headers=HTML)
    assert "已签到：32 名儿童" in home.text


async def test_center_cannot_check_in_for_another_center(
    browser: httpx.AsyncClient, world: World
) -> None:
    s = await a_session(world, hours=0.5)
    r = await world.post(
        f"/api/v1/sessions/{s['id']}/bookings", {"center_id": world.ids["center2"]}, who="center2"
    )
    booking = r.json()["id"]
    await sign_in(browser, "center")
    page = await browser.get("/center", headers=HTML)
    r = await browser.post(
        f"/center/bookings/{booking}/check-in",
        data={"csrf_token": token_in(page.text), "children": "5", "key": "k" * 20},
        headers=HTML,
    )
    assert r.status_code == 403
    row = await Booking.select().where(Booking.id == booking).first().run()
    assert row is not None and row["children_present"] is None


async def test_center_unbooks(browser: httpx.AsyncClient, world: World) -> None:
    s = await a_session(world, hours=30)
    r = await world.post(
        f"/api/v1/sessions/{s['id']}/bookings", {"center_id": world.ids["center"]}, who="center"
    )
    await sign_in(browser, "center")
    page = await browser.get("/center", headers=HTML)
    r = await browser.post(
        f"/center/bookings/{r.json()['id']}/unbook", data={"csrf_token": token_in(page.text)}
    )
    assert r.status_code == 303
    assert await Booking.count().where(Booking.session == s["id"]).run() == 0


# --------------------------------------------------------------------------- admin


@pytest.mark.in_process(
    "the dashboard's figures are cached per process (60 s); forget() clears only this one's"
)
async def test_admin_dashboard_has_figures_charts_and_export_links(
    browser: httpx.AsyncClient, world: World
) -> None:
    # begun half an hour ago (entered by an administrator): today or yesterday in Beijing, so
    # within the dashboard's days at any hour (a class in 12 minutes is tomorrow after 23:48)
    s = await a_session(world, hours=-0.5, who="admin")
    r = await world.post(
        f"/api/v1/sessions/{s['id']}/bookings", {"center_id": world.ids["center"]}, who="center"
    )
    assert r.status_code == 201, r.text
    checked = await world.post(
        f"/api/v1/bookings/{r.json()['id']}/check-in", {"children": 32}, who="center"
    )
    assert checked.status_code in (200, 201), checked.text
    await LiveSession.update({LiveSession.status: "ended"}).where(LiveSession.id == s["id"]).run()
    impact_view.forget()
    await sign_in(browser, "admin")
    r = await browser.get("/admin", headers=HTML)
    assert r.status_code == 200
    assert r.text.count("<svg") == 3
    assert "云南省" in r.text  # the province of the center that checked in, in the chart
    assert "/api/v1/exports/attendance.xlsx" in r.text
    xlsx = await browser.get("/api/v1/exports/attendance.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


async def test_admin_adds_a_center_and_a_user(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "admin")
    page = await browser.get("/admin/centers", headers=HTML)
    r = await browser.post(
        "/admin/centers",
        data={
            "csrf_token": token_in(page.text),
            "name": "漳县共享中心",
            "province": "甘肃省",
            "city": "定西市",
            "county": "漳县",
            "rooms": "2",
            "kind": "mobile",
            "bandwidth": "low",
        },
    )
    assert r.status_code == 303
    page = await browser.get("/admin/users", headers=HTML)
    assert "漳县共享中心" in page.text
    r = await browser.post(
        "/admin/users",
        data={
            "csrf_token": token_in(page.text),
            "username": "x",
            "password": "short",
            "role": "center",
        },
        headers=HTML,
    )
    assert r.status_code == 400 and r.text.count('class="field-error"') == 3


def error_after(html: str, field: str) -> str:
    """The error shown in the field ``f-<field>``'s own box ('' when there is none)."""
    found = re.search(
        rf'<div><label for="f-{field}">(?:(?!</div>).)*?<p class="field-error">([^<]+)</p>',
        html,
        re.S,
    )
    return found.group(1) if found else ""


CENTER_FORM = {
    "name": "漳县流动教学点",
    "province": "甘肃省",
    "city": "定西市",
    "county": "漳县",
    "kind": "mobile",
    "rooms": "3",
    "timezone": "Asia/Urumqi",
    "bandwidth": "low",
    "contact_name": "马老师",
    "contact_phone": "0932-1234567",
}


async def test_admin_changes_a_center(browser: httpx.AsyncClient, world: World) -> None:
    center = world.ids["center"]
    await sign_in(browser, "admin")
    listing = await browser.get("/admin/centers", headers=HTML)
    assert f'href="/admin/centers/{center}"' in listing.text
    page = await browser.get(f"/admin/centers/{center}", headers=HTML)
    assert page.status_code == 200 and 'name="active" checked' in page.text
    token = token_in(page.text)
    # no "active" in the form: the box is unticked, the center is retired
    r = await browser.post(f"/admin/centers/{center}", data={"csrf_token": token, **CENTER_FORM})
    assert r.status_code == 303 and r.headers["location"] == f"/admin/centers/{center}?ok=saved"
    row = await ShareCenter.select().where(ShareCenter.id == center).first().run()
    assert row is not None
    assert {k: str(row[k]) for k in CENTER_FORM} == CENTER_FORM and row["active"] is False
    page = await browser.get(r.headers["location"], headers=HTML)
    assert "已保存" in page.text and 'name="active" checked' not in page.text
    # a value the API's shape refuses, and one the service refuses, each named at its field
    for field, value, message in (
        ("rooms", "51", "教室数为 1 到 50。"),
        ("rooms", "two", "教室数为 1 到 50。"),
        ("timezone", "Mars/Olympus", "未知的时区"),
        ("kind", "boat", "请选择类型"),
        ("name", "", "1 到 200 个字"),
    ):
        bad = {"csrf_token": token, **CENTER_FORM, "active": "on", field: value}
        r = await browser.post(f"/admin/centers/{center}", data=bad, headers=HTML)
        assert r.status_code == 400, (field, r.text[:300])
        assert message in error_after(r.text, field), (field, r.text)
        assert r.text.count('class="field-error"') == 1
    row = await ShareCenter.select().where(ShareCenter.id == center).first().run()
    assert row is not None and row["active"] is False and row["rooms"] == 3


async def test_only_an_admin_changes_a_center_by_page(
    browser: httpx.AsyncClient, world: World
) -> None:
    await sign_in(browser, "center")
    page = await browser.get("/center", headers=HTML)
    url = f"/admin/centers/{world.ids['center']}"
    assert (await browser.get(url, headers=HTML)).status_code == 403
    r = await browser.post(
        url, data={"csrf_token": token_in(page.text), **CENTER_FORM, "active": "on"}, headers=HTML
    )
    assert r.status_code == 403 and "<html" in r.text
    row = await ShareCenter.select().where(ShareCenter.id == world.ids["center"]).first().run()
    assert row is not None and row["name"] != CENTER_FORM["name"]


async def test_admin_changes_a_teacher(browser: httpx.AsyncClient, world: World) -> None:
    teacher = world.ids["teacher2_id"]
    await sign_in(browser, "admin")
    listing = await browser.get("/admin/teachers", headers=HTML)
    assert f'href="/admin/teachers/{teacher}"' in listing.text
    page = await browser.get(f"/admin/teachers/{teacher}", headers=HTML)
    form = {
        "csrf_token": token_in(page.text),
        "name": "王老师",
        "school": "昆明市第一小学",
        "subjects": "美术，音乐、 书法",
        "grades": "3, 4,5",
        "bio": "教美术二十年。",
    }
    r = await browser.post(f"/admin/teachers/{teacher}", data=form)
    assert r.status_code == 303, r.text
    row = await Teacher.select().where(Teacher.id == teacher).output(load_json=True).first().run()
    assert row is not None and row["name"] == "王老师" and row["school"] == "昆明市第一小学"
    assert row["subjects"] == ["美术", "音乐", "书法"] and row["grades"] == [3, 4, 5]
    page = await browser.get(f"/admin/teachers/{teacher}", headers=HTML)
    assert 'value="3, 4, 5"' in page.text and "教美术二十年。" in page.text
    r = await browser.post(
        f"/admin/teachers/{teacher}", data={**form, "grades": "3, 13"}, headers=HTML
    )
    assert r.status_code == 400 and "1 到 12 年级" in error_after(r.text, "grades")
    r = await browser.post(f"/admin/teachers/{teacher}", data={**form, "name": "x" * 101})
    assert r.status_code == 400 and "1 到 100 个字" in error_after(r.text, "name")
    row = await Teacher.select().where(Teacher.id == teacher).output(load_json=True).first().run()
    assert row is not None and row["grades"] == [3, 4, 5] and row["name"] == "王老师"
    # the teacher themself does not use the administrator's page
    await sign_in(browser, "teacher2")
    page = await browser.get("/teacher", headers=HTML)
    r = await browser.post(
        f"/admin/teachers/{teacher}",
        data={**form, "csrf_token": token_in(page.text), "name": "自己改"},
        headers=HTML,
    )
    assert r.status_code == 403
    assert (await browser.get("/admin/teachers/999999", headers=HTML)).status_code == 403


async def test_admin_changes_a_user_and_resets_the_password(
    browser: httpx.AsyncClient, world: World
) -> None:
    user = world.ids["user_center"]
    await sign_in(browser, "admin")
    listing = await browser.get("/admin/users", headers=HTML)
    assert f'href="/admin/users/{user}"' in listing.text
    page = await browser.get(f"/admin/users/{user}", headers=HTML)
    assert page.status_code == 200
    assert f'<option value="{world.ids["center"]}" selected>' in page.text
    form = {
        "csrf_token": token_in(page.text),
        "display_name": "漳县中心",
        "role": "center",
        "center_id": str(world.ids["center2"]),
        "active": "on",
        "password": "a-fresh-password",
    }
    r = await browser.post(f"/admin/users/{user}", data=form)
    assert r.status_code == 303, r.text
    row = await User.select().where(User.id == user).first().run()
    assert row is not None and row["center"] == world.ids["center2"]
    assert row["display_name"] == "漳县中心"
    login = {"username": "center", "password": "a-fresh-password"}
    assert (await world.client.post("/api/v1/auth/login", json=login)).status_code == 200
    # a center operator without a center, and a short password: both named
    r = await browser.post(
        f"/admin/users/{user}",
        data={**form, "center_id": "", "password": "short"},
        headers=HTML,
    )
    assert r.status_code == 400
    assert "需要" in error_after(r.text, "center_id")
    assert error_after(r.text, "password")
    # retired: the password no longer signs in, and the old token no longer works
    del form["active"], form["password"]
    r = await browser.post(f"/admin/users/{user}", data=form)
    assert r.status_code == 303
    assert (await world.client.post("/api/v1/auth/login", json=login)).status_code == 401
    r = await world.client.get("/api/v1/me", headers=world.auth("center"))
    assert r.status_code == 401
    # the administrator cannot lock themself out
    me = world.ids["user_admin"]
    page = await browser.get(f"/admin/users/{me}", headers=HTML)
    r = await browser.post(
        f"/admin/users/{me}",
        data={"csrf_token": token_in(page.text), "role": "teacher", "active": "on"},
        headers=HTML,
    )
    assert r.status_code == 400 and "管理员权限" in error_after(r.text, "role")
    assert (await browser.get("/admin/users/999999", headers=HTML)).status_code == 404
    r = await browser.post("/admin/centers/999999", data=form, headers=HTML)
    assert r.status_code == 404 and "<html" in r.text
    row = await User.select().where(User.id == me).first().run()
    assert row is not None and row["role"] == "admin"


async def test_only_an_admin_changes_a_user_by_page(
    browser: httpx.AsyncClient, world: World
) -> None:
    await sign_in(browser, "teacher")
    page = await browser.get("/teacher", headers=HTML)
    me = world.ids["user_teacher"]
    r = await browser.post(
        f"/admin/users/{me}",
        data={"csrf_token": token_in(page.text), "role": "admin", "active": "on"},
        headers=HTML,
    )
    assert r.status_code == 403
    row = await User.select().where(User.id == me).first().run()
    assert row is not None and row["role"] == "teacher"


async def test_teacher_creates_a_course(browser: httpx.AsyncClient, world: World) -> None:
    await sign_in(browser, "teacher")
    classes = await browser.get("/teacher", headers=HTML)
    assert 'href="/teacher/courses/new"' in classes.text
    page = await browser.get("/teacher/courses/new", headers=HTML)
    assert page.status_code == 200 and 'name="teacher_id"' not in page.text
    form = {
        "csrf_token": token_in(page.text),
        "title": "科学实验课",
        "subject": "科学",
        "grade_min": "3",
        "grade_max": "6",
        "description": "用身边的东西做实验。",
        "visibility": "centers",
        "teacher_id": str(world.ids["teacher2_id"]),  # ignored: a teacher adds their own
    }
    r = await browser.post("/teacher/courses", data=form)
    assert r.status_code == 303 and r.headers["location"] == "/teacher?ok=course-added"
    row = await Course.select().where(Course.title == "科学实验课").first().run()
    assert row is not None and row["teacher"] == world.ids["teacher_id"]
    assert (row["grade_min"], row["grade_max"], row["visibility"]) == (3, 6, "centers")
    classes = await browser.get(r.headers["location"], headers=HTML)
    assert "课程已创建" in classes.text and "科学实验课" in classes.text
    # the grade band out of order (the API's own rule), and a grade out of range
    r = await browser.post(
        "/teacher/courses", data={**form, "title": "倒序", "grade_min": "6", "grade_max": "3"}
    )
    assert r.status_code == 400 and "不低于起始年级" in error_after(r.text, "grade_max")
    r = await browser.post(
        "/teacher/courses", data={**form, "title": "太高", "grade_max": "13", "subject": ""}
    )
    assert r.status_code == 400
    assert error_after(r.text, "grade_max") and error_after(r.text, "subject")
    assert 'value="太高"' in r.text  # what was typed is kept
    assert await Course.count().where(Course.title.is_in(["倒序", "太高"])).run() == 0


async def test_admin_creates_a_course_for_a_teacher(
    browser: httpx.AsyncClient, world: World
) -> None:
    await sign_in(browser, "admin")
    page = await browser.get("/teacher/courses/new", headers=HTML)
    assert f'<option value="{world.ids["teacher2_id"]}">' in page.text
    form = {
        "csrf_token": token_in(page.text),
        "title": "音乐欣赏",
        "subject": "音乐",
        "grade_min": "1",
        "grade_max": "9",
        "visibility": "public",
    }
    r = await browser.post("/teacher/courses", data=form, headers=HTML)
    assert r.status_code == 400 and error_after(r.text, "teacher_id")
    r = await browser.post(
        "/teacher/courses", data={**form, "teacher_id": str(world.ids["teacher2_id"])}
    )
    assert r.status_code == 303
    row = await Course.select().where(Course.title == "音乐欣赏").first().run()
    assert row is not None and row["teacher"] == world.ids["teacher2_id"]


async def test_a_center_cannot_create_a_course(browser: httpx.AsyncClient, world: World) -> None:
    await sign_in(browser, "center")
    page = await browser.get("/center", headers=HTML)
    assert (await browser.get("/teacher/courses/new", headers=HTML)).status_code == 403
    r = await browser.post(
        "/teacher/courses",
        data={
            "csrf_token": token_in(page.text),
            "title": "不该有",
            "subject": "数学",
            "teacher_id": str(world.ids["teacher_id"]),
        },
        headers=HTML,
    )
    assert r.status_code == 403
    assert await Course.count().where(Course.title == "不该有").run() == 0


async def test_admin_makes_a_report_from_the_page(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "admin")
    page = await browser.get("/admin/reports", headers=HTML)
    assert page.status_code == 200
    reporters = re.findall(r'<option value="([a-z_]+)"', page.text)
    assert reporters, "no reporting plugin is loaded"
    r = await browser.post(
        "/admin/reports",
        data={
            "csrf_token": token_in(page.text),
            "reporter": reporters[0],
            "from": "2026-03-01",
            "to": "2026-02-01",
        },
        headers=HTML,
    )
    assert r.status_code == 400 and "结束日期早于起始日期" in r.text
    r = await browser.post(
        "/admin/reports",
        data={
            "csrf_token": token_in(page.text),
            "reporter": reporters[0],
            "from": "2026-01-01",
            "to": "2026-01-31",
        },
    )
    assert r.status_code == 303
    listing = await browser.get("/admin/reports", headers=HTML)
    link = re.search(r'href="(/api/v1/reports/\d+/file)"', listing.text)
    assert link, listing.text
    assert (await browser.get(link.group(1))).status_code == 200


async def test_non_admin_gets_a_friendly_403(browser: httpx.AsyncClient) -> None:
    await sign_in(browser, "teacher")
    r = await browser.get("/admin", headers=HTML)
    assert r.status_code == 403 and "<html" in r.text and "无权" in r.text


# --------------------------------------------------------------------------- errors, assets


async def test_unknown_page_is_a_friendly_404_and_the_api_stays_json(world: World) -> None:
    r = await world.client.get("/no/such/page", headers=HTML)
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "页面不存在" in r.text
    r = await world.client.get("/api/v1/sessions/999999", headers=HTML)
    assert r.status_code == 404 and r.json()["status_code"] == 404
    r = await world.client.get("/no/such/page")
    assert r.status_code == 404 and r.json()["status_code"] == 404


async def test_static_assets_have_fingerprinted_names_and_long_cache(world: World) -> None:
    page = await world.client.get("/", headers=HTML)
    css = re.search(r'href="(/static/css/app\.[0-9a-f]{10}\.css)"', page.text)
    assert css, page.text[:500]
    r = await world.client.get(css.group(1), headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert r.headers["content-type"].startswith("text/css")
    assert (await world.client.get("/static/css/app.0000000000.css")).status_code == 404
    sw = await world.client.get("/center/sw.js")
    assert (
        sw.status_code == 200 and "__ASSETS__" not in sw.text and "/static/js/checkin." in sw.text
    )


# --------------------------------------------------------------------------- every page form


async def test_admin_may_post_every_page_form(world: World) -> None:
    """One walk through every page form as the administrator (a Bearer token: no CSRF)."""
    from tests.test_permissions import PAGE_FORMS

    done: set[tuple[str, str]] = set()

    async def call(route: str, data: dict[str, str] | None = None, **ids: Any) -> httpx.Response:
        url = re.sub(r"\{(\w+):\w+\}", lambda m: str(ids[m.group(1)]), route)
        r = await world.client.post(url, data=data or {}, headers=world.auth("admin"))
        assert r.status_code in (200, 303), f"{route}: {r.status_code} {r.text[:300]}"
        done.add(("POST", route.split("?")[0]))
        return r

    day = (datetime.now(UTC) + timedelta(minutes=40)).astimezone(ZoneInfo("Asia/Shanghai"))
    await call(
        "/teacher/sessions",
        {
            "course_id": str(world.ids["course"]),
            "date": day.date().isoformat(),
            "start": f"{day:%H:%M}",
            "duration": "30",
            "weeks": "1",
            "provider": "external_link",
            "meeting_url": "https://meeting.example/x",
        },
    )
    session = await LiveSession.select(LiveSession.id).order_by(LiveSession.id).first().run()
    assert session is not None
    sid = session["id"]
    await call("/teacher/sessions/{session_id:int}/rotate", session_id=sid)
    await call(
        f"/center/sessions/{{session_id:int}}/book?center={world.ids['center']}", session_id=sid
    )
    await call(
        f"/center/sessions/{{session_id:int}}/book?center={world.ids['center2']}", session_id=sid
    )
    rows = await Booking.select().where(Booking.session == sid).order_by(Booking.id).run()
    assert [b["center"] for b in rows] == [world.ids["center"], world.ids["center2"]]
    await call(
        "/center/bookings/{booking_id:int}/check-in",
        {"children": "12", "key": "admin-walk-key"},
        booking_id=rows[0]["id"],
    )
    await call("/center/bookings/{booking_id:int}/unbook", booking_id=rows[1]["id"])
    await call("/teacher/sessions/{session_id:int}/cancel", session_id=sid)
    # a meeting-app class marked as held with the panel's 开始上课 and 下课
    later = day + timedelta(hours=2)
    await call(
        "/teacher/sessions",
        {
            "course_id": str(world.ids["course"]),
            "date": later.date().isoformat(),
            "start": f"{later:%H:%M}",
            "duration": "30",
            "weeks": "1",
            "provider": "external_link",
            "meeting_url": "https://meeting.example/y",
        },
    )
    held = (
        await LiveSession.select(LiveSession.id)
        .order_by(LiveSession.id, ascending=False)
        .first()
        .run()
    )
    assert held is not None and held["id"] != sid
    await call("/teacher/sessions/{session_id:int}/start", session_id=held["id"])
    await call("/teacher/sessions/{session_id:int}/end", session_id=held["id"])
    assert (
        await LiveSession.select(LiveSession.status)
        .where(LiveSession.id == held["id"])
        .first()
        .run()
    ) == {"status": "ended"}
    await call("/admin/{kind:str}", {"name": "李老师", "school": "北京小学"}, kind="teachers")
    operator = {"role": "center", "center_id": str(world.ids["center2"]), "active": "on"}
    for kind, item_id, form in (
        ("centers", world.ids["center2"], {**CENTER_FORM, "active": "on"}),
        ("teachers", world.ids["teacher2_id"], {"name": "王老师", "grades": "1, 2"}),
        ("users", world.ids["user_center2"], operator),
    ):
        await call("/admin/{kind:str}/{item_id:int}", form, kind=kind, item_id=item_id)
    await call(
        "/teacher/courses",
        {
            "title": "书法入门",
            "subject": "书法",
            "grade_min": "2",
            "grade_max": "5",
            "visibility": "public",
            "teacher_id": str(world.ids["teacher_id"]),
        },
    )
    assert await Course.count().where(Course.title == "书法入门").run() == 1
    await call(
        "/admin/reports", {"reporter": "impact_workbook", "from": "2026-01-01", "to": "2026-01-31"}
    )
    await volunteer_walk(world, call)
    await call(
        "/account/password",
        {
            "current_password": "password-admin",
            "new_password": "a-new-password-1",
            "repeat_password": "a-new-password-1",
        },
    )
    await call("/notifications/read")
    assert done == PAGE_FORMS
    checked = await Booking.select().where(Booking.id == rows[0]["id"]).first().run()
    assert checked is not None and checked["children_present"] == 12


# --------------------------------------------------------------------------- replays, bandwidth


async def test_replays_offer_the_mp4_and_the_low_renditions(
    browser: httpx.AsyncClient, world: World
) -> None:
    s = await a_session(world, hours=-3, who="admin")  # a class held: only an admin enters one
    r = await world.post(
        f"/api/v1/sessions/{s['id']}/bookings", {"center_id": world.ids["center"]}, who="admin"
    )
    assert r.status_code == 201, r.text
    await (
        LiveSession.update({LiveSession.status: "archived"}).where(LiveSession.id == s["id"]).run()
    )
    prefix = f"sessions/{s['id']}"
    await Recording.insert(
        Recording(
            session_id=s["id"],
            state=RecordingState.ready.value,
            key_prefix=prefix,
            playlist_key=f"{prefix}/index.m3u8",
            mp4_key=f"{prefix}/replay.mp4",
            segments=12,
            mp4_bytes=48 * 1024 * 1024,
            renditions={
                "low": {"key": f"{prefix}/low/index.m3u8", "bytes": 1000},
                "audio": {"key": f"{prefix}/audio/index.m3u8", "bytes": 100},
            },
        )
    ).run()
    await sign_in(browser, "center")
    page = await browser.get("/center/replays", headers=HTML)
    assert page.status_code == 200
    link = re.search(r'<a href="([^"]+replay\.mp4[^"]*)" download>下载 MP4 \(48\.0 MB\)', page.text)
    assert link, page.text
    watch = await browser.get(f"/watch/{s['id']}", headers=HTML)
    sources = re.search(r'data-sources="([^"]+)"', watch.text)
    assert sources
    decoded = sources.group(1).replace("&#34;", '"')
    for name in ("high", "low", "audio"):
        assert f'"{name}":' in decoded
    assert f"/api/v1/sessions/{s['id']}/hls/low.m3u8" in decoded


async def test_a_low_bandwidth_center_starts_on_the_low_rendition(
    browser: httpx.AsyncClient, world: World
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=45)).isoformat(),
            "provider": "external_link",
            "provider_settings": {"playback_url": "https://cdn.example/live/a.m3u8"},
        },
        who="admin",  # started five minutes ago: a teacher could not schedule it now
    )
    session = r.json()["id"]
    await LiveSession.update({LiveSession.status: "live"}).where(LiveSession.id == session).run()
    await sign_in(browser, "center")
    page = await browser.get(f"/watch/{session}", headers=HTML)
    assert 'data-start-low="false"' in page.text  # a medium-bandwidth center
    await world.patch(f"/api/v1/centers/{world.ids['center']}", {"bandwidth": "low"}, who="admin")
    page = await browser.get(f"/watch/{session}", headers=HTML)
    assert 'data-start-low="true"' in page.text
    assert '<option value="low" selected>' in page.text
    assert "https://cdn.example/live/a.m3u8" in page.text


async def test_center_pages_show_times_in_the_centers_zone(
    browser: httpx.AsyncClient, world: World
) -> None:
    s = await a_session(world, hours=30)
    await world.post(
        f"/api/v1/sessions/{s['id']}/bookings", {"center_id": world.ids["center"]}, who="center"
    )
    starts = datetime.fromisoformat(s["starts_at"])
    await sign_in(browser, "center")
    page = await browser.get("/center", headers=HTML)
    assert f"{starts.astimezone(ZoneInfo('Asia/Shanghai')):%H:%M}–" in page.text
    await (
        ShareCenter.update({ShareCenter.timezone: "Asia/Urumqi"})
        .where(ShareCenter.id == world.ids["center"])
        .run()
    )
    page = await browser.get("/center", headers=HTML)
    assert f"{starts.astimezone(ZoneInfo('Asia/Urumqi')):%H:%M}–" in page.text
    assert "所有时间均为新疆时间" in page.text and "Asia/Urumqi" not in page.text


async def test_an_unexpected_error_is_a_friendly_500_for_browsers(settings: Any) -> None:
    from litestar import get

    from hub.app import create_app

    @get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    app = create_app(settings, manage_db=False)
    app.register(boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        r = await c.get("/boom", headers=HTML)
        assert r.status_code == 500 and "服务器出错了" in r.text and "a bug" not in r.text
        r = await c.get("/boom")
        assert r.status_code == 500 and r.json()["status_code"] == 500


async def volunteer_walk(world: World, call: Any) -> None:
    """The volunteer record's page forms, as the administrator (the part of the walk above)."""
    teacher = str(world.ids["teacher_id"])
    await call(
        "/admin/volunteer/entries",
        {"teacher_id": teacher, "kind": "training", "day": "2026-11-10", "hours": "2"}
        | {"content": "直播教学培训"},
    )
    entry = await VolunteerEntry.select(VolunteerEntry.id).first().run()
    assert entry is not None
    await call(
        "/teacher/volunteer/corrections",
        {"teacher_id": teacher, "entry_id": str(entry["id"]), "hours": "3", "reason": "实为3小时"},
    )
    correction = await VolunteerCorrection.select(VolunteerCorrection.id).first().run()
    assert correction is not None
    await call(
        "/admin/volunteer/corrections/{correction_id:int}/decide",
        {"approve": "1", "reason": "已核实"},
        correction_id=correction["id"],
    )
    await call(
        "/admin/volunteer/entries/{entry_id:int}/decide",
        {"approve": "0", "reason": "重复录入"},
        entry_id=entry["id"],
    )
    await call(
        "/admin/volunteer/records",
        {"teacher_id": teacher, "kind": "award", "day": "2026-11-20", "title": "优秀志愿教师"},
    )
    period = {"teacher_id": teacher, "from": "2026-11-01", "to": "2026-11-30"}
    await call("/teacher/volunteer/certificates", period)
    await call("/admin/volunteer/certificates", period)
    r = await world.post(
        "/api/v1/volunteer/certificates",
        {"teacher_id": world.ids["teacher_id"], "from": "2026-10-01", "to": "2026-10-31"},
        "teacher",
    )
    assert r.status_code == 201, r.text
    await call(
        "/admin/volunteer/certificates/{certificate_id:int}/decide",
        {"approve": "0", "reason": "期间有误"},
        certificate_id=r.json()["id"],
    )
    issued = await VolunteerCertificate.select(VolunteerCertificate.id).first().run()
    assert issued is not None
    await call(
        "/admin/volunteer/certificates/{certificate_id:int}/reissue",
        certificate_id=issued["id"],
    )
    await call(
        "/admin/volunteer/certificates/{certificate_id:int}/revoke",
        {"reason": "信息有误"},
        certificate_id=issued["id"],
    )
    states = await VolunteerCertificate.select(VolunteerCertificate.state).run()
    assert sorted(s["state"] for s in states) == ["issued", "issued", "refused", "revoked"]
