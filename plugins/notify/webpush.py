"""Web Push to phones and desktops: the browser's push subscription gets each message.

Messages are encrypted for the subscription with ``aes128gcm`` (RFC 8291, Message Encryption
for Web Push, on RFC 8188's content coding) and sent to the subscription's push service
(RFC 8030, Generic Event Delivery Using HTTP Push) with a VAPID ``Authorization`` header
(RFC 8292) signed with the hub's key; ``pywebpush`` does the encryption and signing. The push
service answers 201; 404 or 410 means the subscription is gone (the user should subscribe
again).

Settings (``SHAREHUB_PLUGIN__WEBPUSH__<KEY>``, unknown keys refused): ``vapid_private_key``
(the P-256 private key, base64url of its 32 bytes, or a PEM), ``vapid_subject`` (``mailto:``
or ``https:`` contact the push services may use), ``ttl`` (seconds a push service keeps an
undelivered message), ``timeout``. A user's subscription (the JSON of the browser's
``PushSubscription``: ``endpoint`` and ``keys.p256dh``/``keys.auth``) is kept in their
preferences as ``webpush``; its endpoint follows the hub's public-address rule
(``hub.outbound``), checked when saved and before each push; redirects are not followed.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import msgspec

from hub import outbound
from hub.errors import Invalid
from hub.hookspecs import hookimpl
from hub.notify.base import Message, NotifierBase
from hub.settings import Settings

SCHEMES = ("https", "http")


class WebPushSettings(msgspec.Struct, forbid_unknown_fields=True):
    vapid_private_key: str = ""
    vapid_subject: str = ""
    ttl: int = 86400
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.vapid_subject and not self.vapid_subject.startswith(("mailto:", "https://")):
            raise ValueError("vapid_subject must be a mailto: or https: address")
        if self.vapid_private_key:
            from py_vapid import Vapid02

            try:
                Vapid02.from_string(self.vapid_private_key)
            except Exception:
                raise ValueError("vapid_private_key is not a P-256 private key") from None
        if not 0 <= self.ttl <= 28 * 86400:
            raise ValueError("ttl must be between 0 and 2419200 seconds")
        if not 0 < self.timeout <= 60:
            raise ValueError("timeout must be between 0 and 60 seconds")


class Subscription(msgspec.Struct):
    endpoint: str
    keys: dict[str, str]


def subscription_of(text: str) -> Subscription:
    """The browser's ``PushSubscription`` JSON; ``Invalid`` naming ``targets.webpush``."""
    field = "targets.webpush"
    try:
        sub = msgspec.json.decode(text, type=Subscription)
    except msgspec.DecodeError as exc:
        raise Invalid(f"not a push subscription: {exc}", field=field) from None
    for key, size in (("p256dh", 65), ("auth", 16)):
        value = sub.keys.get(key, "")
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except ValueError:
            raw = b""
        if len(raw) != size:
            raise Invalid(f"keys.{key} must be {size} bytes, base64url", field=field)
    return sub


def payload(message: Message) -> str:
    return json.dumps(
        {"title": message.subject, "body": message.text, "url": message.link},
        ensure_ascii=False,
    )


def _push(sub: Subscription, data: str, options: WebPushSettings) -> int:
    import requests
    from pywebpush import webpush

    session = requests.Session()
    session.max_redirects = 0
    response = webpush(
        {"endpoint": sub.endpoint, "keys": sub.keys},
        data,
        vapid_private_key=options.vapid_private_key,
        vapid_claims={"sub": options.vapid_subject},
        ttl=options.ttl,
        timeout=options.timeout,
        requests_session=session,
    )
    return int(response.status_code)  # type: ignore[union-attr]


class WebPush(NotifierBase):
    name = "webpush"
    label = "Web Push (phones and desktops)"
    settings_model = WebPushSettings
    target_fields = ("webpush",)

    def ready(self, options: Any) -> bool:
        return bool(options.vapid_private_key and options.vapid_subject)

    def check_target(self, target: dict[str, str], settings: Settings) -> None:
        sub = subscription_of(target.get("webpush", ""))
        outbound.check_url(
            sub.endpoint,
            allow=settings.pull_allow,
            field="targets.webpush",
            schemes=SCHEMES,
            unresolved_ok=True,
        )

    async def send(
        self, message: Message, target: dict[str, str], options: Any, settings: Settings
    ) -> None:
        sub = subscription_of(target["webpush"])
        await asyncio.to_thread(
            outbound.check_url,
            sub.endpoint,
            allow=settings.pull_allow,
            field="url",
            schemes=SCHEMES,
        )
        status = await asyncio.to_thread(_push, sub, payload(message), options)
        if status in (404, 410):
            raise RuntimeError(f"the push subscription is gone ({status}): subscribe again")
        if not 200 <= status < 300:
            raise RuntimeError(f"the push service answered HTTP {status}")


@hookimpl
def register_notifiers(register: Callable[[Any], None]) -> None:
    register(WebPush())
