"""The share-center's class screen: big buttons to raise a hand, send a quick signal or a
photo, answer a roll call, and the teacher's answers, live (``hub.api.classroom``'s stream).
Sends go through the JSON API with an idempotency key; offline they wait on the device."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from hub.api.common import PathId
from hub.auth import center_or_admin
from hub.pages.center import booking_context, center_lang
from hub.pages.render import page


@get("/center/bookings/{booking_id:int}/class", guards=[center_or_admin], name="pages:class")
async def class_screen(request: Request[Any, Any, Any], booking_id: PathId) -> Response[Any]:
    """The room's class screen (a phone beside the projector)."""
    ctx = await booking_context(request, booking_id)
    lang = center_lang(request, ctx["center"])
    return page(request, "center/classroom.html", ctx, lang=lang)


HANDLERS = [class_screen]
