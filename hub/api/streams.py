"""Going live and watching: plugins, a session's push addresses, playback addresses.

The push secret (stream key, SRT passphrase, signed push URL) is shown only to the
session's teacher and administrators, never in playback answers or to viewers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
import segno
from litestar import Controller, Request, Response, get, post
from litestar.enums import MediaType
from litestar.params import Parameter

from hub import live, schedule
from hub.accounts import Principal
from hub.api.common import PathId, need
from hub.auth import teacher_or_admin
from hub.cache import ResponseCache
from hub.errors import Conflict, Invalid, NotFound
from hub.plugin_host import PluginHost, PluginRecord
from hub.settings import Settings
from hub.streaming import Capabilities, Ingest, Playback, PlaybackUrl, StreamingProvider
from hub.tables import SessionStatus, Visibility

PLAYBACK_TTL = timedelta(hours=2)
"""How long signed playback URLs last; players ask again for a fresh one."""
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
ENDED = {SessionStatus.ended, SessionStatus.archived}


class ProviderOut(msgspec.Struct):
    name: str
    label: str
    capabilities: Capabilities
    ready: bool
    problem: str | None


class PluginOut(msgspec.Struct):
    name: str
    module: str
    version: str | None
    distribution: str | None
    hooks: list[str]
    providers: list[ProviderOut]
    reporters: list[str]
    state: Literal["ok", "failed"]
    error: str | None


class PushOut(msgspec.Struct):
    protocol: str
    url: str
    server: str
    stream_key: str
    qr_svg: str
    """Path of an SVG QR code of ``url``, for phone streaming apps."""


class IngestOut(msgspec.Struct):
    session_id: int
    provider: str
    status: str
    stream_name: str
    endpoints: list[PushOut]
    passphrase: str | None
    expires_at: datetime | None
    note: str


class PlaybackOut(msgspec.Struct):
    session_id: int
    provider: str
    status: str
    urls: list[PlaybackUrl]
    expires_at: datetime | None


def provider_problem(provider: StreamingProvider, options: Any) -> str | None:
    """A provider may say why it cannot serve yet (``problem(options)``, e.g. unconfigured)."""
    return provider.problem(options)


def plugin_out(record: PluginRecord, host: PluginHost, with_errors: bool) -> PluginOut:
    providers = []
    for name in record.providers:
        provider = host.providers[name]
        problem = provider_problem(provider, host.provider_options[name])
        providers.append(
            ProviderOut(name, provider.label, provider.capabilities, problem is None, problem)
        )
    return PluginOut(
        name=record.name,
        module=record.module,
        version=record.version,
        distribution=record.distribution,
        hooks=record.hooks,
        providers=providers,
        reporters=list(record.reporters),
        state=record.state,
        error=(record.error if with_errors else "failed to load") if record.error else None,
    )


def usable_provider(host: PluginHost, name: str, field: str = "provider") -> StreamingProvider:
    provider = host.provider(name, field)
    problem = provider_problem(provider, host.provider_options[name])
    if problem:
        raise Invalid(f"streaming provider {name!r} is {problem}", field=field)
    return provider


def check_provider_choice(
    host: PluginHost, name: str, options: dict[str, Any] | None
) -> dict[str, Any]:
    """Validate a session's provider and its options; the stored form of the options."""
    usable_provider(host, name)
    return msgspec.to_builtins(host.checked_session_options(name, options))


async def teacher_session(session_id: int, principal: Principal | None) -> dict[str, Any]:
    row = await live.session_row(session_id)
    schedule.may_teach(need(principal), row["teacher"])
    return row


async def ingest_out(
    row: dict[str, Any], host: PluginHost, settings: Settings
) -> Response[IngestOut]:
    if row["status"] == SessionStatus.cancelled:
        raise Conflict(f"session {row['id']} is cancelled", field="status")
    provider = usable_provider(host, row["provider"])
    ctx = await live.prepared_context(row, host, settings)
    ingest: Ingest = provider.ingest(ctx)
    base = f"/api/v1/sessions/{row['id']}/ingest/qr.svg?protocol="
    out = IngestOut(
        session_id=row["id"],
        provider=provider.name,
        status=row["status"],
        stream_name=ctx.stream_name,
        endpoints=[
            PushOut(e.protocol, e.url, e.server, e.stream_key, base + e.protocol)
            for e in ingest.endpoints
        ],
        passphrase=ingest.passphrase,
        expires_at=ingest.expires_at,
        note=ingest.note,
    )
    return Response(out, headers=NO_STORE)


class StreamController(Controller):
    tags = ["streaming"]

    @get("/api/v1/plugins")
    async def list_plugins(
        self, plugins: PluginHost, principal: Principal | None
    ) -> list[PluginOut]:
        """Installed plugins: hooks, version, state (errors in full for administrators)."""
        admin = principal is not None and principal.is_admin
        return [plugin_out(record, plugins, admin) for record in plugins.listing()]

    @get("/api/v1/sessions/{session_id:int}/ingest", guards=[teacher_or_admin])
    async def get_ingest(
        self,
        session_id: PathId,
        principal: Principal | None,
        plugins: PluginHost,
        settings: Settings,
    ) -> Response[IngestOut]:
        """Push addresses and key for the session's teacher (OBS: server + key; apps: URL)."""
        row = await teacher_session(session_id, principal)
        return await ingest_out(row, plugins, settings)

    @post(
        "/api/v1/sessions/{session_id:int}/ingest/rotate",
        guards=[teacher_or_admin],
        status_code=200,
    )
    async def rotate_ingest(
        self,
        session_id: PathId,
        principal: Principal | None,
        plugins: PluginHost,
        settings: Settings,
    ) -> Response[IngestOut]:
        """A new stream key / passphrase; push addresses handed out before stop working."""
        row = await teacher_session(session_id, principal)
        if row["status"] in ENDED | {SessionStatus.cancelled}:
            raise Conflict(f"session {session_id} is {row['status']}", field="status")
        # the provider's preparation (e.g. an SRT port) first: when it fails (503 for an
        # exhausted port range) the key is not rotated, the old push address keeps working
        await live.prepared_context(row, plugins, settings)
        row["stream_key"] = await live.rotate_stream_key(session_id)
        return await ingest_out(row, plugins, settings)

    @get(
        "/api/v1/sessions/{session_id:int}/ingest/qr.svg",
        guards=[teacher_or_admin],
        media_type="image/svg+xml",
    )
    async def ingest_qr(
        self,
        session_id: PathId,
        principal: Principal | None,
        plugins: PluginHost,
        settings: Settings,
        protocol: Annotated[str, Parameter(max_length=10, description="rtmp, srt or webrtc")],
    ) -> Response[bytes]:
        """QR code of one push URL, for phone streaming apps."""
        row = await teacher_session(session_id, principal)
        ingest = (await ingest_out(row, plugins, settings)).content
        for endpoint in ingest.endpoints:
            if endpoint.protocol == protocol:
                svg = segno.make(endpoint.url, error="m").svg_inline(scale=4)
                return Response(svg.encode(), media_type="image/svg+xml", headers=NO_STORE)
        offered = ", ".join(e.protocol for e in ingest.endpoints) or "none"
        raise Invalid(f"no {protocol!r} push address (offered: {offered})", field="protocol")

    @get("/api/v1/sessions/{session_id:int}/playback")
    async def get_playback(
        self,
        request: Request[Any, Any, Any],
        session_id: PathId,
        principal: Principal | None,
        plugins: PluginHost,
        settings: Settings,
    ) -> Response[PlaybackOut]:
        """Where to watch: signed, expiring URLs where the provider supports them.

        Anonymous answers are shared for ``public_cache_seconds`` (the class-start rush asks
        for the same one thousands of times); the URLs inside last ``PLAYBACK_TTL``."""
        headers = {"Cache-Control": "private, max-age=30"}

        async def answer() -> PlaybackOut:
            row = await live.session_row(session_id)
            if row["visibility"] != Visibility.public and principal is None:
                raise NotFound(f"session {session_id} not found", field="session_id")
            if row["status"] == SessionStatus.cancelled:
                raise Conflict(f"session {session_id} is cancelled", field="status")
            provider = usable_provider(plugins, row["provider"])
            now = datetime.now(UTC)
            ctx = await live.prepared_context(row, plugins, settings, now)
            playback: Playback = provider.playback(ctx, now + PLAYBACK_TTL)
            return PlaybackOut(
                session_id=session_id,
                provider=provider.name,
                status=row["status"],
                urls=list(playback.urls),
                expires_at=playback.expires_at,
            )

        if principal is not None:
            return Response(await answer(), headers=headers)

        async def encoded() -> bytes:
            return msgspec.json.encode(await answer())

        cache: ResponseCache = request.app.state.read_cache
        body = await cache.shared(f"playback:{session_id}", encoded)
        return Response(body, media_type=MediaType.JSON, headers=headers)  # type: ignore[return-value]
