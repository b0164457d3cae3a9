"""Shapes and helpers shared by the API controllers."""

from __future__ import annotations

from dataclasses import dataclass
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


# ----------------------------------------------------------------- documented error answers


@dataclass
class ErrorBody:
    """Every error answer of the API: the status, what went wrong, and (for bad values) which
    field, as ``extra: [{"key": field, "message": ...}]``."""

    status_code: int
    detail: str
    extra: list[dict[str, Any]] | dict[str, Any] | None = None
    retry_after: int | None = None
    clashes: list[dict[str, Any]] | None = None


ERROR_ANSWERS: dict[int, str] = {
    400: "Bad input: a value out of its range or shape, named in extra[].key",
    401: "Not signed in: sign in, or send 'Authorization: Bearer <token>'",
    403: "Signed in, but this is not yours to do (or a signed-in change from another site)",
    404: "Not found, or not visible to the caller",
    409: "Conflicts with the current state (a schedule clash, a taken name, a cancelled class)",
    429: "Too many requests (sign-in throttle, beacon rate limits); see Retry-After",
    503: "Something this needs is unavailable for now (database, ports); see Retry-After",
}
BODY_ANSWERS: dict[int, str] = {
    413: "The request body is larger than SHAREHUB_MAX_BODY_BYTES",
    415: "The body is not application/json (JSON endpoints take nothing else)",
}
PAGE_ANSWERS: dict[int, str] = {
    200: "The page (HTML), or the form again with what to correct",
    302: "Sign in first: to /login and back",
    303: "Done: on to the next page",
}
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def document_errors(app: Any) -> None:
    """Add the error answers (status codes and ``ErrorBody``) to every API operation of the
    OpenAPI schema, so that what the hub refuses is documented and checkable (Schemathesis'
    status-code conformance). A handler's own ``responses`` win."""
    from litestar.openapi.datastructures import ResponseSpec
    from litestar.routes import HTTPRoute

    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            codes = dict(ERROR_ANSWERS)
            if set(handler.http_methods) & CHANGING_METHODS:
                codes.update(BODY_ANSWERS)
            documented = dict(handler.responses or {})
            if (handler.name or "").startswith("pages:"):
                for code, description in PAGE_ANSWERS.items():
                    documented.setdefault(
                        code, ResponseSpec(data_container=None, description=description)
                    )
            for code, description in sorted(codes.items()):
                documented.setdefault(
                    code,
                    ResponseSpec(data_container=ErrorBody, description=description),
                )
            handler.responses = documented


ProviderChoice = Annotated[
    str,
    msgspec.Meta(
        max_length=50,
        pattern=r"^[a-z0-9_]*$",
        description="a streaming provider (see /plugins); empty or left out: the hub's default",
    ),
]
"""A session's provider as asked for: ``PluginHost.chosen_provider`` makes "" the default."""
