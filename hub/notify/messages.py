"""The words of each kind of message, in each language the pages speak (zh-CN default).

A message names the class and its time in the recipient's zone, and links to a hub page:
the watch page, or for the teacher the go-live page (which asks for a sign-in). It never
carries a stream key, a push address or any secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from hub.notify.base import Message

DEFAULT = "zh_CN"
TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "zh_CN": {
        "class_booked": ("已预约：{title}", "{center}预约了课程「{title}」，上课时间 {when}。"),
        "class_cancelled": ("课程已取消：{title}", "课程「{title}」（原定 {when}）已取消。"),
        "class_moved": ("课程时间变更：{title}", "课程「{title}」改到 {when}。"),
        "reminder": ("即将上课：{title}", "课程「{title}」将于 {when} 开始。"),
        "no_stream": (
            "尚未开播：{title}",
            "课程「{title}」（{when} 开始）还没有直播画面。老师可能晚到，请稍候。",
        ),
        "replay_ready": ("回放已就绪：{title}", "课程「{title}」（{when}）的回放可以观看了。"),
        "report_failed": ("报告发送失败：{title}", "报告「{title}」发送失败：{error}"),
    },
    "en": {
        "class_booked": ("Booked: {title}", "{center} booked the class “{title}” at {when}."),
        "class_cancelled": (
            "Class cancelled: {title}",
            "The class “{title}” (planned for {when}) is cancelled.",
        ),
        "class_moved": ("Class moved: {title}", "The class “{title}” now starts at {when}."),
        "reminder": ("Starting soon: {title}", "The class “{title}” starts at {when}."),
        "no_stream": (
            "No stream yet: {title}",
            "The class “{title}” (starting {when}) has no stream yet. "
            "The teacher may be late; please wait.",
        ),
        "replay_ready": (
            "Replay ready: {title}",
            "The replay of the class “{title}” ({when}) is ready to watch.",
        ),
        "report_failed": ("Report failed: {title}", "The report “{title}” failed: {error}"),
    },
}
LINK_WORDS = {
    "zh_CN": {"watch": "观看", "go_live": "开播（需登录）"},
    "en": {"watch": "Watch", "go_live": "Go live (sign-in needed)"},
}


def language_of(value: str) -> str:
    value = (value or "").replace("-", "_")
    if value.lower().startswith("en"):
        return "en"
    return DEFAULT


def when(at: datetime, tz: ZoneInfo, language: str) -> str:
    """The time in the recipient's zone and language, with the zone named."""
    shown = format_datetime(at.astimezone(tz), "yyyy-MM-dd HH:mm", tzinfo=tz, locale=language)
    return f"{shown} ({tz.key})"


def render(
    kind: str,
    language: str,
    tz: ZoneInfo,
    facts: dict[str, Any],
    links: dict[str, str],
) -> Message:
    """The message of ``kind`` for one recipient. ``facts``: title, starts_at, center,
    error; ``links``: ``watch`` and (teachers) ``go_live`` page addresses."""
    language = language if language in TEXTS else DEFAULT
    subject, body = TEXTS[language][kind]
    starts = facts.get("starts_at")
    values = {
        "title": facts.get("title", ""),
        "center": facts.get("center", ""),
        "error": facts.get("error", ""),
        "when": when(starts, tz, language) if isinstance(starts, datetime) else "",
    }
    text = body.format(**values)
    words = LINK_WORDS[language]
    lines = [text] + [f"{words[name]}: {url}" for name, url in links.items() if url]
    first = links.get("go_live") or links.get("watch") or ""
    return Message(
        kind=kind,
        subject=subject.format(**values),
        text="\n".join(lines),
        link=first,
        language=language,
    )
