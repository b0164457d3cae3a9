"""Tencent Cloud live (云直播 CSS): RTMP, SRT and WebRTC push; HLS and FLV playback.

URLs are signed with txSecret = MD5(key + StreamName + txTime), txTime the expiry as
upper-case hexadecimal Unix time (see ``plugins.signing.tencent`` for the documented
rules and worked examples). The recorder pulls the FLV playback URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from hub.hookspecs import hookimpl
from hub.streaming import (
    Capabilities,
    Ingest,
    PushEndpoint,
    StreamContext,
    StreamingProvider,
)
from plugins import cloud_live
from plugins.cloud_live import CloudProvider, CloudSettings
from plugins.signing import tencent


class TencentLive(CloudProvider):
    name: ClassVar[str] = "tencent"
    label: ClassVar[str] = "腾讯云直播 Tencent Cloud Live"
    recording_protocol: ClassVar[str] = "flv"
    sign_play = staticmethod(tencent.play_urls)
    capabilities: ClassVar[Capabilities] = Capabilities(
        push=("rtmp", "srt", "webrtc"), playback=("hls", "flv"), recordable=True
    )

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


@hookimpl
def register_providers(register: Callable[[StreamingProvider], None]) -> None:
    register(TencentLive())


@hookimpl
def register_routes(register: Callable[[Any], None]) -> None:
    from plugins.tencent_callbacks import TencentCallbackController

    register(TencentCallbackController)
