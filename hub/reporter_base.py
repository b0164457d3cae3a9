"""The optional parts of a charity reporter, with their defaults (``hub.reporting.Reporter``
is the whole shape). A reporter subclasses ``ReporterBase``; the plugin host refuses one that
does not, so the hub asks ``publishes`` and ``needs_detail`` instead of probing attributes."""

from __future__ import annotations

from typing import Any, ClassVar

from hub.errors import Invalid
from hub.settings import Settings


class ReporterBase:
    """The optional reporter parts, with their defaults: a reporter subclasses this (the plugin
    host refuses one that does not) and overrides what it needs."""

    needs_detail: ClassVar[bool] = False
    """Whether ``render`` needs the per-session and per-center detail (``load_detail``)."""
    publishes: ClassVar[bool] = False
    """Whether the reporter sends its document somewhere (``publish``)."""

    def ready(self, options: Any) -> bool:
        """Whether the reporter's settings are complete enough to offer it (a publisher with
        no address to send to is not offered on the pages)."""
        return True

    async def publish(
        self,
        *,
        figures: dict[str, Any],
        document: bytes,
        options: Any,
        key: str,
        settings: Settings,
    ) -> None:
        """Send the document (raise until the receiver accepted); see ``Reporter``."""
        raise Invalid(f"reporter {getattr(self, 'name', '?')} does not publish", field="reporter")
