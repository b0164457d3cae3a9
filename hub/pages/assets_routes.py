"""Serving the fingerprinted static assets and the centers' service worker."""

from __future__ import annotations

from litestar import Response, get

from hub.errors import NotFound
from hub.pages.assets import IMMUTABLE
from hub.pages.render import assets


@get("/static/{name:path}", name="pages:static", include_in_schema=False)
async def static_file(name: str) -> Response[bytes]:
    """A static asset by its fingerprinted name (cached for a year: the name changes)."""
    asset = assets().by_url.get(name.lstrip("/"))
    if asset is None:
        raise NotFound(f"no static file {name!r}", field="name")
    return Response(
        asset.body,
        media_type=asset.content_type,
        headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
    )


@get("/center/sw.js", name="pages:service-worker", include_in_schema=False)
async def service_worker() -> Response[bytes]:
    """The centers' service worker (scope ``/center``), with the asset names it caches."""
    store = assets()
    body = store.get("js/sw.js").body.replace(
        b"__ASSETS__",
        (
            "["
            + ",".join(f'"{store.url(n)}"' for n in ("css/app.css", "js/app.js", "js/checkin.js"))
            + "]"
        ).encode(),
    )
    return Response(
        body,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/center"},
    )


HANDLERS = [static_file, service_worker]
