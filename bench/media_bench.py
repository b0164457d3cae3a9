"""Shared set-up of the media benchmarks: a temporary hub on SQLite + local storage, an
inline provider whose recording source is a URL the benchmark chooses, test sources."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub import db  # noqa: E402
from hub.hookspecs import hookimpl  # noqa: E402
from hub.plugin_host import PluginHost  # noqa: E402
from hub.settings import Settings  # noqa: E402
from hub.streaming import (  # noqa: E402
    Capabilities,
    Ingest,
    NoOptions,
    Playback,
    ProviderBase,
    RecordingSource,
    StreamContext,
)
from hub.tables import Course, LiveSession, Teacher  # noqa: E402
from media.commands import test_source_cmd  # noqa: E402


class BenchProvider(ProviderBase):
    name: ClassVar[str] = "bench_feed"
    label: ClassVar[str] = "benchmark feed"
    capabilities: ClassVar[Capabilities] = Capabilities(recordable=True)
    settings_model: ClassVar[type[NoOptions]] = NoOptions
    session_model: ClassVar[type[NoOptions]] = NoOptions

    def __init__(self) -> None:
        self.urls: dict[int, str] = {}

    def ingest(self, ctx: StreamContext) -> Ingest:
        return Ingest()

    def playback(self, ctx: StreamContext, expires_at: datetime) -> Playback:
        return Playback()

    def recording_source(self, ctx: StreamContext) -> RecordingSource | None:
        url = self.urls.get(ctx.session_id)
        return RecordingSource(url, listen=True) if url else None


class BenchPlugin:
    def __init__(self, provider: BenchProvider) -> None:
        self.provider = provider

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(self.provider)


async def open_hub() -> tuple[Settings, PluginHost, BenchProvider, Path]:
    data = Path(tempfile.mkdtemp(prefix="sharehub-bench-"))
    settings = Settings(
        data_dir=data,
        database_url=f"sqlite:///{data / 'hub.sqlite'}",
        secret_key="bench-secret-key-0123456789",
    )
    engine = db.engine_for(settings.database_url)
    db.bind(engine)
    await db.open_engine(engine)
    await db.migrate()
    provider = BenchProvider()
    host = PluginHost(settings, entry_points=False, extra=[("bench", BenchPlugin(provider))])
    return settings, host, provider, data


async def close_hub() -> None:
    """Close the database (its connection threads would keep the process alive)."""
    await db.close_engine(db.engine())


async def new_session(minutes: float = 60) -> int:
    teacher = (await Teacher.insert(Teacher(name="bench")).run())[0]["id"]
    course = (await Course.insert(Course(title="bench", subject="数学", teacher=teacher)).run())[0][
        "id"
    ]
    now = datetime.now(UTC)
    row = LiveSession(
        course=course,
        teacher=teacher,
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(minutes=minutes),
        provider=BenchProvider.name,
    )
    return int((await LiveSession.insert(row).run())[0]["id"])


def make_source(path: Path, seconds: float, size: str = "1280x720") -> Path:
    """An encoded class (test pattern + tone, 2 s GOPs) written as fast as x264 allows."""
    subprocess.run(
        test_source_cmd(str(path), seconds, "mpegts", size=size, realtime=False),
        check=True,
        capture_output=True,
    )
    return path
