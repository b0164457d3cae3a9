"""What the Tencent and Alibaba live providers share: settings, stream names, expiries.

Both clouds take an RTMP (or SRT) push on a push domain and serve HLS/FLV on a play
domain, each URL signed with a key set in the cloud console. The teacher's push URL is
valid from now until a while after the class (so a reconnect works); viewers get URLs
that expire soon and ask the hub again. The cloud-side stream name carries a digest of
the session's stream key, so rotating the key retires every push URL handed out before.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Annotated, ClassVar

import msgspec

from hub.streaming import (
    NoOptions,
    Playback,
    PlaybackUrl,
    ProviderBase,
    RecordingSource,
    StreamContext,
)

Domain = Annotated[
    str,
    msgspec.Meta(
        max_length=253,
        pattern=r"^$|^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
        description="a bare host name, e.g. push.example.com",
    ),
]
PlayDomain = Annotated[
    str,
    msgspec.Meta(
        max_length=260,
        pattern=r"^$|^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?::[0-9]{1,5})?$",
        description="a host name, with a port when not the scheme's, e.g. play.example.com",
    ),
]
AppName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
PUSH_GRACE = timedelta(hours=2)
"""A push URL stays valid this long after the scheduled end (reconnects, overruns)."""


class CloudSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``SHAREHUB_PLUGIN__<NAME>__<KEY>``: the domains and keys from the cloud console."""

    push_domain: Domain = ""
    play_domain: PlayDomain = ""
    app_name: AppName = "live"
    push_key: str = ""
    """Push authentication key; empty when the domain has push authentication off."""
    play_key: str = ""
    """Playback authentication key; empty when playback authentication is off."""
    play_scheme: Annotated[str, msgspec.Meta(pattern=r"^https?$")] = "https"
    play_validity_seconds: Annotated[int, msgspec.Meta(ge=0, le=7 * 86400)] = 0
    """The play domain's configured signature validity, so URLs end when asked."""
    callback_key: str = ""
    """The key of the push/interrupt callbacks (Tencent's 回调密钥, Alibaba's callback
    authentication key); without it the hub refuses every callback."""


def problem(options: CloudSettings, name: str) -> str | None:
    """Why the provider cannot be used yet (missing domains), or None."""
    missing = [key for key in ("push_domain", "play_domain") if not getattr(options, key)]
    if missing:
        variables = ", ".join(f"SHAREHUB_PLUGIN__{name.upper()}__{k.upper()}" for k in missing)
        return f"not configured: set {variables}"
    return None


def cloud_stream_name(ctx: StreamContext) -> str:
    """``sh{id}-{8 hex}``: letters, digits and '-' only (safe to sign unquoted)."""
    digest = hashlib.sha256(ctx.stream_key.encode()).hexdigest()[:8]
    return f"{ctx.stream_name}-{digest}"


def push_expiry(ctx: StreamContext) -> datetime:
    """Valid until the later of 24 h from now and two hours after the scheduled end."""
    return max(ctx.now + timedelta(hours=24), ctx.ends_at + PUSH_GRACE)


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


class CloudProvider(ProviderBase):
    """Playback, recording source and readiness, the same for both clouds; a subclass
    sets its name, label, capabilities, play signer and writes ``ingest``."""

    name: ClassVar[str]
    settings_model: ClassVar[type[CloudSettings]] = CloudSettings
    session_model: ClassVar[type[NoOptions]] = NoOptions
    recording_protocol: ClassVar[str]
    """Which playback URL the recorder pulls (``flv`` or ``rtmp``)."""

    @staticmethod
    def sign_play(*args: object, **kwargs: object) -> dict[str, str]:
        """``play_urls(domain, app, stream, key, expiry_unix, scheme, *, validity_seconds)``
        of the cloud's signing module."""
        raise NotImplementedError

    def problem(self, options: CloudSettings) -> str | None:
        return problem(options, self.name)

    def play_urls(self, ctx: StreamContext, expires_at: datetime) -> dict[str, str]:
        """Signed playback URLs; a play domain given with a port (a private CDN or a stand-in
        origin) is signed without it (the signatures cover the path) and served with it."""
        options: CloudSettings = ctx.options
        host, _, port = options.play_domain.partition(":")
        urls = self.sign_play(
            host,
            options.app_name,
            cloud_stream_name(ctx),
            options.play_key or None,
            unix(expires_at),
            options.play_scheme,
            validity_seconds=options.play_validity_seconds,
        )
        if port:
            urls = {k: v.replace(f"://{host}/", f"://{host}:{port}/", 1) for k, v in urls.items()}
        return urls

    def playback(self, ctx: StreamContext, expires_at: datetime) -> Playback:
        urls = self.play_urls(ctx, expires_at)
        return Playback(
            urls=(PlaybackUrl("hls", urls["hls"]), PlaybackUrl("flv", urls["flv"])),
            expires_at=expires_at,
        )

    def recording_source(self, ctx: StreamContext) -> RecordingSource | None:
        expires = max(ctx.now, ctx.ends_at) + PUSH_GRACE
        options: CloudSettings = ctx.options
        # without the stream callbacks (no callback key) the recorder probes the play URL
        return RecordingSource(
            self.play_urls(ctx, expires)[self.recording_protocol], probe=not options.callback_key
        )
