"""Tencent Cloud CSS (云直播) push and push-interrupted event callbacks.

Documented at https://www.tencentcloud.com/document/product/267/38081 ("Stream Pushing
Notification"; in Chinese, 推断流事件通知, https://www.tencentcloud.com/zh/document/product/267/38081):

- CSS sends an HTTP POST with a JSON body to the callback URL of the callback template
  bound to the push domain (here ``{public_url}/api/v1/ingest/tencent/events``).
- ``event_type`` is ``1`` for a push that started (直播推流) and ``0`` for one that was
  interrupted (直播断流).
- ``t`` is an expiry, a decimal Unix time (by default 10 minutes after the event was
  sent); ``sign = MD5(key + t)`` in lower-case hex, ``key`` the callback key (回调密钥) set
  in the console. An expired ``t`` or a wrong ``sign`` is refused (403), so a captured
  message cannot be replayed later.
- Other fields used: ``app`` (the push domain), ``appname`` (the push path, ``live``),
  ``stream_id`` (the stream name), ``sequence`` (one push activity). The documented
  example: ``{"app": "test.domain.com", "appid": 12345678, "appname": "live",
  "channel_id": "test_stream", "errcode": 0, "errmsg": "ok", "event_time": 1703731478,
  "event_type": 1, ..., "sequence": "2210464508206756938", "sign": "...", "stream_id":
  "test_stream", "stream_param": "stream_param=test", "t": 1703732078, ...}``.
- The answer is HTTP 200 with ``{"code":0}``; anything else is delivered again, so a
  repeated event must change nothing (it does not: see ``plugins.cloud_callbacks``).

The callback key is ``SHAREHUB_PLUGIN__TENCENT__CALLBACK_KEY``; without it every
callback is refused (403): an unsigned callback could turn any class live or end it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.response import Response

from hub.plugin_host import PluginHost
from plugins import cloud_callbacks
from plugins.cloud_live import CloudSettings

NAME = "tencent"
CALLBACK_PATH = "/api/v1/ingest/tencent"
PUSH, INTERRUPTED = 1, 0
MAX_BODY = 16 * 1024


class TencentEvent(msgspec.Struct):
    """The fields of a push or interrupt event that the hub reads (others are ignored)."""

    event_type: int
    stream_id: Annotated[str, msgspec.Meta(max_length=200)]
    t: int
    sign: Annotated[str, msgspec.Meta(max_length=64)]
    app: str = ""
    appname: str = ""
    sequence: str = ""
    event_time: int = 0


def sign(key: str, t: int | str) -> str:
    """``MD5(key + t)`` as CSS computes it."""
    return hashlib.md5(f"{key}{t}".encode()).hexdigest()


def check(event: TencentEvent, key: str, now: float | None = None) -> str | None:
    """Why the event is refused (no key set, expired ``t``, wrong ``sign``), or None."""
    if not key:
        return "callbacks are off: set SHAREHUB_PLUGIN__TENCENT__CALLBACK_KEY"
    if event.t < (time.time() if now is None else now):
        return "the event has expired (t is in the past)"
    if not hmac.compare_digest(sign(key, event.t), event.sign.lower()):
        return "wrong sign"
    return None


def answer(code: int, status: int, message: str = "") -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"code": code}
    if message:
        body["message"] = message
    return Response(body, status_code=status)


class TencentCallbackController(Controller):
    """Called by Tencent Cloud CSS only (signed with the callback key), never by browsers."""

    path = CALLBACK_PATH
    tags = ["streaming"]
    include_in_schema = False

    @post("/events", status_code=200)
    async def event(
        self, request: Request[Any, Any, Any], plugins: PluginHost
    ) -> Response[dict[str, Any]]:
        """A push started (``event_type`` 1) or was interrupted (0)."""
        options = plugins.provider_options.get(NAME)
        key = options.callback_key if isinstance(options, CloudSettings) else ""
        if not key:
            return answer(1, 403, "callbacks are off: set SHAREHUB_PLUGIN__TENCENT__CALLBACK_KEY")
        body = await request.body()
        if len(body) > MAX_BODY:
            return answer(1, 413, "too large")
        try:
            event = msgspec.json.decode(body, type=TencentEvent)
        except msgspec.ValidationError as exc:
            return answer(1, 400, f"not a CSS push event: {exc}")
        except msgspec.DecodeError:
            return answer(1, 400, "not JSON")
        refused = check(event, key)
        if refused:
            return answer(1, 403, refused)
        if isinstance(options, CloudSettings) and options.push_domain and event.app:
            if event.app.lower() != options.push_domain.lower():
                return answer(0, 200, "another push domain: ignored")
        if event.event_type == PUSH:
            outcome = await cloud_callbacks.started(NAME, event.stream_id)
        elif event.event_type == INTERRUPTED:
            outcome = await cloud_callbacks.stopped(NAME, event.stream_id)
        else:
            outcome = "not a push event: ignored"
        return answer(0, 200, outcome)
