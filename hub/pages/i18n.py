"""Languages of the pages: zh-CN first, English too.

Every string shown on a page is an English message id in a gettext catalogue
(``hub/locale/<locale>/LC_MESSAGES/messages.po``, made and updated with Babel's ``pybabel``).
Only the ``.po`` files are kept in the repository: the hub compiles them in memory when it
starts, so a fresh clone needs no build step. The language is the one kept in the
``sharehub_lang`` cookie (the switch at the foot of each page), else the best match of the
browser's ``Accept-Language``, else zh-CN.
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DEFAULT = "zh_CN"
LOCALES = ("zh_CN", "en")
LABELS = {"zh_CN": "中文", "en": "English"}
COOKIE = "sharehub_lang"
N_ = str  # marks a message id for extraction
ZONE_LABELS = {
    "Asia/Shanghai": N_("Beijing time"),
    "Asia/Chongqing": N_("Beijing time"),
    "Asia/Harbin": N_("Beijing time"),
    "PRC": N_("Beijing time"),
    "Asia/Urumqi": N_("Xinjiang time"),
    "Asia/Hong_Kong": N_("Hong Kong time"),
    "Asia/Macau": N_("Macau time"),
    "Asia/Taipei": N_("Taipei time"),
    "UTC": N_("Coordinated Universal Time (UTC)"),
}
"""Time zones as people name them; any other zone is shown by its IANA name."""
ZONE_CHOICES = (
    "Asia/Shanghai",
    "Asia/Urumqi",
    "Asia/Hong_Kong",
    "Asia/Macau",
    "Asia/Taipei",
    "UTC",
)
"""The zones a center form offers (a center in another zone keeps its own)."""


@functools.cache
def translations(locale: str) -> Translations:
    """The catalogue of ``locale`` compiled in memory (an empty one if it has no ``.po``)."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return Translations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def from_accept_language(header: str) -> str | None:
    """The best of our locales for an ``Accept-Language`` header (q-values respected)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return None


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LOCALES:
        return cookie  # type: ignore[return-value]
    return from_accept_language(accept_language or "") or DEFAULT


_LABEL_SPLIT = re.compile(r"^(.*[\u3000-\u9fff\uff00-\uffef)])\s*([A-Za-z][^\u3000-\u9fff]*)$")


def label_in(label: str, locale: str) -> str:
    """A plugin's label in the page's language. Labels are written "中文 English" (the
    Chinese part may name products in Latin letters): Chinese pages show the first part,
    English pages the last; a label in one language is shown whole."""
    found = _LABEL_SPLIT.match(label.strip())
    if not found:
        return label
    return found.group(1).strip() if locale.startswith("zh") else found.group(2).strip()


@functools.lru_cache(maxsize=8192)
def _skeleton(skeleton: str, locale: str, day: date) -> str:
    """A day formatted by a skeleton; remembered (a page shows the same days many times, and
    babel looks the locale and its patterns up on every call)."""
    return format_skeleton(skeleton, day, locale=locale)


@functools.lru_cache(maxsize=8192)
def _short_time(locale: str, hour: int, minute: int) -> str:
    """A wall-clock time in the locale's short form (no zone, no seconds); remembered."""
    return format_time(time(hour, minute), "short", locale=locale)


@functools.lru_cache(maxsize=8192)
def _medium_date(locale: str, day: date) -> str:
    return format_date(day, "medium", locale=locale)


@dataclass(frozen=True)
class Lang:
    """A request's language and time zone, with the formatting the templates use."""

    locale: str
    tz: ZoneInfo

    @property
    def tr(self) -> Translations:
        return translations(self.locale)

    @property
    def html_lang(self) -> str:
        return self.locale.replace("_", "-")

    @property
    def babel_locale(self) -> Locale:
        return Locale.parse(self.locale)

    def gettext(self, message: str) -> str:
        return self.tr.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.tr.ngettext(singular, plural, n)

    def local(self, value: datetime) -> datetime:
        return value.astimezone(self.tz)

    def datetime(self, value: datetime | None) -> str:
        """Day with weekday and year, and the time without seconds, in the user's zone."""
        if value is None:
            return ""
        local = value.astimezone(self.tz)
        return f"{_skeleton('yMMMEd', self.locale, local.date())} {self.time(local)}"

    def time(self, value: datetime) -> str:
        local = value.astimezone(self.tz)
        return _short_time(self.locale, local.hour, local.minute)

    def day(self, value: date | datetime) -> str:
        """A day as a heading: weekday, month and day (星期一 11月23日 / Mon, Nov 23)."""
        if isinstance(value, datetime):
            value = value.astimezone(self.tz).date()
        return _skeleton("MMMEd", self.locale, value)

    def date(self, value: date | datetime) -> str:
        if isinstance(value, datetime):
            value = value.astimezone(self.tz).date()
        return _medium_date(self.locale, value)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)

    def zone_name(self) -> str:
        return self.tz.key

    def zone_label(self) -> str:
        """The zone as people say it (北京时间 / Beijing time), else its IANA name."""
        label = ZONE_LABELS.get(self.tz.key)
        return self.gettext(label) if label else self.tz.key
