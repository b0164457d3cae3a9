"""The volunteer record on a 390x844 phone, in Debian's Chromium, in the order people act: an
administrator reaches the volunteer page from the menu and adds a teaching visit for a
teacher; the teacher reaches their record from the menu, asks for a correction of that line
and for a certificate; the administrator approves both on the page; the teacher's record
shows the corrected hours and the certificate's PDF link. Nothing sticks out sideways.
Screenshots: ``phone-volunteer-*.png`` in the screenshots folder (see conftest)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.browser.conftest import Hub, shot, sign_in
from tests.browser.test_phone_pages import PHONE, fits_the_width, phone


def open_from_menu(page: Any, hub: Hub, href: str) -> None:
    page.goto(hub.url + "/")
    page.click(f"header.top nav a[href='{href}']")
    page.wait_for_url(f"**{href}")
    fits_the_width(page)


def test_a_correction_and_a_certificate_on_a_phone(hub: Hub, new_page: Any) -> None:
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    admin = phone(new_page)
    sign_in(admin, hub, "admin")
    open_from_menu(admin, hub, "/admin/volunteer")
    admin.select_option("#teacher-entry", str(hub.ids["teacher"]))
    admin.select_option("#entry-kind", "visit")
    admin.fill("#entry-day", today)
    admin.fill("#entry-hours", "2")
    admin.fill("#entry-content", "送教到镇雄共享中心（不含路途）")
    admin.fill("#entry-evidence", "签到表照片")
    admin.click("#entry-form button[type=submit]")
    admin.wait_for_url("**ok=added")
    assert "条目已添加" in admin.locator(".notice").inner_text()
    fits_the_width(admin)

    teacher = phone(new_page)
    sign_in(teacher, hub, "teacher")
    open_from_menu(teacher, hub, "/teacher/volunteer")
    line = teacher.locator("#service tbody tr", has_text="送教到镇雄共享中心")
    assert "已计入" in line.inner_text()
    line.locator("summary").click()
    line.locator("input[name=hours]").fill("2.5")
    line.locator("input[name=reason]").fill("另有半小时课后辅导")
    line.locator("button[type=submit]").click()
    teacher.wait_for_url("**ok=correction**")
    line = teacher.locator("#service tbody tr", has_text="送教到镇雄共享中心")
    assert "申请：2.5 小时" in line.inner_text() and "待审批" in line.inner_text()
    teacher.click("#certificate-form button[type=submit]")
    teacher.wait_for_url("**ok=requested**")
    assert "待审批" in teacher.locator("#certificates").inner_text()
    fits_the_width(teacher)
    shot(teacher, "phone-volunteer-ledger-asked")

    admin.goto(hub.url + "/admin/volunteer")
    fits_the_width(admin)
    shot(admin, "phone-volunteer-admin")
    asked = admin.locator("#waiting li[id^=correction-]", has_text="另有半小时课后辅导")
    asked.locator("input[name=reason]").fill("核对了辅导记录")
    asked.locator("button[value='1']").click()
    admin.wait_for_url("**ok=approved")
    request = admin.locator("#waiting li[id^=request-]").first
    request.locator("button[value='1']").click()
    admin.wait_for_url("**ok=issued", timeout=120_000)  # the PDF is made on the way
    assert admin.locator("#certificates li[id^=issued-]").count() >= 1
    fits_the_width(admin)

    teacher.goto(hub.url + "/teacher/volunteer")
    line = teacher.locator("#service tbody tr", has_text="送教到镇雄共享中心")
    text = line.inner_text()
    assert "2.5" in text and "原为 2" in text and "已批准" in text
    link = teacher.locator("#certificates a[href$='/pdf']").first
    with teacher.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.startswith("ZYFW-")
    fits_the_width(teacher)
    teacher.set_viewport_size(PHONE)
    shot(teacher, "phone-volunteer-ledger")
