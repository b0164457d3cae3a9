"""Subscribable .ics feeds: the public schedule, a teacher's, a center's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from litestar import Controller, Response, get

from hub import schedule
from hub.api.common import PathId
from hub.api.sessions import session_rows
from hub.api.teachers import get_teacher
from hub.calendar_feed import feed
from hub.settings import Settings
from hub.tables import Booking, LiveSession, Visibility

ICS = "text/calendar"
"""Litestar adds the charset to text types (naming it here too doubled it)."""
WINDOW_BACK = timedelta(days=30)
FEED_LIMIT = 2000


def ics(name: str, rows: list[dict[str, Any]], settings: Settings) -> Response[bytes]:
    domain = urlparse(settings.public_url).hostname or "sharehub"
    return Response(
        feed(name, rows, settings.public_url, domain),
        media_type=ICS,
        headers={"Cache-Control": "public, max-age=300"},
    )


def public_window() -> Any:
    return (LiveSession.ends_at > datetime.now(UTC) - WINDOW_BACK) & (
        LiveSession.course.visibility == Visibility.public.value
    )


class CalendarController(Controller):
    path = "/calendar"
    tags = ["calendar"]

    @get("/public.ics", media_type=ICS)
    async def public(self, settings: Settings) -> Response[bytes]:
        """The public schedule (last 30 days and everything ahead)."""
        rows = await session_rows(public_window(), limit=FEED_LIMIT)
        return ics("Sharehub 共享课堂", rows, settings)

    @get("/teachers/{teacher_id:int}/schedule.ics", media_type=ICS)
    async def teacher(self, teacher_id: PathId, settings: Settings) -> Response[bytes]:
        """One teacher's public classes."""
        teacher = await get_teacher(teacher_id)
        rows = await session_rows(
            public_window() & (LiveSession.teacher == teacher_id), limit=FEED_LIMIT
        )
        return ics(f"{teacher['name']} · Sharehub", rows, settings)

    @get("/centers/{center_id:int}/schedule.ics", media_type=ICS)
    async def center(self, center_id: PathId, settings: Settings) -> Response[bytes]:
        """The public classes a center has booked."""
        center = await schedule.get_center(center_id)
        booked = Booking.select(Booking.session).where(Booking.center == center_id)
        rows = await session_rows(public_window() & LiveSession.id.is_in(booked), limit=FEED_LIMIT)
        return ics(f"{center['name']} · Sharehub", rows, settings)
