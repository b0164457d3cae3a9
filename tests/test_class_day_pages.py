"""The class-day pages over HTTP: the zh-CN watch page (waiting, live, replay) and go-live panel
(scheduled, rehearsal, live) hold no English words beyond product and protocol names; the
panel hides its secrets behind 显示, asks before 生成新密钥 and 取消这节课, names providers by
their labels, gives the encoder advice; its 开始上课 / 下课 buttons work."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx

from hub.settings import Settings
from plugins.self_hosted.callbacks import CALLBACK_PATH, callback_secret
from tests.conftest import World
from tests.test_pages import HTML, browser, sign_in, token_in  # noqa: F401 (fixture)

ZH = {**HTML, "Accept-Language": "zh-CN,zh;q=0.9"}
# names that stay as they are in Chinese text: products, protocols, codecs, units, the brand
ALLOWED = {
    "obs", "srt", "rtmp", "hls", "aac", "cbr", "mp4", "x264", "veryfast", "kbit", "khz", "app",
    "prism", "live", "studio", "streamlabs", "larix", "broadcaster", "sharehub", "english",
    "mb", "qr", "cpu", "zoom",
    "teacher", "center", "course",  # names in the test data (the teacher is "teacher老师")
}  # fmt: skip
WORD = re.compile(r"[A-Za-z][A-Za-z0-9]{1,}")


def visible_text(html: str) -> str:
    """What a reader of the page sees or hears: the text, and the attributes shown by the page
    or its scripts (labels, confirmations, the watch page's strings); not code, URLs or keys."""
    html = re.sub(r"(?s)<(script|style|code|svg)\b.*?</\1>", " ", html)
    said = re.findall(
        r"\b(?:title|aria-label|placeholder|alt|data-(?!src|sources|session|state|kind|"
        r'start-low|starts|now|copy|mask-for|status|rehearsing)[\w-]+)="([^"]*)"',
        html,
    )
    text = re.sub(r"(?s)<[^>]+>", " ", html)
    text = unescape(text + " " + " ".join(said))
    text = re.sub(r"\b[A-Z][a-z]+/[A-Za-z_]+\b", " ", text)  # time zone names (Asia/Shanghai)
    return re.sub(r"\b(?:https?|srt|rtmp)://\S+", " ", text)


def english_words(html: str) -> list[str]:
    """English words left on the page, each with the text around it."""
    text = " ".join(visible_text(html).split())
    return sorted(
        {
            f"{m.group()}: …{text[max(0, m.start() - 30) : m.end() + 30]}…"
            for m in WORD.finditer(text)
            if m.group().lower() not in ALLOWED
        }
    )


async def a_class(world: World, starts_in: timedelta, **extra: Any) -> int:
    starts = datetime.now(UTC).replace(microsecond=0) + starts_in
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=40)).isoformat(),
            **extra,
        },
        "teacher",
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def publish(world: World, settings: Settings, session_id: int) -> None:
    key = (await world.get(f"/api/v1/sessions/{session_id}/ingest", "teacher")).json()
    stream_key = key["endpoints"][0]["stream_key"].split("key=")[-1]
    form = {"app": "live", "call": "publish", "name": f"sh{session_id}", "key": stream_key}
    r = await world.client.post(
        f"{CALLBACK_PATH}/publish", data=form, params={"secret": callback_secret(settings)}
    )
    assert r.status_code == 200, r.text


async def test_no_english_on_the_zh_cn_watch_page_and_panel(
    browser: httpx.AsyncClient,  # noqa: F811
    world: World,
    settings: Settings,
) -> None:
    rtmp = {"provider_settings": {"ingest": "rtmp"}}
    waiting = await a_class(world, timedelta(minutes=30), **rtmp)
    page = await browser.get(f"/watch/{waiting}", headers=ZH)
    assert page.status_code == 200
    assert "老师还没开始，开始后自动播放" in page.text
    assert "本节课已结束，回放生成中" in page.text
    assert "点击开启声音" in page.text
    assert english_words(page.text) == [], "English on the waiting room"

    await sign_in(browser, "teacher")
    panel = await browser.get(f"/teacher/sessions/{waiting}", headers=ZH)
    assert panel.status_code == 200, panel.text
    assert english_words(panel.text) == [], "English on the go-live panel"
    for said in ("关键帧间隔：2 秒", "veryfast", "1500 kbit/s", "64–96 kbit/s", "RTMP", "Larix"):
        assert said in panel.text, said
    assert "自建服务器" in panel.text and "self_hosted" not in visible_text(panel.text)
    # the key is in the page only inside hidden elements, shown by 显示
    key = (await world.get(f"/api/v1/sessions/{waiting}/ingest", "teacher")).json()
    secret = key["endpoints"][0]["stream_key"]
    for match in re.finditer(re.escape(secret), panel.text):
        opening = panel.text.rfind("<", 0, match.start())
        assert " hidden" in panel.text[opening : match.start()], "a key shown before 显示"
    assert 'id="reveal"' in panel.text and ">显示<" in panel.text
    assert panel.text.count("data-confirm=") >= 2  # 生成新密钥 and 取消这节课 ask first
    assert "开始上课" in panel.text

    # a rehearsal push: the panel says so, still in Chinese; the schedule is unchanged
    await publish(world, settings, waiting)
    panel = await browser.get(f"/teacher/sessions/{waiting}", headers=ZH)
    assert "彩排中" in panel.text
    assert english_words(panel.text) == [], "English on the rehearsal panel"
    assert (await world.get(f"/api/v1/sessions/{waiting}")).json()["status"] == "scheduled"

    # 开始上课 by the panel's button, then 下课
    r = await browser.post(
        f"/teacher/sessions/{waiting}/start",
        data={"csrf_token": token_in(panel.text)},
        headers=ZH,
    )
    assert r.status_code == 303, r.text
    panel = await browser.get(f"/teacher/sessions/{waiting}", headers=ZH)
    assert "下课" in panel.text and 'id="end-class"' in panel.text
    assert english_words(panel.text) == [], "English on the live panel"
    watch = await browser.get(f"/watch/{waiting}", headers=ZH)
    assert english_words(watch.text) == [], "English on the live watch page"
    r = await browser.post(
        f"/teacher/sessions/{waiting}/end",
        data={"csrf_token": token_in(panel.text)},
        headers=ZH,
    )
    assert r.status_code == 303, r.text
    assert (await world.get(f"/api/v1/sessions/{waiting}")).json()["status"] == "ended"
    panel = await browser.get(f"/teacher/sessions/{waiting}", headers=ZH)
    assert english_words(panel.text) == [], "English on the ended panel"

    # a meeting-app class: its panel explains 开始上课 / 下课, in Chinese
    meeting = await a_class(
        world,
        timedelta(hours=3),
        provider="external_link",
        provider_settings={"meeting_url": "https://meeting.example/room"},
    )
    panel = await browser.get(f"/teacher/sessions/{meeting}", headers=ZH)
    assert "会议软件" in panel.text
    assert english_words(panel.text) == [], "English on a meeting-app panel"
    # the teacher's classes page names providers by their labels
    classes = await browser.get("/teacher", headers=ZH)
    assert english_words(classes.text) == [], "English on the teacher's classes"
