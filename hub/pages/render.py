"""Rendering pages: one Jinja2 environment (autoescape on), gettext per request.

Templates live in ``templates/`` (the ``hub.templates`` package). The gettext functions
installed in the environment read the request's language from the template context, so one
environment serves every language.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from litestar import Request, Response
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import Cookie
from litestar.enums import MediaType
from litestar.response import Template
from litestar.template.config import TemplateConfig
from markupsafe import escape

from hub.accounts import Principal
from hub.cache import ResponseCache
from hub.pages import csrf, i18n
from hub.pages.assets import Assets
from hub.settings import Settings


def _template_dir() -> Path:
    """The ``hub.templates`` package: ``templates/`` in a checkout, ``hub/templates`` installed."""
    import hub.templates

    return Path(hub.templates.__file__).resolve().parent


@pass_context
def _gettext(context: Context, message: str) -> str:
    lang: i18n.Lang | None = context.get("lang")
    return lang.gettext(message) if lang else message


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    lang: i18n.Lang | None = context.get("lang")
    if lang:
        return lang.ngettext(singular, plural, n)
    return singular if n == 1 else plural


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_template_dir()),
        autoescape=select_autoescape(["html", "svg", "xml"], default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["asset"] = lambda name: assets().url(name)
    env.globals["urlencode"] = urlencode
    return env


@functools.cache
def assets() -> Assets:
    return Assets()


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """For ``Litestar(template_config=...)``: the pages' environment."""
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))


def principal_of(request: Request[Any, Any, Any]) -> Principal | None:
    return request.scope.get("principal")  # type: ignore[return-value]


def settings_of(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def lang_of(request: Request[Any, Any, Any], tz: str | None = None) -> i18n.Lang:
    principal = principal_of(request)
    zone_name = tz or (principal.timezone if principal else "") or settings_of(request).timezone
    from zoneinfo import ZoneInfo

    return i18n.Lang(
        i18n.negotiate(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")),
        ZoneInfo(zone_name),
    )


def base_context(request: Request[Any, Any, Any], lang: i18n.Lang | None = None) -> dict[str, Any]:
    token, cookie = csrf.token_of(request)
    return {
        "lang": lang or lang_of(request),
        "me": principal_of(request),
        "csrf_token": token,
        "_csrf_cookie": cookie,
        "path": request.url.path,
        "query": request.url.query,
        "locales": i18n.LABELS,
    }


def page(
    request: Request[Any, Any, Any],
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    lang: i18n.Lang | None = None,
    cookies: list[Cookie] | None = None,
    headers: dict[str, str] | None = None,
) -> Template:
    """A page response; sets the CSRF cookie when the browser has none yet."""
    ctx = base_context(request, lang)
    ctx.update(context or {})
    jar = list(cookies or [])
    if ctx["_csrf_cookie"] is not None:
        jar.append(ctx["_csrf_cookie"])
    return Template(
        template_name=template,
        context=ctx,
        status_code=status_code,
        cookies=jar,
        headers={"Cache-Control": "private, no-cache", **(headers or {})},
    )


CSRF_MARK = "csrf-" + secrets.token_hex(16)
"""Where the viewer's own form token goes in a page rendered once for every anonymous viewer."""


async def public_page(
    request: Request[Any, Any, Any],
    template: str,
    build: Callable[[], Awaitable[Mapping[str, Any]]],
    *,
    lang: i18n.Lang,
) -> Response[Any]:
    """A page anyone may see: rendered once per process and ``public_cache_seconds`` for
    everyone who is not signed in (a class-start rush is thousands of the same page), per
    language, time zone and URL; signed-in users get it rendered for them.

    ``build`` gathers the template's context; it may raise (404, 409), which is never cached.
    Each anonymous viewer gets the cached page with their own CSRF token put in."""
    if principal_of(request) is not None:
        return page(request, template, await build(), lang=lang)

    async def rendered() -> bytes:
        ctx = base_context(request, lang)
        ctx.update(await build())
        ctx["csrf_token"] = CSRF_MARK
        return environment().get_template(template).render(ctx).encode()

    cache: ResponseCache = request.app.state.read_cache
    query = request.scope["query_string"].decode("latin-1")
    key = f"page:{lang.locale}:{lang.zone_name()}:{request.url.path}?{query}"
    body = await cache.shared(key, rendered)
    token, cookie = csrf.token_of(request)
    return Response(
        body.replace(CSRF_MARK.encode(), str(escape(token)).encode()),
        media_type=MediaType.HTML,
        cookies=[cookie] if cookie else [],
        headers={"Cache-Control": "private, no-cache"},
    )


def render_string(template: str, context: Mapping[str, Any]) -> str:
    return environment().get_template(template).render(**context)
