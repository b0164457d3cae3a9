"""Self-hosted streaming, no cloud account: SRT or RTMP push, HLS served by the hub.

SRT: the worker's recorder is an ffmpeg SRT listener on the session's own UDP port with
the session's stream key as passphrase (a wrong passphrase is refused in the handshake).
RTMP: the teacher pushes to nginx with the RTMP module; nginx asks the hub
(``on_publish``, see ``plugins.self_hosted.callbacks``) whether the key is right, and the
recorder pulls the accepted stream from nginx on loopback. Either way the recorder cuts
HLS segments into storage and the hub serves the live playlist; viewers never see a key.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote, urlparse

import msgspec

from hub.hookspecs import hookimpl
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.streaming import (
    Capabilities,
    Ingest,
    Playback,
    PlaybackUrl,
    ProviderBase,
    PushEndpoint,
    RecordingSource,
    StreamContext,
    StreamingProvider,
)
from plugins.self_hosted import ports

NAME = ports.NAME
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Host = Annotated[str, msgspec.Meta(pattern=r"^$|^[A-Za-z0-9.:\[\]-]{1,253}$")]
RtmpUrl = Annotated[str, msgspec.Meta(pattern=r"^$|^rtmps?://[^\s/?#]+(/[A-Za-z0-9_-]+)?/?$")]
HttpUrl = Annotated[str, msgspec.Meta(pattern=r"^$|^https?://[^\s/?#]+(/\S*)?$")]
AppName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
SWEEP_SECONDS = 60.0
log = logging.getLogger("sharehub.self_hosted")


class SelfHostedSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``SHAREHUB_PLUGIN__SELF_HOSTED__<KEY>``; every key has a working default."""

    public_host: Host = ""
    """Host name teachers' encoders push to (default: the host of SHAREHUB_PUBLIC_URL)."""
    srt_port_min: Port = 10000
    srt_port_max: Port = 10999
    """UDP ports of the SRT listeners, one per session pushed at the same time."""
    srt_listen_host: Host = "0.0.0.0"
    """Address the recorder's SRT listener binds."""
    srt_latency_ms: Annotated[int, msgspec.Meta(ge=20, le=8000)] = 500
    """SRT latency: higher rides out lossy rural uplinks, at the cost of delay."""
    rtmp_port: Port = 1935
    rtmp_app: AppName = "live"
    rtmp_public_url: RtmpUrl = ""
    """RTMP server for OBS (default ``rtmp://<public_host>:<rtmp_port>/<rtmp_app>``)."""
    rtmp_pull_url: RtmpUrl = ""
    """Where the recorder pulls accepted RTMP pushes (default nginx on loopback)."""
    callback_url: HttpUrl = ""
    """Base URL nginx calls for on_publish (default SHAREHUB_PUBLIC_URL)."""
    nginx_module: str = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
    """Debian's libnginx-mod-rtmp."""
    rtmp_play_allow: str = "127.0.0.1"
    """Addresses allowed to pull RTMP from nginx (space separated); the rest are denied."""

    def __post_init__(self) -> None:
        if self.srt_port_min > self.srt_port_max:
            raise ValueError("srt_port_min must not be above srt_port_max")


class SelfHostedSession(
    msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True
):
    """A session's options: which protocol the teacher pushes with."""

    ingest: Literal["srt", "rtmp"] = "srt"
    srt_port: Port | None = None
    """Set by the hub when it assigns the session's SRT port; leave it out."""
    rtmp_publishers: tuple[Annotated[str, msgspec.Meta(max_length=40)], ...] = ()
    """nginx client ids of the accepted RTMP publishes (``publishers``); leave it out."""


def public_host(ctx_hub: Settings, options: SelfHostedSettings) -> str:
    return options.public_host or urlparse(ctx_hub.public_url).hostname or "127.0.0.1"


def rtmp_server(hub: Settings, options: SelfHostedSettings) -> str:
    if options.rtmp_public_url:
        return options.rtmp_public_url.rstrip("/")
    return f"rtmp://{public_host(hub, options)}:{options.rtmp_port}/{options.rtmp_app}"


def rtmp_pull_base(options: SelfHostedSettings) -> str:
    if options.rtmp_pull_url:
        return options.rtmp_pull_url.rstrip("/")
    return f"rtmp://127.0.0.1:{options.rtmp_port}/{options.rtmp_app}"


def srt_port(ctx: StreamContext) -> int:
    """The stored port, else the preferred one (the sweep stores it before class)."""
    options: SelfHostedSettings = ctx.options
    session: SelfHostedSession = ctx.session_options
    low, high = options.srt_port_min, options.srt_port_max
    if ports.in_range(session.srt_port, low, high):
        assert session.srt_port is not None
        return session.srt_port
    return ports.preferred_port(ctx.session_id, low, high)


def srt_query(ctx: StreamContext, **extra: str | int) -> str:
    options: SelfHostedSettings = ctx.options
    fields: dict[str, str | int] = {
        **extra,
        "passphrase": ctx.stream_key,
        "pbkeylen": 16,
        # ffmpeg's srt protocol takes latency in microseconds
        "latency": options.srt_latency_ms * 1000,
    }
    return "&".join(f"{k}={quote(str(v), safe='')}" for k, v in fields.items())


class SelfHosted(ProviderBase):
    name: ClassVar[str] = NAME
    label: ClassVar[str] = "自建服务器 (SRT / RTMP) Self-hosted"
    default_choice: ClassVar[bool] = True
    capabilities: ClassVar[Capabilities] = Capabilities(
        push=("srt", "rtmp"), playback=("hls",), recordable=True
    )
    settings_model: ClassVar[type[SelfHostedSettings]] = SelfHostedSettings
    session_model: ClassVar[type[SelfHostedSession]] = SelfHostedSession

    def ingest(self, ctx: StreamContext) -> Ingest:
        options: SelfHostedSettings = ctx.options
        session: SelfHostedSession = ctx.session_options
        if session.ingest == "rtmp":
            server = rtmp_server(ctx.hub, options)
            key = f"{ctx.stream_name}?key={ctx.stream_key}"
            return Ingest(
                endpoints=(PushEndpoint("rtmp", f"{server}/{key}", server, key),),
                note="OBS: Server and Stream Key as shown. Phone apps: the whole URL.",
            )
        host = public_host(ctx.hub, options)
        url = f"srt://{host}:{srt_port(ctx)}?{srt_query(ctx, streamid=ctx.stream_name)}"
        return Ingest(
            endpoints=(PushEndpoint("srt", url, url, ""),),
            passphrase=ctx.stream_key,
            note=(
                "OBS: put the whole SRT URL in Server and leave Stream Key empty. "
                "Apps with a separate passphrase field: the passphrase shown, key length 16."
            ),
        )

    def playback(self, ctx: StreamContext, expires_at: datetime) -> Playback:
        base = ctx.hub.public_url.rstrip("/")
        url = f"{base}/api/v1/sessions/{ctx.session_id}/hls/index.m3u8"
        return Playback(urls=(PlaybackUrl("hls", url),))

    def recording_source(self, ctx: StreamContext) -> RecordingSource:
        options: SelfHostedSettings = ctx.options
        session: SelfHostedSession = ctx.session_options
        if session.ingest == "rtmp":
            return RecordingSource(f"{rtmp_pull_base(options)}/{ctx.stream_name}", listen=False)
        url = f"srt://{options.srt_listen_host}:{srt_port(ctx)}?{srt_query(ctx, mode='listener')}"
        return RecordingSource(url, listen=True)

    async def prepare(self, ctx: StreamContext) -> None:
        """Store this session's SRT port before its push address is shown (needs the DB)."""
        session: SelfHostedSession = ctx.session_options
        if session.ingest == "srt":
            options: SelfHostedSettings = ctx.options
            await ports.assign_srt_port(ctx.session_id, options.srt_port_min, options.srt_port_max)


def settings_of(settings: Settings) -> SelfHostedSettings:
    """This provider's settings from the hub's (for commands run outside the plugin host)."""
    return msgspec.convert(settings.plugin_options.get(NAME, {}), SelfHostedSettings, strict=False)


@hookimpl
def register_providers(register: Callable[[StreamingProvider], None]) -> None:
    register(SelfHosted())


@hookimpl
def register_routes(register: Callable[[Any], None]) -> None:
    from plugins.self_hosted.callbacks import IngestCallbackController

    register(IngestCallbackController)


def cmd_ingest_config(settings: Settings, args: argparse.Namespace) -> int:
    from plugins.self_hosted.nginx import NginxPaths, render

    host = getattr(args, "plugin_host", None)
    options = host.provider_options[NAME] if host and NAME in host.providers else None
    if not isinstance(options, SelfHostedSettings):
        options = settings_of(settings)  # raises naming the key when a setting is wrong
    paths = NginxPaths.under(Path(args.prefix)) if args.prefix else NginxPaths()
    print(render(settings, options, paths, daemon=not args.foreground), end="")
    return 0


@hookimpl
def register_commands(subcommands: argparse._SubParsersAction[Any]) -> None:
    parser = subcommands.add_parser(
        "ingest-config",
        help="print the nginx config of the self-hosted RTMP ingest",
        description=(
            "Print an nginx.conf for nginx with Debian's RTMP module (apt-get install "
            "nginx-core libnginx-mod-rtmp). It calls this hub on each publish to check the "
            "stream key. Run it with: nginx -c /path/to/sharehub-rtmp.conf"
        ),
    )
    parser.add_argument(
        "--prefix", default="", help="a folder for nginx's pid, logs and temp files"
    )
    parser.add_argument(
        "--foreground", action="store_true", help="daemon off (for systemd or a supervisor)"
    )
    parser.set_defaults(run=cmd_ingest_config)


async def sweep_forever(settings: Settings, plugins: PluginHost) -> None:
    """Fix the SRT ports of coming sessions, now and every minute."""
    options = plugins.provider_options[NAME]
    assert isinstance(options, SelfHostedSettings)
    while True:
        try:
            await ports.sweep_ports(options.srt_port_min, options.srt_port_max)
        except Exception:  # the next sweep retries; a sweep never takes the server down
            log.exception("SRT port sweep failed")
        await asyncio.sleep(SWEEP_SECONDS)


@hookimpl
def serve_tasks(settings: Settings, plugins: PluginHost) -> list[Callable[[], Awaitable[None]]]:
    if NAME not in plugins.providers:
        return []
    return [lambda: sweep_forever(settings, plugins)]
