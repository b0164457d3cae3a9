"""CSRF protection of the page forms: a double-submit token.

A page that shows a form makes sure the browser holds a random ``sharehub_csrf`` cookie and
puts the same value in a hidden ``csrf_token`` field. A form handler accepts the post only
when both are present and equal: another site can make a browser send our cookies, but it
can neither read nor set them, so it cannot fill in the field. Requests authenticated with
an ``Authorization: Bearer`` token carry no ambient credential and are not checked. Every
cookie-authenticated change, JSON API included, must also come from the hub's own origin or
send the same token as an ``X-CSRF-Token`` header (``hub.request_guard``), and JSON endpoints
refuse bodies that are not ``application/json`` (415).
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from hub.errors import Forbidden
from hub.security import secure_cookies

COOKIE = "sharehub_csrf"
FIELD = "csrf_token"
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,128}")
"""A token as ``secrets.token_urlsafe(32)`` makes it; any other cookie value is replaced."""


def token_of(request: Request[Any, Any, Any]) -> tuple[str, Cookie | None]:
    """The request's token, and the cookie to set when the browser has none yet."""
    current = request.cookies.get(COOKIE, "")
    if TOKEN_SHAPE.fullmatch(current):  # only what we hand out: it goes into pages as it is
        return current, None
    token = secrets.token_urlsafe(32)
    cookie = Cookie(
        key=COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request.app.state["settings"], request),
        path="/",
    )
    return token, cookie


def uses_bearer(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("authorization", "")[:7].lower() == "bearer "


def check(request: Request[Any, Any, Any], form: Any) -> None:
    """Refuse (403) a form post whose token does not match the cookie."""
    if uses_bearer(request):
        return
    cookie = request.cookies.get(COOKIE, "")
    given = str(form.get(FIELD, "") if form is not None else "")
    if not cookie or not given or not hmac.compare_digest(cookie.encode(), given.encode()):
        raise Forbidden(
            "the form's security token is missing or out of date; reload the page and try again",
            field=FIELD,
        )
