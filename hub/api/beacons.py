"""Player beacons (anonymous, rate-limited) and a session's view figures."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post

from hub import metrics
from hub.accounts import Principal
from hub.api.common import PathId, session_visibility
from hub.errors import Invalid
from hub.security import client_address
from hub.settings import Settings
from hub.tables import Role
from hub.views import RateLimited, ViewCounter, concurrent_viewers, session_views

Token = Annotated[str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class BeaconIn(msgspec.Struct, forbid_unknown_fields=True):
    """What a player sends every 10-30 s. No personal data: ``viewer_id`` is random per
    browser (kept in local storage), ``beacon_id`` random per beacon (resent unchanged when a
    send is retried)."""

    beacon_id: Token
    viewer_id: Token
    kind: Literal["live", "replay"]
    seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)]
    """Seconds watched since this viewer's previous beacon."""
    at: datetime
    """When the player sent it (with a time zone)."""
    position: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 0.0
    """Playback position in seconds (replays)."""


_FIELD = re.compile(r"`\$\.(\w+)")


async def strict_beacon(request: Request[Any, Any, Any]) -> BeaconIn:
    """The body decoded strictly: ``"seconds": "10"`` or ``"kind": 1`` is a 400 naming the
    field, never coerced (the framework's own decoding converts such values)."""
    try:
        return msgspec.json.decode(await request.body(), type=BeaconIn, strict=True)
    except msgspec.ValidationError as exc:
        found = _FIELD.search(str(exc))
        field = found.group(1) if found else "body"
        metrics.BEACONS_REFUSED.labels(field).inc()
        raise Invalid(str(exc), field=field) from None
    except msgspec.DecodeError as exc:
        metrics.BEACONS_REFUSED.labels("body").inc()
        raise Invalid(f"not JSON: {exc}", field="body") from None


class BeaconOut(msgspec.Struct):
    accepted: bool
    duplicate: bool = False


class SessionViews(msgspec.Struct):
    session_id: int
    concurrent_viewers: int
    peak_concurrent: int
    live_views: int
    replay_views: int
    center_views: int
    unique_viewers: int
    live_hours: float
    replay_hours: float


class BeaconController(Controller):
    path = "/api/v1"
    tags = ["views"]

    @post("/sessions/{session_id:int}/beacons", status_code=202)
    async def beacon(
        self, session_id: PathId, data: BeaconIn, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        """Count watching: a view is counted once a viewer has watched the threshold in a
        window (see the README). 429 with Retry-After when a viewer or address sends too
        many; 4xx for a beacon that must count nothing."""
        data = await strict_beacon(request)
        counter: ViewCounter = request.app.state.views
        principal: Principal | None = request.scope.get("principal")  # type: ignore[assignment]
        center_id = (
            principal.center_id if principal is not None and principal.role is Role.center else None
        )
        try:
            taken = await counter.accept(
                session_id,
                beacon_id=data.beacon_id,
                viewer_id=data.viewer_id,
                kind=data.kind,
                seconds=data.seconds,
                at=data.at,
                address=client_address(request),
                center_id=center_id,
                signed_in=principal is not None,
            )
        except RateLimited as exc:
            return Response(
                exc.body(), status_code=429, headers={"Retry-After": str(exc.retry_after)}
            )
        return Response(BeaconOut(accepted=True, duplicate=not taken), status_code=202)

    @post("/beacons/check", status_code=202)
    async def check(self, data: BeaconIn, request: Request[Any, Any, Any]) -> BeaconOut:
        """Validate a beacon's shape without counting it (for player developers; also the
        no-op baseline of ``bench/beacon_ingest.py``)."""
        await strict_beacon(request)
        return BeaconOut(accepted=False)

    @get("/sessions/{session_id:int}/views")
    async def views(
        self, session_id: PathId, settings: Settings, principal: Principal | None
    ) -> SessionViews:
        """A session's view figures: viewers now (seen in the last interval, all processes),
        peak, counted views live and replay, unique viewers, hours watched. They follow the
        session's visibility (404 to anonymous callers for a centers-only session)."""
        await session_visibility(session_id, principal)
        figures = await session_views(session_id)
        return SessionViews(
            session_id=session_id,
            concurrent_viewers=await concurrent_viewers(session_id, settings),
            peak_concurrent=figures["peak_concurrent"],
            live_views=figures["live_views"],
            replay_views=figures["replay_views"],
            center_views=figures["center_views"],
            unique_viewers=figures["unique_viewers"],
            live_hours=round(figures["live_seconds"] / 3600, 3),
            replay_hours=round(figures["replay_seconds"] / 3600, 3),
        )
