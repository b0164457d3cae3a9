"""``/impact/method``: how each figure is counted (public, Chinese and English)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from hub import method
from hub.pages.render import lang_of, public_page


@get(method.METHOD_PATH, name="pages:impact-method")
async def method_page(request: Request[Any, Any, Any]) -> Response[Any]:
    """Every figure's definition, the view rules and what is not counted."""
    lang = lang_of(request)

    async def build() -> dict[str, Any]:
        return {"method": method.sections(lang.locale)}

    return await public_page(request, "impact/method.html", build, lang=lang)


HANDLERS = [method_page]
