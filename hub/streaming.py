"""What a streaming provider plugin gives the hub, and what the hub gives it.

A provider turns a live session into push addresses for the teacher (``ingest``), playback
addresses for viewers (``playback``) and, when it can, a source the recorder pulls or
listens on (``recording_source``). Providers are registered through the
``register_providers`` hook (see ``hub.hookspecs``) and looked up by name in the plugin
host; the hub calls them with a ``StreamContext`` and never imports one by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import msgspec

from hub.settings import Settings

PushProtocol = Literal["rtmp", "srt", "webrtc"]
PlaybackProtocol = Literal["hls", "flv", "webrtc", "link"]


class Capabilities(msgspec.Struct, frozen=True):
    """What a provider can do, shown in ``GET /api/v1/plugins``."""

    push: tuple[PushProtocol, ...] = ()
    playback: tuple[PlaybackProtocol, ...] = ()
    recordable: bool = False
    """The recorder can pull (or listen for) the stream, at least with some options."""


class NoOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Options model for a provider that takes none."""


@dataclass(frozen=True)
class StreamContext:
    """One session as a provider sees it. ``stream_key`` is secret: never show it to viewers."""

    session_id: int
    stream_name: str
    stream_key: str
    starts_at: datetime
    ends_at: datetime
    now: datetime
    hub: Settings
    options: Any
    """The provider's settings, an instance of its ``settings_model``."""
    session_options: Any
    """This session's options, an instance of its ``session_model``."""


class PushEndpoint(msgspec.Struct, frozen=True):
    """Where the teacher's encoder sends the stream.

    OBS asks for ``server`` and ``stream_key`` separately; phone apps take ``url`` whole
    (it is what the QR code holds).
    """

    protocol: PushProtocol
    url: str
    server: str
    stream_key: str


class Ingest(msgspec.Struct, frozen=True):
    endpoints: tuple[PushEndpoint, ...] = ()
    passphrase: str | None = None
    expires_at: datetime | None = None
    note: str = ""


class PlaybackUrl(msgspec.Struct, frozen=True):
    protocol: PlaybackProtocol
    url: str


class Playback(msgspec.Struct, frozen=True):
    urls: tuple[PlaybackUrl, ...] = ()
    expires_at: datetime | None = None


class RecordingSource(msgspec.Struct, frozen=True):
    """What the recorder opens with ffmpeg.

    With ``listen`` the recorder's ffmpeg is the server the teacher pushes to (an SRT
    listener with a passphrase); otherwise it pulls ``url`` once the session is live.
    """

    url: str
    listen: bool = False
    probe: bool = False
    """No callback says when the stream starts or stops: the recorder probes the address
    from the slot's start (bounded back-off); its data turns the session live, a lasting
    end of data ends it."""
    public_only: bool = False
    """The address came from a user (not the provider's configuration): the recorder
    checks again, on the resolved address, that it is public (``hub.outbound``)."""


class ProviderBase:
    """The optional provider methods, with no-op defaults: a provider subclasses this and
    overrides what it needs (the hub calls these on any provider that does)."""

    default_choice: ClassVar[bool] = False
    """The provider a new class uses when none is named (``SHAREHUB_DEFAULT_PROVIDER`` empty):
    the first registered provider that says so, else the first registered."""

    async def prepare(self, ctx: StreamContext) -> None:
        """Awaited before ``ingest``, ``playback`` and ``recording_source`` (to store
        per-session state such as a port)."""

    def problem(self, options: Any) -> str | None:
        """Why the provider cannot be used yet with these settings (e.g. unconfigured)."""
        return None

    def check_session(self, options: Any, hub: Settings, field: str) -> None:
        """Refuse session options that must not be saved (raise ``hub.errors.Invalid``
        naming ``{field}.<key>``): e.g. a stream address that is not public."""


@runtime_checkable
class StreamingProvider(Protocol):
    name: ClassVar[str]
    label: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    settings_model: ClassVar[type[msgspec.Struct]]
    session_model: ClassVar[type[msgspec.Struct]]

    default_choice: ClassVar[bool]

    # Optional, with no-op defaults on ``ProviderBase`` (which every provider subclasses: the
    # plugin host refuses one that does not): ``prepare``, ``problem``, ``check_session``.
    async def prepare(self, ctx: StreamContext) -> None: ...

    def problem(self, options: Any) -> str | None: ...

    def check_session(self, options: Any, hub: Settings, field: str) -> None: ...

    def ingest(self, ctx: StreamContext) -> Ingest:
        """Push addresses for the teacher (secret: only the teacher and admins see them)."""
        ...

    def playback(self, ctx: StreamContext, expires_at: datetime) -> Playback:
        """Playback addresses for viewers, signed until ``expires_at`` where supported."""
        ...

    def recording_source(self, ctx: StreamContext) -> RecordingSource | None:
        """What the recorder should open, or None when this session cannot be recorded."""
        ...
