"""iCalendar (.ics) feeds that calendar clients subscribe to."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar, Event, vText

PRODID = "-//Sharehub//schedule//ZH"


def feed(name: str, rows: Iterable[dict[str, Any]], public_url: str, domain: str) -> bytes:
    """A VCALENDAR of sessions; times in UTC, cancelled classes kept with STATUS:CANCELLED."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("refresh-interval", vText("PT1H"), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    stamp = datetime.now(UTC)
    for r in rows:
        event = Event()
        event.add("uid", f"session-{r['id']}@{domain}")
        event.add("dtstamp", stamp)
        event.add("dtstart", r["starts_at"].astimezone(UTC))
        event.add("dtend", r["ends_at"].astimezone(UTC))
        event.add("summary", f"{r['title']} · {r['teacher_name']}")
        event.add("description", f"{r['subject']} · {r['grade_min']}–{r['grade_max']}")
        event.add("url", f"{public_url.rstrip('/')}/watch/{r['id']}")
        event.add("status", "CANCELLED" if r["status"] == "cancelled" else "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()


# ------------------------------------------------------------------------------ private feeds


def token_hash(token: str) -> str:
    return hashlib.sha256(("calendar-feed:" + token).encode()).hexdigest()


async def create_private(kind: str, owner_id: int, user_id: int | None) -> tuple[int, str]:
    """A new private feed of a center or a teacher: (its id, the token; shown once)."""
    from hub.tables import CalendarFeed

    token = secrets.token_urlsafe(24)
    row = await CalendarFeed.insert(
        CalendarFeed(
            kind=kind, owner_id=owner_id, token_hash=token_hash(token), created_by=user_id
        )
    ).run()
    return int(row[0]["id"]), token


async def private_owner(token: str) -> tuple[str, int] | None:
    """(kind, owner id) of a feed token that is valid, else None."""
    from hub.tables import CalendarFeed

    row = (
        await CalendarFeed.select(CalendarFeed.kind, CalendarFeed.owner_id)
        .where(
            (CalendarFeed.token_hash == token_hash(token)) & CalendarFeed.revoked_at.is_null()
        )
        .first()
        .run()
    )
    return (row["kind"], int(row["owner_id"])) if row else None
