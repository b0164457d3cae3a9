"""Alibaba Cloud live (阿里云视频直播): RTMP push; HLS, FLV and RTMP playback.

URLs carry auth_key type A: ``{timestamp}-{rand}-{uid}-{md5hash}`` with
md5hash = MD5("{uri}-{timestamp}-{rand}-{uid}-{key}") (see ``plugins.signing.aliyun`` for
the documented rules and worked examples). The recorder pulls the RTMP playback URL.
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
from plugins.signing import aliyun


class AliyunLive:
    name: ClassVar[str] = "aliyun"
    label: ClassVar[str] = "阿里云视频直播 Alibaba Cloud Live"
    capabilities: ClassVar[Capabilities] = Capabilities(
        push=("rtmp",), playback=("hls", "flv"), recordable=True
    )
    settings_model: ClassVar[type[CloudSettings]] = CloudSettings
    session_model: ClassVar[type[NoOptions]] = NoOptions

    def problem(self, options: CloudSettings) -> str | None:
        return cloud_live.problem(options, self.name)

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

    def _play(self, ctx: StreamContext, expires_at: datetime) -> dict[str, str]:
        options: CloudSettings = ctx.options
        return aliyun.play_urls(
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
        return RecordingSource(self._play(ctx, expires)["rtmp"])


@hookimpl
def register_providers(register: Callable[[StreamingProvider], None]) -> None:
    register(AliyunLive())
