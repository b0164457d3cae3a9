"""Tencent Cloud live (云直播 CSS): RTMP, SRT and WebRTC push; HLS and FLV playback.

URLs are signed with txSecret = MD5(key + StreamName + txTime), txTime the expiry as
upper-case hexadecimal Unix time (see ``plugins.signing.tencent`` for the documented
rules and worked examples). The recorder pulls the FLV playback URL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import ClassVar

from hub.hookspecs import hookimpl
from hub.streaming import (
    Capabilities,
    Ingest,
    NoOptions,
    Playback,
    PlaybackUrl,
    PushEndpoint,
    RecordingSource,
    StreamContext,
    StreamingProvider,
)
from plugins import cloud_live
from plugins.cloud_live import CloudSettings
from plugins.signing import tencent


class TencentLive:
    name: ClassVar[str] = "tencent"
    label: ClassVar[str] = "腾讯云直播 Tencent Cloud Live"
    capabilities: ClassVar[Capabilities] = Capabilities(
        push=("rtmp", "srt", "webrtc"), playback=("hls", "flv"), recordable=True
    )
    settings_model: ClassVar[type[CloudSettings]] = CloudSettings
    session_model: ClassVar[type[NoOptions]] = NoOptions

    def problem(self, options: CloudSettings) -> str | None:
        return cloud_live.problem(options, self.name)

    def ingest(self, ctx: StreamContext) -> Ingest:
        options: CloudSettings = ctx.options
        stream = cloud_live.cloud_stream_name(ctx)
        expires = cloud_live.push_expiry(ctx)
        urls = tencent.push_urls(
            options.push_domain,
            options.app_name,
            stream,
            options.push_key or None,
            cloud_live.unix(expires),
        )
        rtmp_server = f"rtmp://{options.push_domain}/{options.app_name}/"
        return Ingest(
            endpoints=(
                PushEndpoint("rtmp", urls["rtmp"], rtmp_server, urls["rtmp"][len(rtmp_server) :]),
                PushEndpoint("srt", urls["srt"], urls["srt"], ""),
                PushEndpoint("webrtc", urls["webrtc"], urls["webrtc"], ""),
            ),
            expires_at=expires,
        )

    def _play(self, ctx: StreamContext, expires_at: datetime) -> dict[str, str]:
        options: CloudSettings = ctx.options
        return tencent.play_urls(
            options.play_domain,
            options.app_name,
            cloud_live.cloud_stream_name(ctx),
            options.play_key or None,
            cloud_live.unix(expires_at),
            options.play_scheme,
            validity_seconds=options.play_validity_seconds,
        )

    def playback(self, ctx: StreamContext, expires_at: datetime) -> Playback:
        urls = self._play(ctx, expires_at)
        return Playback(
            urls=(PlaybackUrl("hls", urls["hls"]), PlaybackUrl("flv", urls["flv"])),
            expires_at=expires_at,
        )

    def recording_source(self, ctx: StreamContext) -> RecordingSource | None:
        expires = max(ctx.now, ctx.ends_at) + timedelta(hours=2)
        return RecordingSource(self._play(ctx, expires)["flv"])


@hookimpl
def register_providers(register: Callable[[StreamingProvider], None]) -> None:
    register(TencentLive())
