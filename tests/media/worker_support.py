"""An inline streaming provider and session helpers for the worker tests (and their child)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

from hub.hookspecs import hookimpl
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.streaming import (
    Capabilities,
    Ingest,
    NoOptions,
    Playback,
    ProviderBase,
    RecordingSource,
    StreamContext,
)
from hub.tables import Course, LiveSession, Teacher, Visibility

PROVIDER = "test_feed"


class FeedProvider(ProviderBase):
    """Records from `url_for(ctx)`: a listener (SRT, UDP) or a pulled URL."""

    name: ClassVar[str] = PROVIDER
    label: ClassVar[str] = "test feed"
    capabilities: ClassVar[Capabilities] = Capabilities(recordable=True)
    settings_model: ClassVar[type[NoOptions]] = NoOptions
    session_model: ClassVar[type[NoOptions]] = NoOptions

    def __init__(self, urls: dict[int, str], listen: bool) -> None:
        self.urls = urls
        self.listen = listen

    def ingest(self, ctx: StreamContext) -> Ingest:
        return Ingest()

    def playback(self, ctx: StreamContext, expires_at: datetime) -> Playback:
        return Playback()

    def recording_source(self, ctx: StreamContext) -> RecordingSource | None:
        url = self.urls.get(ctx.session_id)
        return RecordingSource(url, listen=self.listen) if url else None


class FeedPlugin:
    def __init__(self, provider: FeedProvider) -> None:
        self.provider = provider

    @hookimpl
    def register_providers(self, register) -> None:  # type: ignore[no-untyped-def]
        register(self.provider)


def feed_host(settings: Settings, urls: dict[int, str], listen: bool) -> PluginHost:
    return PluginHost(
        settings,
        entry_points=False,
        extra=[("test_feed_plugin", FeedPlugin(FeedProvider(urls, listen)))],
    )


async def make_session(
    *,
    starts_in: float = -60,
    lasts: float = 3600,
    visibility: Visibility = Visibility.public,
    status: str = "scheduled",
) -> int:
    teacher = (await Teacher.insert(Teacher(name="录课老师")).run())[0]["id"]
    course = (
        await Course.insert(
            Course(title="录播测试", subject="数学", teacher=teacher, visibility=visibility)
        ).run()
    )[0]["id"]
    starts = datetime.now(UTC) + timedelta(seconds=starts_in)
    return int(
        (
            await LiveSession.insert(
                LiveSession(
                    course=course,
                    teacher=teacher,
                    starts_at=starts,
                    ends_at=starts + timedelta(seconds=lasts),
                    provider=PROVIDER,
                    status=status,
                )
            ).run()
        )[0]["id"]
    )
