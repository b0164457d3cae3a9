"""Every page in zh-CN has no English interface word (issue 17).

Each page the hub serves is rendered in zh-CN for the one who uses it (anonymous visitor,
share-center operator, teacher, administrator), after a small programme was made through the
API: classes held, live and to come, a booking with its check-in, a report of each reporter.
The visible text (and the attributes a person reads: ``title``, ``aria-label``,
``placeholder``, ``alt``) may hold Latin script only in names from the allow list (OBS, SRT,
CSV...) or in data the page marks as such (``translate="no"``: usernames, addresses, keys,
``<code>``). A page route the test does not visit fails the test, so a new page is checked too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from hub.pages import page_handlers
from tests.conftest import World

HTML = {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "zh-CN,zh;q=0.9"}
ALLOWED = {
    *"OBS SRT RTMP HLS CSV XLSX IATI API MP4 XML HTML JSON URL QR ID PDF SVG KB MB GB".split(),
    *"Mbps kbps Mbit ICS iCal Zoom App WiFi Wi-Fi H.264 AAC UTC HTTP HTTPS".split(),
    "English",  # the language switch names the other language in its own words
}
"""Names, not words: formats, protocols, products."""
READ_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
SKIPPED = {"script", "style", "code", "svg", "template", "noscript"}
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9.+-]*[A-Za-z0-9]|[A-Za-z]{2,}")
NOT_VISITED = {"/static/{name:path}", "/center/sw.js", "/admin/volunteer/export"}
"""Page routes that are no pages (files; the volunteer export goes on to the API's file)."""


class Reader(HTMLParser):
    """The words a person reads on a page, outside the parts marked as data."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skipping: list[str] = []
        self.words: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if self.skipping:
            if tag == self.skipping[-1] and tag not in VOID:
                self.skipping.append(tag)
            return
        if tag in SKIPPED or named.get("translate") == "no":
            if tag not in VOID:
                self.skipping.append(tag)
            return
        for attr in READ_ATTRIBUTES:
            if named.get(attr):
                self.words.append(str(named[attr]))
        if tag == "input" and named.get("type") in ("submit", "button") and named.get("value"):
            self.words.append(str(named["value"]))

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and tag == self.skipping[-1]:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping and data.strip():
            self.words.append(data)


def english_words(html: str) -> list[str]:
    reader = Reader()
    reader.feed(html)
    found = []
    for text in reader.words:
        for word in LATIN.findall(text):
            if word not in ALLOWED and not word.startswith(("http", "www.")):
                found.append(word)
    return found


async def get(world: World, url: str, who: str | None) -> Any:
    return await world.client.get(url, headers={**HTML, **world.auth(who)})


async def programme(world: World) -> dict[str, str]:
    """Classes held, live and to come, a booking checked in, reports: through the API."""
    now = datetime.now(UTC).replace(microsecond=0)

    async def session(start: datetime, minutes: int, who: str = "admin") -> dict[str, Any]:
        r = await world.post(
            "/api/v1/sessions",
            {
                "course_id": world.ids["course"],
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(minutes=minutes)).isoformat(),
                "provider": "external_link",
                "provider_settings": {"meeting_url": "https://meeting.example/abc"},
            },
            who=who,
        )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    for key, name in (("teacher_id", "王老师"), ("teacher2_id", "李老师")):
        r = await world.patch(f"/api/v1/teachers/{world.ids[key]}", {"name": name}, who="admin")
        assert r.status_code == 200, r.text  # names are data: Chinese ones here
    held = await session(now - timedelta(days=1, hours=2), 45)
    live = await session(now - timedelta(minutes=10), 120)
    r = await world.post(f"/api/v1/sessions/{live['id']}/start", who="admin")
    assert r.status_code == 200, r.text
    coming = await session(now + timedelta(days=1), 45, who="teacher")
    r = await world.post(
        f"/api/v1/sessions/{live['id']}/bookings", {"center_id": world.ids["center"]}, who="center"
    )
    assert r.status_code == 201, r.text
    booking = r.json()["id"]
    r = await world.post(f"/api/v1/bookings/{booking}/check-in", {"children": 23}, who="center")
    assert r.status_code == 200, r.text
    reporters = (await world.get("/api/v1/reporters", who="admin")).json()
    for reporter in reporters:
        r = await world.post(
            "/api/v1/reports",
            {"reporter": reporter["name"], "from": "2026-01-01", "to": "2026-01-31"},
            who="admin",
        )
        assert r.status_code in (201, 400), r.text
    r = await world.post(
        "/api/v1/volunteer/certificates",
        {"teacher_id": world.ids["teacher_id"], "from": "2026-11-01", "to": "2026-11-30"},
        who="admin",
    )
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    # what waits on the administrators' volunteer page: a teacher's correction and request
    r = await world.post(
        "/api/v1/volunteer/entries",
        {"teacher_id": world.ids["teacher_id"], "kind": "visit", "day": "2026-11-02"}
        | {"hours": 3, "content": "送教下乡", "evidence": "签到表"},
        who="admin",
    )
    assert r.status_code == 201, r.text
    r = await world.post(
        "/api/v1/volunteer/corrections",
        {"entry_id": r.json()["id"], "hours": 4, "reason": "实为4小时"},
        who="teacher",
    )
    assert r.status_code == 201, r.text
    r = await world.post(
        "/api/v1/volunteer/certificates",
        {"teacher_id": world.ids["teacher_id"], "from": "2026-10-01", "to": "2026-10-31"},
        who="teacher",
    )
    assert r.status_code == 201, r.text
    return {
        "certificate": number,
        "held": str(held["id"]),
        "live": str(live["id"]),
        "coming": str(coming["id"]),
        "booking": str(booking),
    }


def pages(world: World, ids: dict[str, str]) -> list[tuple[str | None, str, int]]:
    """(who, url, status) for every page."""
    course, teacher = world.ids["course"], world.ids["teacher_id"]
    return [
        (None, "/", 200),
        (None, "/?week=next", 200),
        (None, "/courses", 200),
        (None, f"/courses/{course}", 200),
        (None, f"/teachers/{teacher}", 200),
        (None, f"/watch/{ids['held']}", 200),
        (None, f"/watch/{ids['live']}", 200),
        (None, f"/watch/{ids['coming']}", 200),
        (None, "/help", 200),
        (None, "/login", 200),
        (None, "/impact/method", 200),
        (None, "/no/such/page", 404),
        ("teacher", "/admin", 403),
        ("teacher", "/teacher", 200),
        ("teacher", "/teacher/courses/new", 200),
        ("teacher", f"/teacher/sessions/{ids['coming']}", 200),
        ("teacher", "/account/password", 200),
        ("center", "/notifications", 200),
        ("teacher", "/teacher/volunteer", 200),
        ("teacher", "/teacher/volunteer?from=2026-10-01&to=2026-11-30", 200),
        ("admin", "/admin/volunteer", 200),
        ("admin", f"/teacher/volunteer?teacher_id={teacher}&from=2026-10-01", 200),
        (None, f"/verify/{ids['certificate']}", 200),
        ("center", "/", 200),
        ("center", "/center", 200),
        ("center", f"/center/bookings/{ids['booking']}", 200),
        ("center", f"/center/bookings/{ids['booking']}/class", 200),
        ("center", "/center/replays", 200),
        ("admin", "/admin", 200),
        ("admin", "/admin/centers", 200),
        ("admin", "/admin/teachers", 200),
        ("admin", "/admin/users", 200),
        ("admin", f"/admin/centers/{world.ids['center']}", 200),
        ("admin", f"/admin/teachers/{teacher}", 200),
        ("admin", f"/admin/users/{world.ids['user_teacher']}", 200),
        ("admin", "/admin/reports", 200),
        ("admin", f"/teacher/sessions/{ids['live']}", 200),
        ("admin", f"/center?center={world.ids['center']}", 200),
    ]


def route_of(url: str, routes: list[str]) -> str | None:
    path = url.split("?")[0]
    for route in routes:
        pattern = "[^/]+".join(re.escape(part) for part in re.split(r"\{[^}]+\}", route))
        if re.fullmatch(pattern, path):
            return route
    return None


async def test_every_page_in_chinese_has_no_english_interface_word(world: World) -> None:
    ids = await programme(world)
    visits = pages(world, ids)
    routes = sorted(
        {p for h in page_handlers() for p in h.paths if "GET" in (h.http_methods or ())}
        - NOT_VISITED
    )
    seen = {route_of(url, routes) for _, url, _ in visits}
    assert set(routes) - seen == set(), "a page route the test does not visit"
    problems: dict[str, list[str]] = {}
    for who, url, status in visits:
        r = await get(world, url, who)
        assert r.status_code == status, (who, url, r.status_code, r.text[:400])
        assert '<html lang="zh-CN">' in r.text, (who, url)
        words = english_words(r.text)
        if words:
            problems[f"{who or 'anonymous'} {url}"] = sorted(set(words))
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_the_reader_finds_english_and_leaves_data_alone() -> None:
    page = (
        '<p>课程表 Not Found</p><p title="Download">下载</p><span translate="no">teacher2</span>'
        "<code>rtmp://x/live</code><p>OBS 推流 · CSV</p><script>var a = 1;</script>"
        '<div translate="no"><div>nested</div>still data</div><p>Asia/Shanghai</p>'
    )
    assert english_words(page) == ["Not", "Found", "Download", "Asia", "Shanghai"]
