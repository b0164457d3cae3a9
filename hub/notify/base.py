"""What a notification channel (a notifier plugin) is: ``NotifierBase`` and the message it
sends. A plugin registers notifiers through the ``register_notifiers`` hook."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from hub.settings import Settings


class Message(msgspec.Struct, frozen=True):
    """One rendered message, already in the recipient's language and zone. It never holds a
    stream key or secret; ``link`` is a hub page (the go-live page asks for a sign-in)."""

    kind: str
    subject: str
    text: str
    link: str = ""
    language: str = "zh_CN"

    def html(self) -> str:
        """The same message as a small HTML part (escaped)."""
        from html import escape

        paragraphs = "".join(f"<p>{escape(line)}</p>" for line in self.text.splitlines() if line)
        link = f'<p><a href="{escape(self.link)}">{escape(self.link)}</a></p>' if self.link else ""
        return f"<html><body><h3>{escape(self.subject)}</h3>{paragraphs}{link}</body></html>"


class NotifierBase:
    """A channel. Subclass it; set ``name``, ``label``, ``target_fields`` (the keys of a
    user's preferences that hold their address on this channel, the first one required) and
    optionally ``settings_model`` (``SHAREHUB_PLUGIN__<NAME>__<KEY>``, unknown keys refused)."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    settings_model: ClassVar[type[msgspec.Struct] | None] = None
    target_fields: ClassVar[tuple[str, ...]] = ()

    def ready(self, options: Any) -> bool:
        """Whether the hub's settings for this channel are complete (else it is not offered)."""
        return True

    def check_target(self, target: dict[str, str], settings: Settings) -> None:
        """Refuse a user's address for this channel (``Invalid`` naming the field)."""

    async def send(
        self, message: Message, target: dict[str, str], options: Any, settings: Settings
    ) -> None:
        """Deliver the message (raise until the receiver accepted it; the job retries)."""
        raise NotImplementedError
