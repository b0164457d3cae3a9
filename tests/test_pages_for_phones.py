"""Pages for the phones of real users (issue 17), over HTTP: the schedule with today first, a
search and region filters; the course catalogue, teacher pages and help; the center page by
day with bookings answered in place; the admin lists (search, paging, who an account belongs
to), the user form, a deactivated user; reports in words and a webhook that needs a URL.
The browser tests on a 390 px phone are in ``tests/browser/test_phone_pages.py``."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from hub import reporting
from hub.errors import Invalid
from hub.impact import Period
from hub.plugin_host import PluginHost
from hub.tables import ImpactReport
from tests.conftest import World, app_settings
from tests.test_pages import HTML, browser, sign_in, token_in  # noqa: F401 (fixture)

BEIJING = ZoneInfo("Asia/Shanghai")


async def a_class(
    world: World, start: datetime, course: str = "course", who: str = "admin", minutes: int = 45
) -> dict[str, Any]:
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids[course],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=minutes)).isoformat(),
            "provider": "external_link",
            "provider_settings": {"meeting_url": "https://meeting.example/abc"},
        },
        who=who,
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --------------------------------------------------------------------------- home


async def test_home_puts_today_first_and_earlier_days_last(world: World) -> None:
    soon = await a_class(world, now() + timedelta(minutes=20), course="course2", who="teacher2")
    earlier = now() - timedelta(days=2)
    await a_class(world, earlier)
    r = await world.client.get("/", headers=HTML)
    assert r.status_code == 200
    html = r.text
    soon_day = datetime.fromisoformat(soon["starts_at"]).astimezone(BEIJING).date()
    today = now().astimezone(BEIJING).date()
    if soon_day == today:  # (not when "in 20 minutes" is tomorrow already)
        assert html.index('id="today"') < html.index("美术直播课")
    assert 'href="#today"' in html and "今天" in html
    same_week = earlier.astimezone(BEIJING).date() >= today - timedelta(days=today.weekday())
    if same_week:  # the class two days ago is this week: under "earlier", after today's
        assert html.index('<details class="gone">') < html.index("数学直播课")
        assert html.index("美术直播课") < html.index("数学直播课")
    # the figure cards come after the classes, not before them
    assert html.index('class="figures small"') > html.index("美术直播课")


async def test_home_searches_and_filters_by_region(world: World) -> None:
    start = now() + timedelta(hours=2)
    math = await a_class(world, start)
    await a_class(world, start + timedelta(hours=1), course="course2", who="teacher2")
    r = await world.client.get("/?q=美术", headers=HTML)
    assert "美术直播课" in r.text and "数学直播课" not in r.text
    r = await world.client.get("/?q=teacher2", headers=HTML)  # the teacher's name
    assert "美术直播课" in r.text and "数学直播课" not in r.text
    r = await world.post(
        f"/api/v1/sessions/{math['id']}/bookings", {"center_id": world.ids["center"]}, who="center"
    )
    assert r.status_code == 201
    for week in ("this", "next"):  # the class may be next week near Sunday midnight
        r = await world.client.get(f"/?week={week}&province=云南省", headers=HTML)
        assert "美术直播课" not in r.text
        if "数学直播课" in r.text:
            break
    else:
        pytest.fail("the class booked by a center in 云南省 is not shown for 云南省")
    assert '<option value="云南省" selected>' in r.text
    assert '<option value="昭通市">' in r.text  # the cities of the province chosen
    r = await world.client.get("/?province=贵州省", headers=HTML)
    assert "数学直播课" not in r.text


async def test_course_catalogue_teacher_page_and_help(world: World) -> None:
    r = await world.patch(
        f"/api/v1/courses/{world.ids['course2']}", {"visibility": "centers"}, who="admin"
    )
    assert r.status_code == 200
    r = await world.client.get("/courses", headers=HTML)
    assert r.status_code == 200
    assert "数学直播课" in r.text and "美术直播课" not in r.text  # centers-only is hidden
    assert f'href="/teachers/{world.ids["teacher_id"]}"' in r.text
    signed = await world.client.get(
        "/courses?subject=美术", headers={**HTML, **world.auth("center")}
    )
    assert "美术直播课" in signed.text and "数学直播课" not in signed.text
    r = await world.client.get("/courses?q=数学&grade=3", headers=HTML)
    assert "数学直播课" in r.text
    for i in range(31):  # a second page
        r = await world.post(
            "/api/v1/courses",
            {"title": f"阅读课{i:02d}", "subject": "语文", "teacher_id": world.ids["teacher_id"]},
            who="admin",
        )
        assert r.status_code == 201, r.text
    first = await world.client.get("/courses?subject=语文", headers=HTML)
    assert "第 1 页，共 2 页" in first.text and "阅读课29" in first.text
    second = await world.client.get("/courses?subject=语文&page=2", headers=HTML)
    assert "阅读课30" in second.text and "阅读课00" not in second.text
    soon = await a_class(world, now() + timedelta(days=1))
    r = await world.client.get(f"/teachers/{world.ids['teacher_id']}", headers=HTML)
    assert r.status_code == 200 and "teacher老师" in r.text and "北京小学" in r.text
    assert f"/courses/{soon['course_id']}" in r.text and "订阅日历" in r.text
    assert f"/calendar/teachers/{world.ids['teacher_id']}/schedule.ics" in r.text
    assert (await world.client.get("/teachers/999999", headers=HTML)).status_code == 404
    r = await world.client.get("/help", headers=HTML)
    assert r.status_code == 200 and "没有声音" in r.text and "联系谁" in r.text
    r = await world.client.get("/", headers=HTML)
    assert 'href="/calendar/public.ics"' in r.text and "订阅日历" in r.text
    icon = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)"', r.text)
    assert icon, "no favicon"
    r = await world.client.get(icon.group(1))
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert "immutable" in r.headers["cache-control"]


async def test_error_pages_say_it_in_chinese(
    browser: httpx.AsyncClient,  # noqa: F811
) -> None:
    r = await browser.get("/no/such/page", headers=HTML)
    assert r.status_code == 404 and "页面不存在" in r.text and "Not Found" not in r.text
    await sign_in(browser, "teacher")
    r = await browser.get("/admin", headers=HTML)
    assert r.status_code == 403 and "roles" not in r.text
    r = await browser.get("/admin", headers={**HTML, "Accept-Language": "en"})
    assert r.status_code == 403 and "<code>" in r.text  # English pages keep the detail
    assert "北京时间" in (await browser.get("/", headers=HTML)).text


# --------------------------------------------------------------------------- center


async def test_center_books_in_place_and_a_full_room_names_the_class(
    browser: httpx.AsyncClient,  # noqa: F811
    world: World,
) -> None:
    start = now() + timedelta(days=1)
    first = await a_class(world, start)
    second = await a_class(world, start + timedelta(minutes=15), course="course2", who="teacher2")
    await sign_in(browser, "center")  # 镇雄共享中心 has one room
    page = await browser.get("/center", headers=HTML)
    assert f'id="s-{first["id"]}"' in page.text and f'id="s-{second["id"]}"' in page.text
    token = token_in(page.text)
    inline = {"X-Inline": "1", "Accept": "application/json"}
    r = await browser.post(
        f"/center/sessions/{first['id']}/book", data={"csrf_token": token}, headers=inline
    )
    assert r.status_code == 200 and r.json()["ok"] and "已预约" in r.json()["message"]
    r = await browser.post(
        f"/center/sessions/{second['id']}/book", data={"csrf_token": token}, headers=inline
    )
    assert r.status_code == 409 and not r.json()["ok"]
    message = r.json()["message"]
    assert "数学直播课" in message and "教室" in message and "clash" not in message
    # without the script: the page again, the answer next to the class
    r = await browser.post(
        f"/center/sessions/{second['id']}/book", data={"csrf_token": token}, headers=HTML
    )
    assert r.status_code == 409 and "<html" in r.text
    item = r.text[r.text.index(f'id="s-{second["id"]}"') :]
    assert item.index("数学直播课") < item.index("</li>")
    # the page marks the class the rooms cannot take, with no button to book it
    page = await browser.get("/center", headers=HTML)
    item = page.text[page.text.index(f'id="s-{second["id"]}"') :]
    item = item[: item.index("</li>")]
    assert "教室已满" in item and "数学直播课" in item and "/book" not in item
    assert f"/calendar/centers/{world.ids['center']}/schedule.ics" in page.text
    assert "data-private-feed" in page.text and "订阅日历" in page.text
    # booked classes are grouped by day, searched and filtered
    assert 'id="booked"' in page.text and "<h3>" in page.text
    r = await browser.get("/center?q=美术", headers=HTML)
    assert f'id="s-{second["id"]}"' in r.text and f'id="b-{first["id"]}"' not in r.text


# --------------------------------------------------------------------------- admin


async def test_admin_lists_search_page_and_say_who_an_account_belongs_to(
    browser: httpx.AsyncClient,  # noqa: F811
    world: World,
) -> None:
    for i in range(52):
        r = await world.post(
            "/api/v1/centers",
            {"name": f"测试中心{i:02d}", "province": "甘肃省", "city": "定西市", "county": "漳县"},
            who="admin",
        )
        assert r.status_code == 201, r.text
    await sign_in(browser, "admin")
    r = await browser.get("/admin/centers", headers=HTML)
    assert "第 1 页，共 2 页" in r.text and 'class="cards"' in r.text
    assert 'data-label="地区"' in r.text
    r = await browser.get("/admin/centers?page=2", headers=HTML)
    assert "第 2 页，共 2 页" in r.text
    r = await browser.get("/admin/centers?province=云南省", headers=HTML)
    assert "镇雄共享中心" in r.text and "测试中心" not in r.text
    r = await browser.get("/admin/centers?q=测试中心05", headers=HTML)
    assert "测试中心05" in r.text and "测试中心06" not in r.text and "镇雄共享中心" not in r.text
    assert '<datalist id="places-province">' in r.text
    r = await browser.get("/admin/users", headers=HTML)
    row = r.text[r.text.index(">teacher2<") :]
    assert row.index("teacher2老师") < row.index("</tr>")  # the teacher it signs in as
    row = r.text[r.text.index(">center2<") :]
    assert row.index("威宁共享中心") < row.index("</tr>")
    r = await browser.get("/admin/users?role=center", headers=HTML)
    assert ">center2<" in r.text and ">teacher2<" not in r.text
    r = await browser.get("/admin/users?q=威宁", headers=HTML)
    assert ">center2<" in r.text and ">center<" not in r.text
    r = await browser.get("/admin/teachers?q=teacher2", headers=HTML)
    assert "teacher2老师" in r.text and ">teacher老师<" not in r.text


async def test_user_form_keeps_the_role_and_links_an_existing_teacher(
    browser: httpx.AsyncClient,  # noqa: F811
    world: World,
) -> None:
    r = await world.post("/api/v1/teachers", {"name": "陈老师", "school": "南山小学"}, who="admin")
    assert r.status_code == 201, r.text
    teacher = r.json()["id"]
    await sign_in(browser, "admin")
    page = await browser.get("/admin/users", headers=HTML)
    assert 'autocomplete="new-password"' in page.text and "新密码" not in page.text
    assert f'<option value="{teacher}">陈老师（南山小学）</option>' in page.text
    form = {"csrf_token": token_in(page.text), "username": "chen", "role": "teacher"}
    r = await browser.post(
        "/admin/users", data={**form, "password": "short", "teacher_id": str(teacher)}, headers=HTML
    )
    assert r.status_code == 400
    assert '<option value="teacher" selected>' in r.text  # the role is kept
    assert f'<option value="{teacher}" selected>' in r.text
    r = await browser.post(
        "/admin/users",
        data={**form, "password": "long enough pass 7", "teacher_name": "陈老师"},
        headers=HTML,
    )
    assert r.status_code == 400 and "已有同名老师" in r.text
    r = await browser.post(
        "/admin/users",
        data={**form, "password": "long enough pass 7", "teacher_id": str(teacher)},
    )
    assert r.status_code == 303, r.text
    teachers = (await world.get("/api/v1/teachers", who="admin")).json()
    items = teachers["items"] if isinstance(teachers, dict) else teachers
    assert [t["name"] for t in items].count("陈老师") == 1  # linked, not made again
    r = await browser.get("/admin/users?q=chen", headers=HTML)
    row = r.text[r.text.index(">chen<") :]
    assert row.index("陈老师") < row.index("</tr>")
    # the new sign-in is that teacher's
    page = await browser.get("/admin/users", headers=HTML)
    assert f'<option value="{teacher}">' not in page.text


async def test_a_deactivated_user_is_told_so(
    browser: httpx.AsyncClient,  # noqa: F811
    world: World,
) -> None:
    await sign_in(browser, "admin")
    url = f"/admin/users/{world.ids['user_center2']}"
    page = await browser.get(url, headers=HTML)
    r = await browser.post(
        url,
        data={
            "csrf_token": token_in(page.text),
            "role": "center",
            "center_id": str(world.ids["center2"]),
        },
    )
    assert r.status_code == 303
    page = await browser.get("/login", headers=HTML)
    form = {"csrf_token": token_in(page.text), "username": "center2"}
    r = await browser.post("/login", data={**form, "password": "wrong password"}, headers=HTML)
    assert r.status_code == 401 and "用户名或密码错误" in r.text and "停用" not in r.text
    r = await browser.post("/login", data={**form, "password": "password-center2"}, headers=HTML)
    assert r.status_code == 401 and "账号已停用" in r.text


# --------------------------------------------------------------------------- reports


@pytest.mark.in_process("reads the reports of the app's own plugins and runs the publish job")
async def test_reports_in_words_and_a_webhook_needs_its_url(
    browser: httpx.AsyncClient,  # noqa: F811
    world: World,
) -> None:
    await sign_in(browser, "admin")
    page = await browser.get("/admin/reports", headers=HTML)
    offered = re.findall(r'<option value="([a-z_]+)"', page.text)
    assert offered and "webhook" not in offered  # no URL: not offered
    assert "签名 JSON 推送" not in page.text
    r = await browser.post(
        "/admin/reports",
        data={
            "csrf_token": token_in(page.text),
            "reporter": "webhook",
            "from": "2026-01-01",
            "to": "2026-01-31",
        },
        headers=HTML,
    )
    assert r.status_code == 400
    settings = app_settings(world)
    plugins = PluginHost(settings)
    tz = ZoneInfo(settings.timezone)
    period = Period.of(datetime(2026, 1, 1).date(), datetime(2026, 1, 31).date(), tz)
    report = await reporting.generate("webhook", period, plugins, settings)
    job = {"report_id": report.id}
    with pytest.raises(Invalid):
        await reporting.run_publish_job(job, plugins, settings)
    row = await ImpactReport.select().where(ImpactReport.id == report.id).first()
    assert row["publish_state"] == "failed"  # for good: a retry cannot find a URL
    await reporting.generate(offered[0], period, plugins, settings)
    page = await browser.get("/admin/reports", headers=HTML)
    assert "发送失败，不会再重试" in page.text and "已保存在本站" in page.text
    assert "SHAREHUB_PLUGIN__WEBHOOK__URL" in page.text  # the error, for an administrator
    ready = PluginHost(
        replace(
            settings,
            plugin_options={"webhook": {"url": "https://example.org/x", "secret": "s" * 16}},
        )
    )
    assert ready.reporters["webhook"].ready(ready.reporter_options["webhook"])
