"""The Litestar application: ``create_app(settings)`` wires routes, auth, errors and the DB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from hub import classroom_bus, db, live, logs, metrics
from hub.api.accounts import AccountController
from hub.api.beacons import BeaconController
from hub.api.bookings import BookingController
from hub.api.calendar import CalendarController, CalendarFeedController
from hub.api.centers import CenterController
from hub.api.classroom import ClassroomController
from hub.api.common import document_errors
from hub.api.enrolment import EnrolmentController
from hub.api.exports import ExportController
from hub.api.impact import ImpactController
from hub.api.jobs import JobController
from hub.api.materials import MaterialController
from hub.api.media_files import LocalMediaController, RecordingController
from hub.api.notifications import NotificationController
from hub.api.packs import PackController
from hub.api.replay_downloads import ReplayDownloadController
from hub.api.reports import ReportController
from hub.api.series import SeriesController, TermController
from hub.api.sessions import SessionController
from hub.api.streams import StreamController
from hub.api.teachers import CourseController, TeacherController
from hub.api.tokens import TokenController
from hub.api.volunteer import VolunteerController
from hub.auth import AuthMiddleware, provide_principal
from hub.cache import InvalidateOnWrite, ResponseCache
from hub.errors import DomainError, domain_error_handler, internal_error_handler
from hub.pages import html_errors, page_handlers, template_config
from hub.plugin_host import PluginHost
from hub.request_guard import guard_request
from hub.security import SecurityHeaders
from hub.settings import Settings, load_settings
from hub.storage import storage_for
from hub.tables import ShareCenter
from hub.views import ViewCounter
from hub.views import running as views_running

VERSION = "0.1.0"


@get("/healthz", tags=["health"], include_in_schema=True)
async def healthz() -> dict[str, str]:
    """Liveness: the process answers (does no I/O)."""
    return {"status": "ok"}


@get("/readyz", tags=["health"])
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """Readiness: the database and the object storage answer (503 naming what does not)."""
    await ShareCenter.select(ShareCenter.id).limit(1).run()
    problem = await metrics.storage_ready(request.app.state["storage"])
    if problem:
        return Response({"status": "unready", "storage": problem}, status_code=503)
    return Response({"status": "ready"})


def create_app(
    settings: Settings | None = None,
    *,
    manage_db: bool = True,
    plugins: PluginHost | None = None,
) -> Litestar:
    """The app; with ``manage_db=False`` the caller binds and migrates the database (tests).

    ``plugins`` defaults to the plugins found through the ``sharehub`` entry points.
    """
    settings = settings or load_settings()
    host = plugins or PluginHost(settings)
    live.configure(settings)

    @asynccontextmanager
    async def serving_tasks() -> AsyncIterator[None]:
        """Plugins' background work (``serve_tasks`` hook), cancelled on shutdown."""
        tasks = [
            asyncio.create_task(factory())
            for factories in host.call_each("serve_tasks", settings=settings, plugins=host)
            for factory in factories or []
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if not manage_db:
            async with serving_tasks():
                yield
            return
        engine = db.engine_for(settings.database_url)
        db.bind(engine)
        await db.open_engine(engine, settings.pg_pool)
        await db.migrate()
        try:
            async with serving_tasks():
                yield
        finally:
            await db.close_engine(engine)

    def provide_settings() -> Settings:
        return settings

    def provide_plugins() -> PluginHost:
        return host

    read_cache = ResponseCache(ttl=settings.public_cache_seconds)
    view_counter = ViewCounter(settings)

    def views_lifespan(_: Litestar) -> Any:
        return views_running(view_counter)

    app = Litestar(
        route_handlers=[
            healthz,
            readyz,
            metrics.metrics_endpoint,
            AccountController,
            TokenController,
            NotificationController,
            CenterController,
            CalendarFeedController,
            EnrolmentController,
            TeacherController,
            CourseController,
            SessionController,
            SeriesController,
            TermController,
            BookingController,
            CalendarController,
            BeaconController,
            ImpactController,
            ExportController,
            ReportController,
            StreamController,
            ClassroomController,
            *host.routes,
            JobController,
            MaterialController,
            PackController,
            VolunteerController,
            RecordingController,
            ReplayDownloadController,
            LocalMediaController,
            *page_handlers(),
        ],
        dependencies={
            "principal": Provide(provide_principal, sync_to_thread=False),
            "settings": Provide(provide_settings, use_cache=True, sync_to_thread=False),
            "plugins": Provide(provide_plugins, use_cache=True, sync_to_thread=False),
        },
        middleware=[
            DefineMiddleware(logs.RequestIdMiddleware),
            DefineMiddleware(metrics.MetricsMiddleware),
            DefineMiddleware(InvalidateOnWrite, cache=read_cache),
            DefineMiddleware(
                AuthMiddleware,
                secret_key=settings.secret_key,
                max_age=settings.session_max_age,
                cache=read_cache,
                remember_seconds=settings.credential_cache_seconds,
            ),
        ],
        exception_handlers={
            DomainError: html_errors(domain_error_handler),
            Exception: html_errors(internal_error_handler),
        },
        template_config=template_config(),
        lifespan=[lifespan, views_lifespan, classroom_bus.running],
        openapi_config=OpenAPIConfig(
            title="Sharehub API",
            version=VERSION,
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024),
        logging_config=None,  # hub.logs sets up logging (Litestar's default would replace it)
        request_max_body_size=settings.max_body_bytes,
        before_send=[SecurityHeaders(settings)],
        before_request=guard_request,
        state=State(
            {
                "settings": settings,
                "read_cache": read_cache,
                "plugins": host,
                "views": view_counter,
                "storage": storage_for(settings),
            }
        ),
        debug=False,
    )
    document_errors(app)
    return app


def app_factory() -> Litestar:
    """For ``uvicorn --factory hub.app:app_factory``."""
    settings = load_settings()
    logs.configure_once(settings.log_format)
    return create_app(settings)


__all__: list[Any] = ["create_app"]
