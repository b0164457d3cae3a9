"""The volunteer pages through their forms, in the order people act (cookie sign-in, CSRF
tokens from the pages, no JSON API for the steps a user takes on a page):

- an administrator adds an entry on /admin/volunteer; with the second approval on, its author
  is shown no approve button and is refused; a second administrator approves it on the page;
- a teacher asks on /teacher/volunteer for a correction of a class they held (hours from the
  stream's publish callbacks at set times); an administrator approves it on the admin page
  with a reason; the teacher's ledger shows the corrected hours and the original;
- a teacher asks for a certificate; refused (a reason is needed), asked again and issued; the
  PDF link works; re-issued and revoked from the admin page; an award recorded on the page;
- bad input comes back as the page with the field's hint (400), a post without the form's
  token is refused (403); the export form's links give the CSV and XLSX.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import live
from hub.settings import Settings
from tests.conftest import World, hub_settings
from tests.test_pages import HTML, sign_in, token_in
from tests.test_volunteer_ledger import DAY, DONE, PUBLISH, Clock, nginx, past_class

pytestmark = pytest.mark.in_process("plays a class on the hub's stream clock")
NOVEMBER = "from=2026-11-01&to=2026-11-30"


@pytest.fixture
def settings(tmp_path: Path, database: str) -> Settings:
    return replace(hub_settings(tmp_path, database), volunteer_second_approval=True)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()
    monkeypatch.setattr(live, "clock", c)
    yield c


class Browser:
    """A cookie-keeping client (a browser without JavaScript) signed in as one user."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.page = ""

    async def open(self, url: str, status: int = 200) -> str:
        r = await self.client.get(url, headers=HTML)
        assert r.status_code == status, r.text[:500]
        self.page = r.text
        return r.text

    def form(self, action: str) -> dict[str, str]:
        """The hidden fields of the page's form posting to ``action`` (it must be there)."""
        found = re.search(
            rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>',
            self.page,
            re.S,
        )
        assert found, f"no form to {action} on the page"
        return {
            m.group(1): unescape(m.group(2))
            for m in re.finditer(
                r'<input type="hidden" name="([^"]+)" value="([^"]*)"', found.group(1)
            )
        }

    async def submit(self, action: str, fields: dict[str, str], status: int = 303) -> Any:
        data = {**self.form(action), **fields}
        r = await self.client.post(action, data=data, headers=HTML)
        assert r.status_code == status, r.text[:800]
        if status == 303:
            self.page = await self.open(r.headers["location"])
        else:
            self.page = r.text
        return r


@pytest.fixture
async def people(world: World) -> AsyncIterator[dict[str, Browser]]:
    r = await world.post(
        "/api/v1/users",
        {"username": "admin2", "password": "long-enough-2", "role": "admin"},
        "admin",
    )
    assert r.status_code == 201, r.text
    transport = world.client._transport
    out: dict[str, Browser] = {}
    clients = []
    for who in ("admin", "admin2", "teacher", "teacher2"):
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver.local")
        clients.append(c)
        if who == "admin2":
            login = await c.get("/login", headers=HTML)
            data = {
                "csrf_token": token_in(login.text),
                "username": who,
                "password": "long-enough-2",
            }
            assert (await c.post("/login", data=data, headers=HTML)).status_code == 303
        else:
            await sign_in(c, who)
        out[who] = Browser(c)
    yield out
    for c in clients:
        await c.aclose()


def text_of(html: str, element_id: str, tag: str = "tr") -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</{tag}>', html, re.S)
    assert found, f"no #{element_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


async def test_an_entry_needs_a_second_administrator_on_the_page(
    world: World, people: dict[str, Browser]
) -> None:
    admin, admin2, teacher = people["admin"], people["admin2"], people["teacher"]
    page = await admin.open("/admin/volunteer")
    assert '<a href="/admin/volunteer">志愿服务</a>' in page  # the admin menu
    await admin.submit(
        "/admin/volunteer/entries",
        {
            "teacher_id": str(world.ids["teacher_id"]),
            "kind": "visit",
            "day": "2026-11-10",
            "hours": "3",
            "content": "赴镇雄共享中心送教（不含路途）",
            "evidence": "签到表照片",
        },
    )
    assert "另一位管理员批准后" in admin.page
    entry = re.search(r'id="entry-(\d+)"', admin.page)
    assert entry, admin.page
    decide = f"/admin/volunteer/entries/{entry.group(1)}/decide"
    assert decide not in admin.page and "您添加的条目由另一位管理员批准" in admin.page
    # posted anyway (an old page): refused for who asks
    r = await admin.client.post(
        decide, data={"csrf_token": token_in(admin.page), "approve": "1"}, headers=HTML
    )
    assert r.status_code == 403

    await teacher.open(f"/teacher/volunteer?{NOVEMBER}")
    assert "待审批" in text_of(teacher.page, f"line-e{entry.group(1)}")
    assert 'id="total-hours"><b>0</b>' in teacher.page

    await admin2.open("/admin/volunteer")
    assert "赴镇雄共享中心送教" in admin2.page and decide in admin2.page
    await admin2.submit(decide, {"approve": "1", "reason": ""})
    assert "已批准" in admin2.page and decide not in admin2.page

    await teacher.open(f"/teacher/volunteer?{NOVEMBER}")
    assert "计入" in text_of(teacher.page, f"line-e{entry.group(1)}")
    assert 'id="total-hours"><b>3</b>' in teacher.page


async def test_a_correction_asked_and_approved_on_the_pages(
    world: World, settings: Settings, clock: Clock, people: dict[str, Browser]
) -> None:
    admin, teacher, teacher2 = people["admin"], people["teacher"], people["teacher2"]
    sid, key = await past_class(world, DAY)
    clock.now = DAY
    await nginx(world, settings, PUBLISH, sid, key)
    clock.now = DAY + timedelta(minutes=30)  # the stream died: counted 0.5 h, taught 45 min
    await nginx(world, settings, DONE, sid, key)

    page = await teacher.open("/teacher")
    assert '<a href="/teacher/volunteer">志愿服务记录</a>' in page  # the teacher menu
    await teacher.open(f"/teacher/volunteer?{NOVEMBER}")
    assert "0.5" in text_of(teacher.page, f"line-s{sid}")
    action = "/teacher/volunteer/corrections"
    # bad input: the page again, naming the field, nothing stored
    await teacher.submit(action, {"session_id": str(sid), "hours": "30", "reason": "x"}, 400)
    assert "请填写服务时长" in teacher.page and "表单未提交" in teacher.page
    # another teacher's class: refused for who asks
    await teacher2.open("/teacher/volunteer")
    r = await teacher2.client.post(
        action,
        data={
            "csrf_token": token_in(teacher2.page),
            "session_id": str(sid),
            "hours": "1",
            "reason": "x",
        },
        headers=HTML,
    )
    assert r.status_code == 403
    # without the form's token
    r = await teacher.client.post(
        action, data={"session_id": str(sid), "hours": "1", "reason": "x"}, headers=HTML
    )
    assert r.status_code == 403

    await teacher.open(f"/teacher/volunteer?{NOVEMBER}")
    await teacher.submit(
        action, {"session_id": str(sid), "hours": "0.75", "reason": "推流中断，实际授课45分钟"}
    )
    assert "更正申请已提交" in teacher.page
    line = text_of(teacher.page, f"line-s{sid}")
    assert "申请：0.75 小时" in line and "待审批" in line
    assert "申请更正" not in line  # one open request per line

    await admin.open("/admin/volunteer")
    correction = re.search(r'id="correction-(\d+)"', admin.page)
    assert correction and "推流中断" in admin.page
    decide = f"/admin/volunteer/corrections/{correction.group(1)}/decide"
    await admin.submit(decide, {"approve": "1", "reason": ""}, 400)  # a reason is needed
    assert "请填写理由" in admin.page
    await admin.submit(decide, {"approve": "1", "reason": "核对了课堂录像"})
    assert "已批准" in admin.page and decide not in admin.page

    await teacher.open(f"/teacher/volunteer?{NOVEMBER}")
    line = text_of(teacher.page, f"line-s{sid}")
    assert "0.75" in line and "原为 0.5" in line and "已批准: 核对了课堂录像" in line
    assert 'id="total-hours"><b>0.75</b>' in teacher.page
    log = (await world.get("/api/v1/volunteer/audit", "admin")).json()
    assert [a["action"] for a in log] == ["correction.request", "correction.approved"]


async def test_certificates_and_records_on_the_pages(
    world: World, people: dict[str, Browser]
) -> None:
    admin, teacher = people["admin"], people["teacher"]
    await admin.open("/admin/volunteer")
    await admin.submit(
        "/admin/volunteer/records",
        {
            "teacher_id": str(world.ids["teacher_id"]),
            "kind": "award",
            "day": "2026-11-20",
            "title": "优秀志愿教师",
            "issuer": "区志愿者协会",
        },
    )
    assert "已记录表彰或评价" in admin.page
    # an ID-number-shaped title is refused, naming the field
    await admin.submit(
        "/admin/volunteer/records",
        {
            "teacher_id": str(world.ids["teacher_id"]),
            "kind": "evaluation",
            "day": "2026-11-20",
            "title": "110101199003077578",
        },
        400,
    )
    assert "切勿填写身份证号" in admin.page

    await teacher.open(f"/teacher/volunteer?{NOVEMBER}")
    assert "优秀志愿教师" in teacher.page and "表彰" in teacher.page
    certificate = "/teacher/volunteer/certificates"
    await teacher.submit(certificate, {"from": "2026-11-01", "to": "2099-11-30"}, 400)
    assert "证明期间" in teacher.page
    await teacher.submit(certificate, {"from": "2026-11-01", "to": "2026-11-30"})
    assert "证明申请已提交" in teacher.page

    await admin.open("/admin/volunteer")
    request = re.search(r'id="request-(\d+)"', admin.page)
    assert request
    decide = f"/admin/volunteer/certificates/{request.group(1)}/decide"
    await admin.submit(decide, {"approve": "0", "reason": ""}, 400)
    assert "请填写理由" in admin.page
    await admin.submit(decide, {"approve": "0", "reason": "请先补充志愿者编号"})
    await teacher.open(f"/teacher/volunteer?{NOVEMBER}")
    assert "未通过: 请先补充志愿者编号" in teacher.page

    await teacher.submit(certificate, {"from": "2026-11-01", "to": "2026-11-30"})
    await admin.open("/admin/volunteer")
    request = re.search(r'id="request-(\d+)"', admin.page)
    assert request
    await admin.submit(f"/admin/volunteer/certificates/{request.group(1)}/decide", {"approve": "1"})
    assert "证明已出具" in admin.page
    await teacher.open(f"/teacher/volunteer?{NOVEMBER}")
    pdf = re.search(r'href="(/api/v1/volunteer/certificates/\d+/pdf)"', teacher.page)
    assert pdf, teacher.page
    r = await teacher.client.get(pdf.group(1))
    assert r.status_code == 200 and r.content.startswith(b"%PDF")

    issued = re.search(r'id="issued-(\d+)"', admin.page)
    assert issued and issued.group(1) == request.group(1)
    await admin.submit(f"/admin/volunteer/certificates/{issued.group(1)}/reissue", {})
    assert "已出具新证明" in admin.page
    again = re.search(r'id="issued-(\d+)"', admin.page)
    assert again and again.group(1) != issued.group(1)
    revoke = f"/admin/volunteer/certificates/{again.group(1)}/revoke"
    await admin.submit(revoke, {"reason": ""}, 400)
    await admin.submit(revoke, {"reason": "期间有误"})
    assert "证明已撤销" in admin.page and f'id="issued-{again.group(1)}"' not in admin.page
    await teacher.open(f"/teacher/volunteer?{NOVEMBER}")
    states = text_of(teacher.page, "certificates", "section")
    assert "已被取代" in states and "已撤销" in states

    # an administrator issues at once from the admin page
    await admin.submit(
        "/admin/volunteer/certificates",
        {"teacher_id": str(world.ids["teacher_id"]), "from": "2026-11-01", "to": "2026-11-30"},
    )
    assert "证明已出具" in admin.page


async def test_the_export_form_and_bad_entries(world: World, people: dict[str, Browser]) -> None:
    admin = people["admin"]
    await admin.open("/admin/volunteer")
    await admin.submit(
        "/admin/volunteer/entries",
        {
            "teacher_id": str(world.ids["teacher_id"]),
            "kind": "travel",
            "day": "2099-01-01",
            "hours": "25",
            "content": "",
        },
        400,
    )
    for hint in ("请选择类型", "请填写服务时长", "请说明服务内容"):
        assert hint in admin.page, hint
    # the export form, as a browser sends it (an empty teacher: every teacher)
    found = re.search(r'<form method="get" action="([^"]+)"[^>]*id="export-form"', admin.page)
    assert found and found.group(1) == "/admin/volunteer/export"
    for kind, teacher in (("csv", ""), ("xlsx", str(world.ids["teacher_id"]))):
        form = {"from": "2026-01-01", "to": "2026-11-30", "teacher_id": teacher, "format": kind}
        r = await admin.client.get(found.group(1), params=form)
        assert r.status_code == 303, r.text
        want = "/api/v1/volunteer/ledger." + kind + "?from=2026-01-01&to=2026-11-30"
        assert r.headers["location"] == want + (f"&teacher_id={teacher}" if teacher else "")
        r = await admin.client.get(r.headers["location"])
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"].endswith(f'.{kind}"')
    r = await admin.client.get(found.group(1), params={"from": "2026-13-01"}, headers=HTML)
    assert r.status_code == 400 and "from" in r.text
    assert (await people["teacher"].client.get("/admin/volunteer", headers=HTML)).status_code == 403
