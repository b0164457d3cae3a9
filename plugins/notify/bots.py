"""Group bots: a WeChat Work (企业微信) group robot and a DingTalk (钉钉) custom robot.

A teacher or a center operator adds a robot to their own group and gives its webhook
address in their notification preferences; the hub then posts each of their messages there.

WeChat Work group robot ("群机器人配置说明",
https://developer.work.weixin.qq.com/document/path/91770): ``POST`` JSON to
``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...``; a markdown message is
``{"msgtype": "markdown", "markdown": {"content": "..."}}`` (content at most 4096 bytes of
UTF-8); the answer is ``{"errcode": 0, "errmsg": "ok"}``, any other ``errcode`` is a failure
(the HTTP status is 200 either way). A robot takes at most 20 messages a minute.

DingTalk custom robot ("自定义机器人发送群消息",
https://open.dingtalk.com/document/orgapp/custom-robot-access, and "自定义机器人安全设置",
https://open.dingtalk.com/document/orgapp/customize-robot-security-settings): ``POST`` JSON to
``https://oapi.dingtalk.com/robot/send?access_token=...``; a markdown message is
``{"msgtype": "markdown", "markdown": {"title": "...", "text": "..."}}``; the answer is
``{"errcode": 0, "errmsg": "ok"}``. In signed mode ("加签") the URL also carries
``timestamp`` (milliseconds since the epoch, within an hour of DingTalk's clock) and
``sign`` = Base64(HMAC-SHA256(key = secret, message = "<timestamp>\\n<secret>")),
URL-encoded. The secret (``SEC...``) is kept with the user's preferences and never shown.

A robot address follows the hub's rule for addresses it fetches on a user's word
(``hub.outbound``): ``http(s)`` to a public address, checked when saved and again on the
resolved addresses before each post, unless the administrator's ``SHAREHUB_PULL_ALLOW``
names the host; redirects are not followed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import httpx
import msgspec

from hub import outbound
from hub.errors import Invalid
from hub.hookspecs import hookimpl
from hub.notify.base import Message, NotifierBase
from hub.settings import Settings

WECOM_LIMIT = 4096
SCHEMES = ("http", "https")


class BotSettings(msgspec.Struct, forbid_unknown_fields=True):
    timeout: float = 10.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= 60:
            raise ValueError("timeout must be between 0 and 60 seconds")


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk's signed-mode ``sign``, URL-encoded."""
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return quote_plus(base64.b64encode(mac.digest()).decode())


def markdown(message: Message) -> str:
    lines = [f"### {message.subject}", *message.text.splitlines()]
    return "\n\n".join(line for line in lines if line)


def _clip(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode(errors="ignore") + "..."


async def _post(url: str, body: dict[str, Any], options: BotSettings, settings: Settings) -> None:
    await asyncio.to_thread(
        outbound.check_url, url, allow=settings.pull_allow, field="url", schemes=SCHEMES
    )
    async with httpx.AsyncClient(timeout=options.timeout, follow_redirects=False) as client:
        response = await client.post(url, json=body)
    if response.status_code != 200:
        raise RuntimeError(f"the robot answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        raise RuntimeError("the robot's answer is not JSON") from None
    if not isinstance(answer, dict) or answer.get("errcode") != 0:
        raise RuntimeError(f"the robot refused the message: {str(answer)[:200]}")


def _check(url: str, field: str, settings: Settings) -> None:
    outbound.check_url(
        url, allow=settings.pull_allow, field=field, schemes=SCHEMES, unresolved_ok=True
    )


class WecomBot(NotifierBase):
    name = "wecom"
    label = "WeChat Work group robot (企业微信群机器人)"
    settings_model = BotSettings
    target_fields = ("wecom_url",)

    def ready(self, options: Any) -> bool:
        return bool(options.enabled)

    def check_target(self, target: dict[str, str], settings: Settings) -> None:
        _check(target.get("wecom_url", ""), "targets.wecom_url", settings)

    async def send(
        self, message: Message, target: dict[str, str], options: Any, settings: Settings
    ) -> None:
        body = {
            "msgtype": "markdown",
            "markdown": {"content": _clip(markdown(message), WECOM_LIMIT)},
        }
        await _post(target["wecom_url"], body, options, settings)


class DingtalkBot(NotifierBase):
    name = "dingtalk"
    label = "DingTalk group robot (钉钉群机器人)"
    settings_model = BotSettings
    target_fields = ("dingtalk_url", "dingtalk_secret")

    def ready(self, options: Any) -> bool:
        return bool(options.enabled)

    def check_target(self, target: dict[str, str], settings: Settings) -> None:
        _check(target.get("dingtalk_url", ""), "targets.dingtalk_url", settings)
        secret = target.get("dingtalk_secret", "")
        if secret and not (secret.startswith("SEC") and len(secret) >= 16):
            raise Invalid(
                "a DingTalk signing secret starts with SEC", field="targets.dingtalk_secret"
            )

    async def send(
        self, message: Message, target: dict[str, str], options: Any, settings: Settings
    ) -> None:
        url = target["dingtalk_url"]
        secret = target.get("dingtalk_secret", "")
        if secret:
            timestamp = str(int(time.time() * 1000))
            joiner = "&" if "?" in url else "?"
            url = f"{url}{joiner}timestamp={timestamp}&sign={dingtalk_sign(secret, timestamp)}"
        body = {
            "msgtype": "markdown",
            "markdown": {"title": message.subject, "text": markdown(message)},
        }
        await _post(url, body, options, settings)


@hookimpl
def register_notifiers(register: Callable[[Any], None]) -> None:
    register(WecomBot())
    register(DingtalkBot())
