"""Friendly error pages for people, JSON for programs.

The app's exception handlers are wrapped: a request for a page (not ``/api/``, ``/calendar/``
or ``/schema``) from a browser (``Accept`` names ``text/html``) gets an HTML page in its
language; a page that needs signing in sends the browser to the sign-in form and back. Every
other request gets the JSON answer of the wrapped handler, unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect

from hub.errors import DomainError
from hub.pages import i18n, render

log = logging.getLogger("sharehub.pages")
MACHINE_PREFIXES = ("/api/", "/calendar/", "/schema", "/static/", "/healthz", "/readyz")

N_ = str  # marks a message id for extraction; the template translates it

TITLES = {
    400: N_("That did not work"),
    401: N_("Please sign in"),
    403: N_("This is not open to you"),
    404: N_("Page not found"),
    405: N_("That did not work"),
    409: N_("That clashes with something"),
    429: N_("Too many requests"),
    500: N_("Something went wrong on our side"),
}


def wants_html(request: Request[Any, Any, Any]) -> bool:
    if request.url.path.startswith(MACHINE_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def status_of(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, DomainError):
        return exc.status_code, exc.detail
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail or "")
    return 500, ""


def shown_detail(lang: i18n.Lang, detail: str) -> str:
    """The error's detail in the reader's language: a detail with a translation is shown
    translated; the English developer text of others ("Not Found", "this needs one of the
    roles ...") only on English pages (the page's own words say what happened)."""
    if not detail:
        return ""
    translated = lang.gettext(detail)
    return translated if translated != detail or lang.locale == "en" else ""


def error_page(request: Request[Any, Any, Any], status: int, detail: str) -> Response[Any]:
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)
    try:
        context = render.base_context(request)
        context.update(
            status=status,
            title=TITLES.get(status, TITLES[400] if status < 500 else TITLES[500]),
            detail=shown_detail(context["lang"], detail) if status < 500 else "",
        )
        body = render.render_string("error.html", context)
    except Exception:  # the error page itself must not fail
        log.exception("the error page could not be rendered")
        body = f"<!doctype html><title>{status}</title><h1>{status}</h1>"
    return Response(body, status_code=status, media_type=MediaType.HTML)


def html_errors(
    handler: Callable[[Request[Any, Any, Any], Any], Response[Any]],
) -> Callable[[Request[Any, Any, Any], Any], Response[Any]]:
    """Wrap an exception handler: HTML pages for browsers on page paths, else ``handler``."""

    def handle(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
        if not wants_html(request):
            return handler(request, exc)
        status, detail = status_of(exc)
        if status >= 500:
            log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_page(request, status, detail)

    return handle
