"""Each user's notification preferences: channels per kind of event, quiet hours in their
own zone, and the addresses of their own channels (an e-mail address, a group bot URL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec

from hub.notify.tables import NotifyPreference

KINDS = (
    "class_booked",
    "class_cancelled",
    "class_moved",
    "reminder",
    "no_stream",
    "replay_ready",
    "report_failed",
)
INBOX = "inbox"
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
SECRET_FIELDS = frozenset({"dingtalk_secret"})
"""Target fields never shown back (the preferences read says only whether one is set)."""

Clock = Annotated[str, msgspec.Meta(pattern=HHMM.pattern, description="HH:MM, the user's zone")]


class Preferences(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    channels: dict[str, list[str]] = {}
    """Per kind of event, the channels besides the inbox (missing kind: every channel the
    user has an address for)."""
    quiet_start: Clock | None = None
    quiet_end: Clock | None = None
    targets: dict[str, Annotated[str, msgspec.Meta(max_length=2000)]] = {}
    """Addresses per channel field, e.g. ``email``, ``wecom_url``, ``dingtalk_url``,
    ``webpush`` (a browser's push subscription, JSON)."""


async def load(user_ids: list[int]) -> dict[int, Preferences]:
    if not user_ids:
        return {}
    rows = (
        await NotifyPreference.select(NotifyPreference.user_id, NotifyPreference.data)
        .where(NotifyPreference.user_id.is_in(user_ids))
        .output(load_json=True)
        .run()
    )
    found = {r["user_id"]: msgspec.convert(r["data"] or {}, Preferences) for r in rows}
    return {u: found.get(u, Preferences()) for u in user_ids}


async def save(user_id: int, prefs: Preferences) -> None:
    data: dict[str, Any] = msgspec.to_builtins(prefs)
    now = datetime.now(UTC)
    row = NotifyPreference(user_id=user_id, data=data, updated_at=now)
    await (
        NotifyPreference.insert(row)
        .on_conflict(
            target=NotifyPreference.user_id,
            action="DO UPDATE",
            values=[NotifyPreference.data, NotifyPreference.updated_at],
        )
        .run()
    )


def quiet_until(prefs: Preferences, tz: ZoneInfo, now: datetime) -> datetime | None:
    """When the user's quiet hours end, if ``now`` is inside them (else None). A window may
    cross midnight (22:00-07:00)."""
    if not prefs.quiet_start or not prefs.quiet_end or prefs.quiet_start == prefs.quiet_end:
        return None
    local = now.astimezone(tz)
    start = time.fromisoformat(prefs.quiet_start)
    end = time.fromisoformat(prefs.quiet_end)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(UTC)
