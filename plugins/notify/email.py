"""E-mail over SMTP: each message as a plain-text and an HTML part (``multipart/alternative``).

The connection is always encrypted: ``security = starttls`` (RFC 3207, usually port 587) or
``tls`` (implicit TLS, RFC 8314, usually port 465); the server's certificate is verified
against the system's authorities, or ``ca_file`` for a private relay. There is no plain mode.

Settings (``SHAREHUB_PLUGIN__EMAIL__<KEY>``, unknown keys refused): ``host``, ``port``,
``security``, ``username``/``password`` (both or neither), ``sender`` (the From address),
``ca_file``, ``timeout``. A user gives their address in their preferences (``email``).
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Literal

import msgspec

from hub.errors import Invalid
from hub.hookspecs import hookimpl
from hub.notify.base import Message, NotifierBase
from hub.settings import Settings

ADDRESS = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


class EmailSettings(msgspec.Struct, forbid_unknown_fields=True):
    host: str = ""
    port: int = 587
    security: Literal["starttls", "tls"] = "starttls"
    username: str = ""
    password: str = ""
    sender: str = ""
    ca_file: str = ""
    timeout: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError("port must be 1-65535")
        if bool(self.username) != bool(self.password):
            raise ValueError("give username and password together, or neither")
        if self.sender and not ADDRESS.match(self.sender):
            raise ValueError("sender must be an e-mail address")
        if self.ca_file and not Path(self.ca_file).is_file():
            raise ValueError(f"ca_file {self.ca_file} is not a file")
        if not 0 < self.timeout <= 300:
            raise ValueError("timeout must be between 0 and 300 seconds")


def build(message: Message, sender: str, to: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = to
    mail["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    mail.set_content(message.text + ("\n" + message.link if message.link else "") + "\n")
    mail.add_alternative(message.html(), subtype="html")
    return mail


def _send(mail: EmailMessage, options: EmailSettings) -> None:
    context = ssl.create_default_context(cafile=options.ca_file or None)
    if options.security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            options.host, options.port, timeout=options.timeout, context=context
        )
    else:
        client = smtplib.SMTP(options.host, options.port, timeout=options.timeout)
    with client:
        if options.security == "starttls":
            client.starttls(context=context)  # raises when the server offers no STARTTLS
        if options.username:
            client.login(options.username, options.password)
        client.send_message(mail)


class EmailNotifier(NotifierBase):
    name = "email"
    label = "E-mail (SMTP)"
    settings_model = EmailSettings
    target_fields = ("email",)

    def ready(self, options: Any) -> bool:
        return bool(options.host and options.sender)

    def check_target(self, target: dict[str, str], settings: Settings) -> None:
        if not ADDRESS.match(target.get("email", "")):
            raise Invalid("not an e-mail address", field="targets.email")

    async def send(
        self, message: Message, target: dict[str, str], options: Any, settings: Settings
    ) -> None:
        mail = build(message, options.sender, target["email"])
        await asyncio.to_thread(_send, mail, options)


@hookimpl
def register_notifiers(register: Callable[[Any], None]) -> None:
    register(EmailNotifier())
