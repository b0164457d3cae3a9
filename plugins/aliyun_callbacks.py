"""Alibaba Cloud ApsaraVideo Live (视频直播) stream ingest callbacks (推流回调).

Documented at https://www.alibabacloud.com/help/doc-detail/54787.htm ("Format of stream
ingest callbacks") and, for the signature,
https://www.alibabacloud.com/help/en/live/developer-reference/usage-notes-for-callback-authentication
(回调鉴权说明, https://help.aliyun.com/zh/live/developer-reference/usage-notes-for-callback-authentication):

- ApsaraVideo Live sends an HTTP GET to the ingest domain's callback URL (here
  ``{public_url}/api/v1/ingest/aliyun/events``) with the event in URL parameters:
  ``action`` (``publish`` or ``publish_done``), ``ip`` (the pusher), ``id`` (the stream
  name), ``app`` (the domain), ``appname`` (the application, ``live``), ``time`` (Unix
  time), ``usrargs`` (the push URL's query) and ``node``; for example
  ``?action=publish&ip=192.168.0.1&id=liveStream&app=live.aliyundoc.com&appname=liveApp
  &time=1604980393&usrargs=...&node=...``. It expects HTTP 200 and retries (five times,
  a second apart) when it gets no answer in 5 s.
- With callback authentication on, two headers come along: ``ALI-LIVE-TIMESTAMP`` (Unix
  time of the request) and ``ALI-LIVE-SIGNATURE`` =
  ``md5sum("{ingest domain}|{ALI-LIVE-TIMESTAMP}|{key}")``, e.g.
  ``md5sum("learn.aliyundoc.com|1519375990|yourkey")``. The receiver may refuse a
  timestamp too far from its clock (the documentation's example: 5 minutes).

The key is ``SHAREHUB_PLUGIN__ALIYUN__CALLBACK_KEY`` (the console's 鉴权 KEY for the
callback URL); the ingest domain is ``PUSH_DOMAIN``. Without a key every callback is
refused (403): an unsigned callback could turn any class live or end it. A repeated
event changes nothing (``plugins.cloud_callbacks``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Response

from hub.plugin_host import PluginHost
from plugins import cloud_callbacks
from plugins.cloud_live import CloudSettings

NAME = "aliyun"
CALLBACK_PATH = "/api/v1/ingest/aliyun"
MAX_SKEW_SECONDS = 300


def signature(domain: str, timestamp: int | str, key: str) -> str:
    """``ALI-LIVE-SIGNATURE`` as ApsaraVideo Live computes it."""
    return hashlib.md5(f"{domain}|{timestamp}|{key}".encode()).hexdigest()


def check(headers: Any, domain: str, key: str, now: float | None = None) -> str | None:
    """Why the request is refused (no key set, stale timestamp, wrong signature), or None."""
    if not key or not domain:
        return (
            "callbacks are off: set SHAREHUB_PLUGIN__ALIYUN__CALLBACK_KEY and "
            "SHAREHUB_PLUGIN__ALIYUN__PUSH_DOMAIN"
        )
    stamp = str(headers.get("ali-live-timestamp", ""))
    given = str(headers.get("ali-live-signature", "")).lower()
    if not stamp.isdigit() or len(stamp) > 12:
        return "no ALI-LIVE-TIMESTAMP header"
    if abs((time.time() if now is None else now) - int(stamp)) > MAX_SKEW_SECONDS:
        return "ALI-LIVE-TIMESTAMP is too far from now"
    if not hmac.compare_digest(signature(domain, stamp, key), given):
        return "wrong ALI-LIVE-SIGNATURE"
    return None


def plain(text: str, status: int) -> Response[str]:
    return Response(text, status_code=status, media_type="text/plain")


class AliyunCallbackController(Controller):
    """Called by ApsaraVideo Live only (signed with the callback key), never by browsers."""

    path = CALLBACK_PATH
    tags = ["streaming"]
    include_in_schema = False

    @get("/events", status_code=200)
    async def event(self, request: Request[Any, Any, Any], plugins: PluginHost) -> Response[str]:
        """``action=publish`` turns the session live, ``action=publish_done`` ends it."""
        options = plugins.provider_options.get(NAME)
        key = options.callback_key if isinstance(options, CloudSettings) else ""
        domain = options.push_domain if isinstance(options, CloudSettings) else ""
        refused = check(request.headers, domain, key)
        if refused:
            return plain(refused, 403)
        params = request.query_params
        action = str(params.get("action", ""))
        stream = str(params.get("id", ""))[:200]
        app = str(params.get("app", ""))
        if app and app.lower() != domain.lower():
            return plain("another ingest domain: ignored", 200)
        if action == "publish":
            outcome = await cloud_callbacks.started(NAME, stream)
        elif action == "publish_done":
            outcome = await cloud_callbacks.stopped(NAME, stream)
        else:
            outcome = "not a stream ingest event: ignored"
        return plain(outcome, 200)
