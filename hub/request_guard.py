"""Checks every request passes before its handler runs (an app-wide ``before_request`` hook).

- **Deep JSON.** A JSON body nested deeper than ``MAX_JSON_DEPTH`` is refused with 400 before
  anything parses it (msgspec would raise ``RecursionError`` near 1,000 levels, a 500).
- **Content type.** An endpoint that takes a JSON body refuses a body sent as anything but
  ``application/json`` (or ``application/*+json``) with 415: a cross-site form or
  ``text/plain`` fetch cannot smuggle JSON in.
- **Request forgery.** A request that changes something (POST, PUT, PATCH, DELETE) and is
  authenticated by the session cookie must come from the hub's own origin: ``Sec-Fetch-Site``
  is ``same-origin`` (or ``none``, typed by the user), or ``Origin`` is the hub's (its public
  URL or the host the request was sent to). A request with neither header (not a browser)
  must carry the CSRF token, as the ``X-CSRF-Token`` header or, on the pages' forms, the
  ``csrf_token`` field the form handlers check. Bearer-token requests carry no ambient
  credential and are not checked; anonymous requests have nothing to forge, nor has signing
  in (a handler with ``opt={"origin_check": False}``).
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from litestar import Request

from hub.auth import SESSION_COOKIE
from hub.errors import DomainError, Forbidden, Invalid

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a JSON body may have (the API's shapes need 3)."""
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-csrf-token"
CSRF_COOKIE = "sharehub_csrf"
SAME_SITE_FETCH = frozenset({"same-origin", "none"})


class UnsupportedMediaType(DomainError):
    status_code = 415


def json_depth(body: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in a JSON text (brackets in strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def too_deep(body: bytes) -> bool:
    """Whether a body nests deeper than ``MAX_JSON_DEPTH`` (counted only when it could)."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    return json_depth(body) > MAX_JSON_DEPTH


def is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def takes_json(request: Request[Any, Any, Any]) -> bool:
    """Whether the handler reads a JSON body (a ``data`` argument not declared as a form)."""
    parameter = request.route_handler.parsed_fn_signature.parameters.get("data")
    if parameter is None:
        return False
    media = getattr(parameter.kwarg_definition, "media_type", None)
    return media is None or str(getattr(media, "value", media)) == "application/json"


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def own_origins(request: Request[Any, Any, Any]) -> set[str]:
    """The hub's origin by its public URL, and the one this request was addressed to."""
    origins = {_origin_of(request.app.state["settings"].public_url)}
    host = request.headers.get("host", "")
    if host:
        origins.add(f"{request.url.scheme}://{host}".lower())
    return origins - {""}


def uses_cookie_auth(request: Request[Any, Any, Any]) -> bool:
    """The principal was resolved from the session cookie (not from a bearer token)."""
    if request.scope.get("principal") is None:  # type: ignore[typeddict-item]
        return False
    if request.headers.get("authorization", "")[:7].lower() == "bearer ":
        return False
    return SESSION_COOKIE in request.cookies


def has_csrf_header(request: Request[Any, Any, Any]) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(CSRF_HEADER, "")
    return bool(cookie and given) and hmac.compare_digest(cookie.encode(), given.encode())


def check_origin(request: Request[Any, Any, Any]) -> None:
    """Refuse (403) a cookie-authenticated change that may come from another site."""
    if request.method not in CHANGING or not uses_cookie_auth(request):
        return
    if request.route_handler.opt.get("origin_check") is False:
        return  # signing in does not act with the cookie's authority
    if has_csrf_header(request):
        return
    fetch_site = request.headers.get("sec-fetch-site", "").lower()
    origin = request.headers.get("origin", "").lower()
    if fetch_site:
        if fetch_site in SAME_SITE_FETCH:
            return
    elif origin and origin != "null":
        if origin in own_origins(request):
            return
    elif not origin:
        # not a browser (browsers send Origin on every POST): the pages' forms check their
        # csrf_token field themselves; a JSON request must send the X-CSRF-Token header
        if (request.route_handler.name or "").startswith("pages:"):
            return
    raise Forbidden(
        "a signed-in change must come from this hub's own pages (Origin or Sec-Fetch-Site), "
        "or carry the CSRF token in the X-CSRF-Token header",
        field="origin",
    )


async def guard_request(request: Request[Any, Any, Any]) -> None:
    """The app's ``before_request`` hook: the checks above, in order."""
    check_origin(request)
    if request.method not in CHANGING:
        return
    content_type = request.headers.get("content-type", "")
    json_handler = takes_json(request)
    if not json_handler and not is_json_type(content_type):
        return  # forms, files and callbacks parse their own bodies
    body = await request.body()
    if json_handler and body and not is_json_type(content_type):
        raise UnsupportedMediaType(
            f"send the body as application/json, not {content_type or 'without a type'!r}",
            field="content-type",
        )
    if too_deep(body):
        raise Invalid(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels", field="body")
