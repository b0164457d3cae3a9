"""The media worker: the core job runner (`hub.job_runner.Runner`) with the media kinds.

`Worker` runs every registered kind (the core's, the media plugin's record, finalize,
transcode and ensure-recordings, and any other plugin's) and carries what the media
handlers need: the work folder, the recorder's timeouts and the ffmpeg binary. Slots,
leases, hand-back and SIGTERM are the core runner's (see `hub.job_runner`).

Record jobs hold a short lease renewed often (`media.handlers.RECORD_LEASE_SECONDS`): a
recording whose worker died is taken back within seconds, and a worker restarted on the
same machine with the same work folder takes its own leases back at once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from hub.job_runner import HandBack, Handler, JobContext, JobKind, PermanentError, Runner
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.storage import Storage

__all__ = ["HandBack", "Handler", "JobContext", "PermanentError", "Worker", "embedded"]


def all_kinds(plugins: PluginHost) -> list[JobKind]:
    """The host's kinds, with the media kinds even when the host did not load the media
    plugin (tests build hosts from a few plugins)."""
    from media.handlers import MEDIA_KINDS

    kinds = dict(plugins.job_kinds)
    for kind in MEDIA_KINDS:
        kinds.setdefault(kind.name, kind)
    return list(kinds.values())


class Worker(Runner):
    """The runner with the media handlers' settings; see the module's description."""

    def __init__(
        self,
        settings: Settings,
        plugins: PluginHost,
        *,
        storage: Storage | None = None,
        owner: str | None = None,
        kinds: list[str] | None = None,
        poll_interval: float = 1.0,
        tick_interval: float | None = None,
        lease_seconds: float | None = None,
        slots: int | None = None,
        cpu_slots: int | None = None,
        stop_grace: float = 30.0,
        record_timeout: float = 10.0,
        retry_wait: float = 3.0,
        relisten_seconds: float | None = None,
        binary: str | None = None,
        job_kinds: list[JobKind] | None = None,
    ) -> None:
        super().__init__(
            settings,
            plugins,
            job_kinds=job_kinds if job_kinds is not None else all_kinds(plugins),
            storage=storage,
            owner=owner,
            kinds=kinds,
            poll_interval=poll_interval,
            tick_interval=tick_interval,
            lease_seconds=lease_seconds,
            slots=slots,
            cpu_slots=cpu_slots,
            stop_grace=stop_grace,
        )
        self.record_timeout = record_timeout
        """Seconds without data after which a recorder's ffmpeg gives up on its source."""
        self.retry_wait = retry_wait
        """Seconds between attempts to pull a live source that is not there yet."""
        self.relisten_seconds = (
            relisten_seconds if relisten_seconds is not None else settings.record_relisten_seconds
        )
        self.binary = binary

    async def ensure_recordings(self, now: datetime) -> list[int]:
        """Record jobs for listener sessions about to start and for live pull sessions."""
        from media.handlers import ensure_recordings

        return await ensure_recordings(self.settings, self.plugins, now)

    def work_dir(self, session_id: int) -> Path:
        return self.work_root / "sessions" / str(session_id)


async def embedded(settings: Settings, plugins: PluginHost) -> None:
    """The worker inside `sharehub serve` (see `media.plugin.serve_tasks`)."""
    worker = Worker(settings, plugins)
    try:
        await worker.run()
    except asyncio.CancelledError:
        await worker.stop()
        raise
