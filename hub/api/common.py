"""Shapes and helpers shared by the API controllers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import msgspec
from litestar.params import Parameter

from hub.accounts import Principal
from hub.errors import NotAuthorized, NotFound
from hub.schedule import zone
from hub.tables import LiveSession, SessionStatus, Visibility

T = TypeVar("T")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
ShortText = Annotated[str, msgspec.Meta(max_length=100)]
LongText = Annotated[str, msgspec.Meta(max_length=5000)]
PositiveId = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]

PathId = Annotated[int, Parameter(ge=1, le=2**31 - 1, description="id")]
PageNo = Annotated[int, Parameter(ge=1, le=100_000, description="page number, from 1")]
PerPage = Annotated[int, Parameter(ge=1, le=200, description="items per page")]
TzParam = Annotated[
    str | None,
    Parameter(
        max_length=64,
        description="IANA time zone for local times (default: your center's or the hub's)",
    ),
]


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int


def local_iso(value: datetime, tz: ZoneInfo) -> str:
    return value.astimezone(tz).isoformat()


def viewer_zone(requested: str | None, principal: Principal | None, default: str) -> ZoneInfo:
    """The time zone to show times in: asked for, else the user's (or their center's), else
    the hub's default."""
    if requested:
        return zone(requested, field="tz")
    return zone((principal.timezone if principal else "") or default, field="tz")


def need(principal: Principal | None) -> Principal:
    if principal is None:
        raise NotAuthorized("sign in, or send an API token as 'Authorization: Bearer ...'")
    return principal


def changes_of(data: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body sets (enums as their values), for ``Table.update``."""
    return {
        k: (v.value if hasattr(v, "value") else v)
        for k, v in msgspec.structs.asdict(data).items()
        if v is not msgspec.UNSET
    }


async def session_visibility(session_id: int, principal: Principal | None) -> str:
    """The visibility of a session for what is shown about it (view figures, its replay):
    its course's, except that a cancelled session is never public. 404 when the caller may
    not see it (anonymous callers see only public ones)."""
    row = (
        await LiveSession.select(
            LiveSession.status, LiveSession.course.visibility.as_alias("visibility")
        )
        .where(LiveSession.id == session_id)
        .first()
        .run()
    )
    if row is None:
        raise NotFound(f"session {session_id} not found", field="session_id")
    visibility = str(row["visibility"])
    if row["status"] == SessionStatus.cancelled and visibility == Visibility.public:
        visibility = Visibility.centers.value
    if visibility != Visibility.public and principal is None:
        raise NotFound(f"session {session_id} not found", field="session_id")
    return visibility
