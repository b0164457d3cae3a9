"""External link: the class happens in a meeting app or on a stream hosted elsewhere.

The teacher gives a meeting URL (Tencent Meeting, DingTalk, Zoom, ...) that viewers open,
and/or a playback URL (HLS over HTTP(S), RTMP(S) or SRT) the hub's player can play.
Recording only happens when a pullable URL is given (``pull_url``, else a playback URL).

The stream addresses come from a teacher, so the worker would fetch whatever they name:
both must be ``http(s)``, ``rtmp(s)`` or ``srt`` URLs to a public address
(``hub.outbound.check_url``, with the admin's ``SHAREHUB_PULL_ALLOW``). They are checked
when saved (a 400 naming ``provider_settings.pull_url`` or ``.playback_url``; a host name
that does not resolve yet may be saved, since the stream may be set up later) and again
on the resolved address when the recorder starts (``RecordingSource.public_only``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, ClassVar

import msgspec

from hub import outbound
from hub.hookspecs import hookimpl
from hub.settings import Settings
from hub.streaming import (
    Capabilities,
    Ingest,
    NoOptions,
    Playback,
    PlaybackUrl,
    ProviderBase,
    RecordingSource,
    StreamContext,
    StreamingProvider,
)

MeetingUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=2000,
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        description="an http(s) link viewers open, e.g. https://meeting.tencent.com/dm/...",
    ),
]
StreamUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=2000,
        pattern=r"^(https?|rtmps?|srt)://[^\s/]+(/\S*)?$",
        description="an HLS (http/https .m3u8), RTMP(S) or SRT URL to a public address",
    ),
]


class ExternalOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    meeting_url: MeetingUrl | None = None
    playback_url: StreamUrl | None = None
    pull_url: StreamUrl | None = None
    """What the recorder pulls, when it differs from the playback URL."""

    def __post_init__(self) -> None:
        if not (self.meeting_url or self.playback_url):
            raise ValueError("give meeting_url or playback_url")


def is_hls(url: str) -> bool:
    return url.startswith(("http://", "https://")) and ".m3u8" in url.split("?", 1)[0]


class ExternalLink(ProviderBase):
    name: ClassVar[str] = "external_link"
    label: ClassVar[str] = "外部链接（腾讯会议、钉钉、Zoom 或直播地址）External link"
    capabilities: ClassVar[Capabilities] = Capabilities(
        push=(), playback=("link", "hls"), recordable=True
    )
    settings_model: ClassVar[type[NoOptions]] = NoOptions
    session_model: ClassVar[type[ExternalOptions]] = ExternalOptions

    def check_session(self, options: ExternalOptions, hub: Settings, field: str) -> None:
        for key in ("pull_url", "playback_url"):
            url = getattr(options, key)
            if url:
                outbound.check_url(
                    url, allow=hub.pull_allow, field=f"{field}.{key}", unresolved_ok=True
                )

    def ingest(self, ctx: StreamContext) -> Ingest:
        options: ExternalOptions = ctx.session_options
        where = options.meeting_url or options.playback_url or ""
        return Ingest(note=f"Start the class in your own app: {where}")

    def playback(self, ctx: StreamContext, expires_at: datetime) -> Playback:
        options: ExternalOptions = ctx.session_options
        urls: list[PlaybackUrl] = []
        if options.playback_url and is_hls(options.playback_url):
            urls.append(PlaybackUrl("hls", options.playback_url))
        if options.meeting_url:
            urls.append(PlaybackUrl("link", options.meeting_url))
        elif options.playback_url and not is_hls(options.playback_url):
            urls.append(PlaybackUrl("link", options.playback_url))
        return Playback(urls=tuple(urls))

    def recording_source(self, ctx: StreamContext) -> RecordingSource | None:
        options: ExternalOptions = ctx.session_options
        url = options.pull_url or options.playback_url
        return RecordingSource(url, probe=True, public_only=True) if url else None


@hookimpl
def register_providers(register: Callable[[StreamingProvider], None]) -> None:
    register(ExternalLink())
