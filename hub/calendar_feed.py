"""iCalendar (.ics) feeds that calendar clients subscribe to."""

from __future__ import annotations

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
