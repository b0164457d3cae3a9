"""Alibaba Cloud live (阿里云视频直播): RTMP push; HLS, FLV and RTMP playback.

URLs carry auth_key type A: ``{timestamp}-{rand}-{uid}-{md5hash}`` with
md5hash = MD5("{uri}-{timestamp}-{rand}-{uid}-{key}") (see ``plugins.signing.aliyun`` for
the documented rules and worked examples). The recorder pulls the RTMP playback URL.
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
from plugins.signing import aliyun


class AliyunLive(CloudProvider):
    name: ClassVar[str] = "aliyun"
    label: ClassVar[str] = "阿里云视频直播 Alibaba Cloud Live"
    recording_protocol: ClassVar[str] = "rtmp"
    sign_play = staticmethod(aliyun.play_urls)
    capabilities: ClassVar[Capabilities] = Capabilities(
        push=("rtmp",), playback=("hls", "flv"), recordable=True
    )

    def ingest(self, ctx: StreamContext) -> Ingest:
        options: CloudSettings = ctx.options
        expires = cloud_live.push_expiry(ctx)
        url = aliyun.push_url(
            options.push_domain,
            options.app_name,
            cloud_live.cloud_stream_name(ctx),
            options.push_key or None,
            cloud_live.unix(expires),
        )
        server = f"rtmp://{options.push_domain}/{options.app_name}/"
        return Ingest(
            endpoints=(PushEndpoint("rtmp", url, server, url[len(server) :]),), expires_at=expires
        )


@hookimpl
def register_providers(register: Callable[[StreamingProvider], None]) -> None:
    register(AliyunLive())


@hookimpl
def register_routes(register: Callable[[Any], None]) -> None:
    from plugins.aliyun_callbacks import AliyunCallbackController

    register(AliyunCallbackController)
