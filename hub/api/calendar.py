"""Subscribable .ics feeds: the public schedule, a teacher's, a center's (public classes, for
anyone), and private feeds of a center or a teacher (every class of theirs, centers-only ones
too) at a URL with a revocable token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlparse

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.params import Parameter

from hub import schedule
from hub.accounts import Principal
from hub.api.common import PathId, PositiveId, need
from hub.api.sessions import list_rows
from hub.api.teachers import get_teacher
from hub.auth import signed_in
from hub.calendar_feed import create_private, feed, private_owner
from hub.errors import Forbidden, Invalid, NotFound
from hub.settings import Settings
from hub.tables import CalendarFeed, Role, Teacher, Visibility

ICS = "text/calendar"
"""Litestar adds the charset to text types (naming it here too doubled it)."""
WINDOW_BACK = timedelta(days=30)
FEED_LIMIT = 2000


def ics(
    name: str, rows: list[dict[str, Any]], settings: Settings, private: bool = False
) -> Response[bytes]:
    domain = urlparse(settings.public_url).hostname or "sharehub"
    return Response(
        feed(name, rows, settings.public_url, domain),
        media_type=ICS,
        headers={"Cache-Control": "private, no-store" if private else "public, max-age=300"},
    )


class FeedIn(msgspec.Struct, forbid_unknown_fields=True):
    """Whose private feed: one of ``center_id`` (its operator, administrators) or
    ``teacher_id`` (that teacher, administrators)."""

    center_id: PositiveId | None = None
    teacher_id: PositiveId | None = None


class FeedOut(msgspec.Struct):
    id: int
    kind: str
    owner_id: int
    url: str
    """The private address (shown once: keep it; revoke it if it leaks)."""


async def _may_own(who: Principal, kind: str, owner_id: int) -> None:
    if who.is_admin:
        return
    if kind == "center" and who.role is Role.center and who.center_id == owner_id:
        return
    if kind == "teacher" and who.role is Role.teacher:
        mine = await Teacher.exists().where(
            (Teacher.id == owner_id) & (Teacher.user == who.user_id)
        )
        if mine:
            return
    raise Forbidden(f"only the {kind} or an administrator manages this feed", field=f"{kind}_id")


def public_window() -> tuple[str, list[Any]]:
    """The public feeds' sessions: public courses, from 30 days back (a ``list_rows`` WHERE)."""
    return "s.ends_at > ? AND c.visibility = ?", [
        datetime.now(UTC) - WINDOW_BACK,
        Visibility.public.value,
    ]


BOOKED_BY = "s.id IN (SELECT b.session FROM booking b WHERE b.center = ?)"


class CalendarController(Controller):
    path = "/calendar"
    tags = ["calendar"]

    @get("/public.ics", media_type=ICS)
    async def public(self, settings: Settings) -> Response[bytes]:
        """The public schedule (last 30 days and everything ahead)."""
        rows = await list_rows(*public_window(), limit=FEED_LIMIT)
        return ics("Sharehub 共享课堂", rows, settings)

    @get("/teachers/{teacher_id:int}/schedule.ics", media_type=ICS)
    async def teacher(self, teacher_id: PathId, settings: Settings) -> Response[bytes]:
        """One teacher's public classes."""
        teacher = await get_teacher(teacher_id)
        where, args = public_window()
        rows = await list_rows(f"{where} AND s.teacher = ?", [*args, teacher_id], limit=FEED_LIMIT)
        return ics(f"{teacher['name']} · Sharehub", rows, settings)

    @get("/centers/{center_id:int}/schedule.ics", media_type=ICS)
    async def center(self, center_id: PathId, settings: Settings) -> Response[bytes]:
        """The public classes a center has booked."""
        center = await schedule.get_center(center_id)
        where, args = public_window()
        rows = await list_rows(f"{where} AND {BOOKED_BY}", [*args, center_id], limit=FEED_LIMIT)
        return ics(f"{center['name']} · Sharehub", rows, settings)

    @get("/private.ics", media_type=ICS)
    async def private(
        self,
        settings: Settings,
        token: Annotated[str, Parameter(max_length=100, description="the feed's token")] = "",
    ) -> Response[bytes]:
        """A center's or a teacher's private feed: every class of theirs (centers-only ones
        too). A wrong or revoked token is a 403."""
        owner = await private_owner(token) if token else None
        if owner is None:
            raise Forbidden("this calendar address is not valid (revoked?)", field="token")
        kind, owner_id = owner
        since = datetime.now(UTC) - WINDOW_BACK
        if kind == "center":
            center = await schedule.get_center(owner_id)
            rows = await list_rows(
                f"s.ends_at > ? AND {BOOKED_BY}", [since, owner_id], limit=FEED_LIMIT
            )
            return ics(f"{center['name']} · Sharehub", rows, settings, private=True)
        teacher = await get_teacher(owner_id)
        rows = await list_rows(
            "s.ends_at > ? AND s.teacher = ?", [since, owner_id], limit=FEED_LIMIT
        )
        return ics(f"{teacher['name']} · Sharehub", rows, settings, private=True)


class CalendarFeedController(Controller):
    path = "/api/v1/calendar/feeds"
    tags = ["calendar"]
    guards = [signed_in]

    @post("", status_code=201)
    async def create(
        self, data: FeedIn, settings: Settings, principal: Principal | None
    ) -> FeedOut:
        """A private feed URL for a center or a teacher (their classes of any visibility)."""
        who = need(principal)
        if (data.center_id is None) == (data.teacher_id is None):
            raise Invalid("give one of center_id or teacher_id", field="center_id")
        kind, owner_id = (
            ("center", data.center_id) if data.center_id else ("teacher", data.teacher_id)
        )
        assert owner_id is not None
        if kind == "center":
            await schedule.get_center(owner_id)
        else:
            await get_teacher(owner_id)
        await _may_own(who, kind, owner_id)
        feed_id, token = await create_private(kind, owner_id, who.user_id)
        url = f"{settings.public_url.rstrip('/')}/calendar/private.ics?token={token}"
        return FeedOut(id=feed_id, kind=kind, owner_id=owner_id, url=url)

    @delete("/{feed_id:int}", status_code=204)
    async def revoke(self, feed_id: PathId, principal: Principal | None) -> None:
        """Revoke a private feed: its URL answers 403 from now on."""
        who = need(principal)
        row = await CalendarFeed.select().where(CalendarFeed.id == feed_id).first().run()
        if row is None:
            raise NotFound(f"calendar feed {feed_id} not found", field="feed_id")
        await _may_own(who, row["kind"], int(row["owner_id"]))
        await (
            CalendarFeed.update({CalendarFeed.revoked_at: datetime.now(UTC)})
            .where(CalendarFeed.id == feed_id)
            .run()
        )
