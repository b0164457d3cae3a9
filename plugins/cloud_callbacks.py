"""What the Tencent and Alibaba stream callbacks share: the stream, the session, the change.

Each cloud calls the hub when a push to its push domain starts or stops (see
``plugins.tencent_callbacks`` and ``plugins.aliyun_callbacks`` for the two formats and
their signatures). Both name the stream by the cloud stream name the hub handed out,
``sh{id}-{8 hex}`` (``plugins.cloud_live.cloud_stream_name``): the digest must match the
session's current stream key, so a push URL retired by a key rotation cannot turn a
session live. A start turns a session of that provider live (from an hour before its
start to 30 minutes after its end); a stop turns a live one ended. Both clouds retry
deliveries, so each change is conditional and a repeated event changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hub import live
from hub.errors import DomainError
from hub.tables import SessionStatus

log = logging.getLogger("sharehub.cloud")

STREAM = re.compile(r"^sh(\d{1,12})-([0-9a-f]{8})$")
PUBLISH_EARLY = timedelta(minutes=60)
"""A teacher may start pushing this long before the scheduled start (sound checks)."""
MAX_CLOCK_SKEW = timedelta(minutes=5)


async def session_of(provider: str, stream: str) -> dict[str, Any] | None:
    """The session a cloud stream name belongs to, with its current key's digest, or None."""
    found = STREAM.match(stream or "")
    if found is None:
        return None
    try:
        row = await live.session_row(int(found.group(1)))
    except DomainError:
        return None
    if row["provider"] != provider or not row["stream_key"]:
        return None
    digest = hashlib.sha256(str(row["stream_key"]).encode()).hexdigest()[:8]
    if digest != found.group(2):
        return None
    return row


async def started(provider: str, stream: str, now: datetime | None = None) -> str:
    """A push started: the session turns live. Returns what happened (for logs, tests)."""
    now = now or datetime.now(UTC)
    row = await session_of(provider, stream)
    if row is None:
        log.warning("%s: push of unknown stream %r ignored", provider, stream)
        return "unknown stream"
    opens, closes = row["starts_at"] - PUBLISH_EARLY, row["ends_at"] + live.RESTART_GRACE
    if not opens <= now <= closes:
        log.warning("%s: push of session %d outside its window ignored", provider, row["id"])
        return "outside the push window"
    try:
        changed = await live.go_live(row["id"], now)
    except DomainError as exc:
        return exc.detail
    if changed:
        log.info("session %d is live (%s push started)", row["id"], provider)
    return "live" if changed else "unchanged"


async def stopped(provider: str, stream: str, now: datetime | None = None) -> str:
    """A push stopped: a live session turns ended."""
    row = await session_of(provider, stream)
    if row is None:
        return "unknown stream"
    if row["status"] != SessionStatus.live:
        return "unchanged"
    changed = await live.end_stream(row["id"], now)
    if changed:
        log.info("session %d ended (%s push stopped)", row["id"], provider)
    return "ended" if changed else "unchanged"
