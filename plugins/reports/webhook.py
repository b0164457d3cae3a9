"""Signed JSON webhook: POSTs a report's figures to a charity platform.

The body is the figures document kept with the report. Headers:
``X-Sharehub-Timestamp`` (unix seconds), ``X-Sharehub-Signature: sha256=<hex>`` — the
HMAC-SHA256 with the shared secret of ``<timestamp>.<body>`` — and ``Idempotency-Key``, the
same on every retry of one report, so a receiver that saw it already can answer 2xx and
ignore it. Any answer but 2xx (or no answer) raises, and the job queue retries.

The URL follows the hub's rule for addresses it fetches on someone's word (``hub.outbound``):
``http(s)`` to a public address, checked on the resolved addresses before each send, unless
the administrator's allow list (``SHAREHUB_PULL_ALLOW``) names the host or its network; a
refused URL fails the publishing for good, naming ``url``. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import msgspec

from hub import outbound
from hub.errors import Invalid
from hub.hookspecs import hookimpl
from hub.reporter_base import ReporterBase
from hub.reporting import ReportData
from hub.settings import Settings


class WebhookSettings(msgspec.Struct, forbid_unknown_fields=True):
    url: str = ""
    """Where to POST; empty = the reporter makes the document but publishing fails."""
    secret: str = ""
    """The shared HMAC secret (at least 16 characters when a URL is set)."""
    timeout: float = 15.0
    monthly: bool = False
    """Publish every month (needs ``url`` and ``secret``)."""

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("https://", "http://")):
            raise ValueError("url must start with https:// or http://")
        if self.url and len(self.secret) < 16:
            raise ValueError("secret must have at least 16 characters when url is set")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookReporter(ReporterBase):
    name = "webhook"
    label = (
        "签名 JSON 推送（把数据发送到公益平台） Signed JSON webhook (figures to a charity platform)"
    )
    media_type = "application/json"
    extension = "json"
    settings_model = WebhookSettings
    publishes = True

    def ready(self, options: WebhookSettings) -> bool:
        return bool(options.url)

    def render(self, data: ReportData, options: WebhookSettings) -> bytes:
        return json.dumps(data.figures_document(), ensure_ascii=False, sort_keys=True).encode()

    async def publish(
        self,
        *,
        figures: dict[str, Any],
        document: bytes,
        options: WebhookSettings,
        key: str,
        settings: Settings,
    ) -> None:
        if not options.url:  # no retry can help: fails for good
            raise Invalid("no webhook URL: set SHAREHUB_PLUGIN__WEBHOOK__URL", field="url")
        await asyncio.to_thread(  # resolves the host: off the event loop
            outbound.check_url,
            options.url,
            allow=settings.pull_allow,
            field="url",
            schemes=("http", "https"),
        )
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Sharehub-Timestamp": timestamp,
            "X-Sharehub-Signature": sign(options.secret, timestamp, document),
            "User-Agent": "sharehub-webhook/1",
        }
        async with httpx.AsyncClient(timeout=options.timeout, follow_redirects=False) as client:
            response = await client.post(options.url, content=document, headers=headers)
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:200]}")


@hookimpl
def register_reporters(register: Callable[[Any], None]) -> None:
    register(WebhookReporter())
