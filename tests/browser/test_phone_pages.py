"""The pages on a 390x844 phone (issue 17), in Debian's Chromium: the schedule with what is live
and today in the first screen, the center page booking in place (and a full room named in
Chinese), the admin lists as cards, the user form keeping its choices after an error.
Screenshots: ``phone-*.png`` in the screenshots folder (see conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.browser.conftest import Hub, shot, sign_in

PHONE = {"width": 390, "height": 844}


def phone(new_page: Any) -> Any:
    return new_page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)


def fits_the_width(page: Any) -> None:
    """Nothing sticks out sideways (the page never scrolls left and right)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a 390 px phone"


def top_of(page: Any, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return float(box["y"])


def test_home_on_a_phone_shows_live_and_today_first(hub: Hub, new_page: Any) -> None:
    page = phone(new_page)
    page.goto(hub.url + "/")
    fits_the_width(page)
    shot(page, "phone-home")
    # the class on air, and today's, are on the first screen; the figures come later
    assert top_of(page, ".live-now") < PHONE["height"]
    assert page.locator(".live-now").inner_text().count("数学直播课") >= 1
    assert top_of(page, ".day-tabs") < PHONE["height"]
    assert top_of(page, ".figures") > top_of(page, "#today")
    assert page.locator(".day-tabs a.today-jump").inner_text() == "今天"
    # a search keeps the classes that match
    page.fill("#f-q", "科学")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**q=**")
    text = page.locator("main").inner_text()
    assert "科学直播课" in text and "数学直播课" not in text
    # the filters fold away until asked for; a province picked sends the form
    page.goto(hub.url + "/")
    assert not page.locator("#f-province").is_visible()
    page.click("form[role=search] summary")
    page.select_option("#f-province", "云南省")
    page.wait_for_url("**province=**")
    assert page.locator("#f-city").is_visible()
    shot(page, "phone-home-filters")
    fits_the_width(page)
    # the course list and the teacher's page
    page.goto(hub.url + "/courses")
    fits_the_width(page)
    page.click(f"a[href='/teachers/{hub.ids['teacher']}']")
    page.wait_for_url(f"**/teachers/{hub.ids['teacher']}")
    assert "订阅日历" in page.locator("main").inner_text()
    shot(page, "phone-teacher")


def create_class(page: Any, hub: Hub, start: datetime, course: str) -> int:
    """A class made through the API with the signed-in administrator's cookie."""
    r = page.request.post(
        hub.url + "/api/v1/sessions",
        data={
            "course_id": hub.ids[course],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=40)).isoformat(),
            "provider": "external_link",
            "provider_settings": {"meeting_url": "https://meeting.example/phone"},
        },
        headers={"Origin": hub.url},  # as the hub's own pages send it
    )
    assert r.status == 201, r.text()
    return int(r.json()["id"])


def test_center_on_a_phone_books_in_place(hub: Hub, new_page: Any) -> None:
    admin = new_page()
    sign_in(admin, hub, "admin")
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=1, hours=3)
    first = create_class(admin, hub, start, "course")
    second = create_class(admin, hub, start + timedelta(minutes=10), "course2")
    page = phone(new_page)
    sign_in(page, hub, "center")
    page.goto(hub.url + "/center")
    fits_the_width(page)
    assert top_of(page, "#booked") < PHONE["height"]  # the center's own classes come first
    shot(page, "phone-center")
    # the class in 30 minutes is booked; the one in 3 minutes clashes with it (one room)
    blocked = page.locator(f"#s-{hub.ids['watch']}")
    assert "教室已满" in blocked.inner_text() and blocked.locator("button").count() == 0
    url = page.url
    page.locator(f"#s-{first} button").click()
    answer = page.locator(f"#s-{first} .inline-answer")
    answer.wait_for(state="visible")
    assert "已预约" in answer.inner_text() and page.url == url  # no new page
    page.locator(f"#s-{second} button").click()
    refusal = page.locator(f"#s-{second} .inline-answer.alert")
    refusal.wait_for(state="visible")
    assert "数学直播课" in refusal.inner_text() and "教室" in refusal.inner_text()
    refusal.scroll_into_view_if_needed()
    shot(page, "phone-center-refusal")
    fits_the_width(page)
    # 订阅日历: a private address with every class the center booked
    page.click("[data-private-feed]")
    field = page.locator("#private-feed-url")
    field.wait_for(state="visible")
    assert "/calendar/private.ics" in field.input_value()
    feed = page.request.get(field.input_value())
    assert feed.status == 200 and "BEGIN:VCALENDAR" in feed.text()
    field.scroll_into_view_if_needed()
    fits_the_width(page)
    shot(page, "phone-center-calendar")


def test_admin_lists_and_the_user_form_on_a_phone(hub: Hub, new_page: Any) -> None:
    page = phone(new_page)
    sign_in(page, hub, "admin")
    for kind in ("centers", "teachers", "users"):
        page.goto(f"{hub.url}/admin/{kind}")
        fits_the_width(page)
        assert not page.locator("table.cards thead").is_visible()  # cards, not columns
        shot(page, f"phone-admin-{kind}")
    # one card per account, each naming what it belongs to
    card = page.locator("table.cards tr", has_text="center").first
    assert card.locator("td[data-label='所属']").inner_text() == "镇雄共享中心"
    label = card.locator("td[data-label='所属']").evaluate(
        "td => getComputedStyle(td, '::before').content"
    )
    assert label == '"所属"'  # each card says what its lines are
    page.fill("#s-q", "teacher2")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**q=teacher2**")
    assert page.locator("table.cards tbody tr").count() == 1
    # a teacher with no sign-in yet, then a sign-in for them
    page.goto(hub.url + "/admin/teachers")
    page.click("details.add summary")
    page.fill("#f-name", "孙老师")
    page.fill("#f-school", "福田小学")
    page.click("details.add button[type=submit]")
    page.wait_for_url("**ok=added**")
    page.goto(hub.url + "/admin/users")
    page.click("details.add summary")
    page.fill("#f-username", "sun")
    page.fill("#f-password", "short")
    page.select_option("#f-role", "teacher")
    page.select_option("#f-teacher_id", label="孙老师（福田小学）")
    page.click("details.add button[type=submit]")
    page.wait_for_load_state()
    # the error is next to the password; the role and the teacher are still chosen
    assert page.locator("#f-role").input_value() == "teacher"
    assert "孙老师" in page.locator("#f-teacher_id option:checked").inner_text()
    assert page.locator("details.add .field-error").count() == 1
    fits_the_width(page)
    shot(page, "phone-user-form-error")
    page.fill("#f-password", "a long phone password 9")
    page.click("details.add button[type=submit]")
    page.wait_for_url("**ok=added**")
    page.fill("#s-q", "sun")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_url("**q=sun**")
    assert "孙老师" in page.locator("table.cards tbody").inner_text()
    shot(page, "phone-user-added")
