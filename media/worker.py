"""The media worker: claims jobs from the job table and runs them, several at once.

One `Worker` per process. It claims due jobs (see `hub.jobs`) while it has free slots,
runs each with the handler for its kind (`media.handlers.HANDLERS`), renews each job's
lease while it runs, and on the way out marks the job succeeded, failed (retried with
back-off) or handed back. Every few seconds it also ticks: live sessions past their end
are ended, recordings are ensured for sessions about to start or live, finished replays
archive their sessions, and due reports are queued.

On SQLite only one worker may claim at a time: the worker holds an exclusive lock on
`<data>/worker.lock` (the embedded worker inside `sharehub serve` and a `sharehub
worker` process share it). On PostgreSQL any number of workers on any number of machines
claim with `FOR UPDATE SKIP LOCKED`.

Stopping (`stop()`, SIGTERM for `sharehub worker`): no new claims; a recording stops its
ffmpeg gracefully, ships what it has and hands its job back so another worker resumes it;
other jobs get `stop_grace` seconds to finish and are then cancelled and handed back
(their steps are idempotent, so the next attempt resumes).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from hub import db, exports, jobs, live, recordings, reporting
from hub.errors import DomainError
from hub.jobs import JobOut
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.storage import Storage, storage_for
from hub.tables import JobState, LiveSession, SessionStatus

log = logging.getLogger("sharehub.worker")

CPU_KINDS = frozenset({jobs.TRANSCODE, jobs.PUBLISH_REPORT, exports.EXPORT_JOB})
"""Kinds that encode video or build files: limited to `worker_cpu_slots` at once. An export
also holds a database connection while it streams rows, so running many at once could
take every connection of the pool (the worker then stalls and its leases expire)."""


class PermanentError(RuntimeError):
    """A job that can never succeed (bad payload, nothing recorded): failed, no retry."""


class HandBack(Exception):
    """Raised by a handler that stopped early on purpose: the job goes back to `todo`."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__("handed back")
        self.delay = delay


@dataclass
class JobContext:
    """What a handler gets: its job, the hub's settings, plugins, storage and the worker."""

    job: JobOut
    worker: Worker
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def settings(self) -> Settings:
        return self.worker.settings

    @property
    def plugins(self) -> PluginHost:
        return self.worker.plugins

    @property
    def storage(self) -> Storage:
        return self.worker.storage

    def session_id(self) -> int:
        value = self.job.payload.get("session_id")
        if not isinstance(value, int) or value < 1:
            raise PermanentError(f"job {self.job.id} has no session_id in {self.job.payload}")
        return value


Handler = Callable[[JobContext], Awaitable[None]]


@dataclass
class _Running:
    job: JobOut
    task: asyncio.Task[None]
    context: JobContext


class Worker:
    """Claims and runs jobs until stopped; see the module's description."""

    def __init__(
        self,
        settings: Settings,
        plugins: PluginHost,
        *,
        storage: Storage | None = None,
        owner: str | None = None,
        handlers: dict[str, Handler] | None = None,
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
    ) -> None:
        if handlers is None:
            from media.handlers import HANDLERS

            handlers = dict(HANDLERS)
        self.settings = settings
        self.plugins = plugins
        self.storage = storage if storage is not None else storage_for(settings)
        self.owner = owner or jobs.new_owner()
        self.handlers = handlers
        self.kinds = kinds or sorted(handlers)
        self.poll_interval = poll_interval
        self.tick_interval = (
            tick_interval if tick_interval is not None else settings.worker_tick_seconds
        )
        self.lease_seconds = lease_seconds or settings.worker_lease_seconds
        self.slots = slots or settings.worker_slots
        self.cpu_slots = cpu_slots or settings.worker_cpu_slots
        self.stop_grace = stop_grace
        self.record_timeout = record_timeout
        """Seconds without data after which a recorder's ffmpeg gives up on its source."""
        self.retry_wait = retry_wait
        """Seconds between attempts to pull a live source that is not there yet."""
        self.relisten_seconds = (
            relisten_seconds if relisten_seconds is not None else settings.record_relisten_seconds
        )
        self.binary = binary
        self.work_root = settings.worker_dir
        self.running: dict[int, _Running] = {}
        self.finished: list[tuple[int, str]] = []
        """(job id, outcome) of the jobs this worker ran, for tests and logs."""
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_tick = 0.0
        self._lock: IO[bytes] | None = None

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        """Run the claim loop in the background (stop it with `stop()`)."""
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name=f"worker {self.owner}")
        return self._task

    async def run(self) -> None:
        """Claim and run jobs until `stop()`."""
        await self._single_on_sqlite()
        log.info("worker %s started (kinds: %s)", self.owner, ", ".join(self.kinds))
        try:
            while not self._stopping.is_set():
                await self._step()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            await self._wind_down()
            self._unlock()
            log.info("worker %s stopped", self.owner)

    async def stop(self) -> None:
        """Stop claiming; recordings hand back, other jobs get `stop_grace` to finish."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.shield(self._task)
        else:
            await self._wind_down()

    async def run_until_idle(self, limit: float = 300.0) -> None:
        """Tick, then run jobs until none is due and none is running (for tests, `--once`)."""
        await self._single_on_sqlite()
        deadline = time.monotonic() + limit
        try:
            await self.tick()
            while True:
                claimed = await self._fill_slots()
                if not claimed and not self.running:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"jobs still running after {limit}s: {list(self.running)}")
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            if self._task is None:
                self._unlock()

    async def _single_on_sqlite(self) -> None:
        if not db.is_sqlite() or self._lock is not None:
            return
        path = self.settings.data_dir / "worker.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("wb")
        warned = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock = handle
                return
            except BlockingIOError:
                if not warned:
                    log.info("another worker holds %s (SQLite takes one worker): waiting", path)
                    warned = True
                if self._stopping.is_set():
                    handle.close()
                    raise asyncio.CancelledError from None
                await asyncio.sleep(self.poll_interval)

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    async def _step(self) -> None:
        try:
            if time.monotonic() - self._last_tick >= self.tick_interval:
                await self.tick()
            await self._fill_slots()
        except Exception:  # the database may be away for a moment: log, keep going
            log.exception("worker %s: claim loop failed, retrying", self.owner)
            await asyncio.sleep(self.poll_interval)

    # -- claiming -------------------------------------------------------------------------
    def _claimable_kinds(self) -> list[str]:
        if len(self.running) >= self.slots:
            return []
        busy_cpu = sum(1 for r in self.running.values() if r.job.kind in CPU_KINDS)
        return [k for k in self.kinds if k not in CPU_KINDS or busy_cpu < self.cpu_slots]

    async def _fill_slots(self) -> int:
        claimed = 0
        while not self._stopping.is_set():
            kinds = self._claimable_kinds()
            if not kinds:
                break
            job = await jobs.claim(self.owner, self.lease_seconds, kinds)
            if job is None:
                break
            claimed += 1
            self._launch(job)
        return claimed

    def _launch(self, job: JobOut) -> None:
        context = JobContext(job=job, worker=self)
        if self._stopping.is_set():
            context.stopping.set()
        task = asyncio.create_task(self._run_job(context), name=f"job {job.id} {job.kind}")
        self.running[job.id] = _Running(job, task, context)
        log.info(
            "worker %s runs job %d (%s, attempt %d of %d)",
            self.owner,
            job.id,
            job.kind,
            job.attempts,
            job.max_attempts,
        )

    async def _run_job(self, context: JobContext) -> None:
        job = context.job
        handler_task = asyncio.create_task(self.handlers[job.kind](context))
        beat = asyncio.create_task(self._heartbeat(job, handler_task))
        outcome = "?"
        try:
            try:
                await handler_task
            finally:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
            outcome = "succeeded" if await jobs.complete(job.id, self.owner) else "lost"
        except HandBack as back:
            outcome = "handed back"
            await jobs.release(job.id, self.owner, back.delay)
        except asyncio.CancelledError:
            if self._stopping.is_set() or not handler_task.cancelled():
                outcome = "handed back"
                await asyncio.shield(jobs.release(job.id, self.owner))
            else:
                outcome = "lost"  # cancelled or taken back: the lease is not ours any more
        except PermanentError as exc:
            outcome = "failed"
            log.error("job %d (%s) cannot succeed: %s", job.id, job.kind, exc)
            await jobs.fail(job.id, self.owner, f"{type(exc).__name__}: {exc}", retry=False)
        except DomainError as exc:
            outcome = "failed"
            log.error("job %d (%s) refused: %s", job.id, job.kind, exc.detail)
            await jobs.fail(job.id, self.owner, f"{type(exc).__name__}: {exc.detail}", retry=False)
        except Exception as exc:
            log.exception("job %d (%s) failed", job.id, job.kind)
            state = await jobs.fail(job.id, self.owner, f"{type(exc).__name__}: {exc}")
            outcome = f"failed ({state})"
        finally:
            self.running.pop(job.id, None)
            self.finished.append((job.id, outcome))
            self._wake.set()
            log.info("job %d (%s): %s", job.id, job.kind, outcome)

    async def _heartbeat(self, job: JobOut, handler_task: asyncio.Task[None]) -> None:
        interval = max(self.lease_seconds / 3, 0.2)
        while True:
            await asyncio.sleep(interval)
            try:
                held = await jobs.heartbeat(job.id, self.owner, self.lease_seconds)
            except Exception:
                log.exception("heartbeat of job %d failed; trying again", job.id)
                continue
            if not held:
                log.warning("job %d is no longer ours (cancelled or taken back): stopping", job.id)
                handler_task.cancel()
                return

    async def _wind_down(self) -> None:
        if not self.running:
            return
        for running in self.running.values():
            running.context.stopping.set()
        tasks = [r.task for r in self.running.values()]
        _, pending = await asyncio.wait(tasks, timeout=self.stop_grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=15)

    # -- the periodic tick ----------------------------------------------------------------
    async def tick(self, now: datetime | None = None) -> None:
        """End overdue live sessions, ensure record jobs, archive finished, queue reports."""
        self._last_tick = time.monotonic()
        now = now or datetime.now(UTC)
        ended = await live.end_overdue(now)
        if ended:
            log.info("ended overdue live sessions %s", ended)
        promoted = await live.promote_due(now)
        if promoted:
            log.info("rehearsals turned live at the start of class: %s", promoted)
        await self.ensure_recordings(now)
        archived = await recordings.archive_finished(now)
        if archived:
            log.info("archived sessions %s", archived)
        try:
            await reporting.enqueue_due_reports(now, self.plugins, self.settings)
        except Exception:
            log.exception("queueing due reports failed")

    async def ensure_recordings(self, now: datetime) -> list[int]:
        """Record jobs for listener sessions about to start and for live pull sessions."""
        from datetime import timedelta

        lead = timedelta(seconds=self.settings.record_lead_seconds)
        rows = (
            await LiveSession.select(LiveSession.id, LiveSession.status)
            .where(
                LiveSession.status.is_in([SessionStatus.scheduled, SessionStatus.live])
                & (LiveSession.starts_at <= now + lead)
                & (LiveSession.ends_at > now - live.RESTART_GRACE)
            )
            .run()
        )
        ensured = []
        for found in rows:
            session_id = found["id"]
            try:
                row = await live.session_row(session_id)
                provider = self.plugins.providers.get(row["provider"])
                if provider is None or not provider.capabilities.recordable:
                    continue
                source = provider.recording_source(
                    await live.prepared_context(row, self.plugins, self.settings, now)
                )
            except Exception as exc:  # one session's bad options must not stop the others
                log.warning("session %d: no recording source: %s", session_id, exc)
                continue
            if source is None:
                continue
            if not source.listen and found["status"] != SessionStatus.live:
                continue
            await jobs.enqueue(
                jobs.RECORD,
                {"session_id": session_id},
                dedupe_key=f"record:{session_id}",
                reopen=(JobState.succeeded,),
                rerun_if_running=False,
            )
            ensured.append(session_id)
        return ensured

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
