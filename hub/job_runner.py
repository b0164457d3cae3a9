"""The job runner: claims jobs from the job table and runs them, several at once.

One `Runner` per process. It claims due jobs (see `hub.jobs`) while it has free slots,
runs each with the handler of its kind, renews each job's lease while it runs, and on the
way out marks the job succeeded, failed (retried with back-off) or handed back.

Job kinds are registered, not listed here: a `JobKind` names its handler, retry policy,
lease and renewal interval, whether it is CPU-bound, an optional payload model and, for
periodic work, how often it runs. The core registers its own (`hub.job_kinds`: export,
report publishing and the periodic housekeeping); plugins add theirs through the
``register_job_kinds`` hook (the media plugin: record, finalize, transcode). Every few
seconds the runner ticks: it queues each periodic kind that is due as a job (one row per
kind, deduplicated), so housekeeping runs, is retried and shows in ``GET /api/v1/jobs``
like any other job.

A job whose payload does not fit its kind's model fails at once, for good, naming what is
wrong (a retry could not fix it).

On SQLite only one runner may claim at a time: it holds an exclusive lock on
`<data>/worker.lock`. On PostgreSQL any number of runners on any number of machines claim
with `FOR UPDATE SKIP LOCKED`.

Identity: a runner's lease owner is ``<host>:<work folder digest>:<pid>:<random>``. A
runner that starts with the same host and work folder as one that died (its lock on
`<work>/runner.lock` is free again) takes that one's leases back at once instead of
waiting for them to expire (a restarted worker loses no more than the segment in
progress).

Stopping (`stop()`, SIGTERM for `sharehub worker`): no new claims; handlers see
``context.stopping`` and hand their job back (`HandBack`); others get `stop_grace` seconds
to finish and are then cancelled and handed back (their steps must be idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import msgspec

from hub import db, jobs
from hub.errors import DomainError
from hub.jobs import JobOut, RetryPolicy
from hub.settings import Settings
from hub.storage import Storage, storage_for

if TYPE_CHECKING:
    from hub.plugin_host import PluginHost

log = logging.getLogger("sharehub.worker")


class PermanentError(RuntimeError):
    """A job that can never succeed (bad payload, nothing recorded): failed, no retry."""


class HandBack(Exception):
    """Raised by a handler that stopped early on purpose: the job goes back to `todo`."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__("handed back")
        self.delay = delay


class SessionPayload(msgspec.Struct, forbid_unknown_fields=False):
    """The payload of a job about one session."""

    session_id: int = msgspec.field()

    def __post_init__(self) -> None:
        if self.session_id < 1:
            raise ValueError("session_id must be a positive integer")


class NoPayload(msgspec.Struct):
    """A job that takes no payload (periodic housekeeping)."""


@dataclass
class JobContext:
    """What a handler gets: its job, the hub's settings, plugins, storage and the runner."""

    job: JobOut
    worker: Any
    """The `Runner` running the job (a media `Worker` for media kinds)."""
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    payload: Any = None
    """The job's payload converted to its kind's model (None when the kind has none)."""

    @property
    def settings(self) -> Settings:
        return self.worker.settings  # type: ignore[no-any-return]

    @property
    def plugins(self) -> PluginHost:
        return self.worker.plugins  # type: ignore[no-any-return]

    @property
    def storage(self) -> Storage:
        return self.worker.storage  # type: ignore[no-any-return]

    def session_id(self) -> int:
        value = self.job.payload.get("session_id")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise PermanentError(f"job {self.job.id} has no session_id in {self.job.payload}")
        return value


Handler = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True)
class JobKind:
    """One kind of job, as the core or a plugin registers it."""

    name: str
    handler: Handler
    policy: RetryPolicy = jobs.DEFAULT_POLICY
    lease_seconds: float | None = None
    """How long a claim holds without renewal (None: ``SHAREHUB_WORKER_LEASE_SECONDS``)."""
    renew_seconds: float | None = None
    """How often a running job renews its lease (None, or more than a third of the lease:
    a third of its lease, so two renewals in a row may come late or fail and it holds)."""
    cpu: bool = False
    """Encodes video or builds files: at most ``SHAREHUB_WORKER_CPU_SLOTS`` at once."""
    payload: type[msgspec.Struct] | None = None
    """The payload's model; a job whose payload does not fit fails at once, for good."""
    every: float | None = None
    """Periodic: the runner's tick queues this kind (empty payload) at most this often."""


@dataclass
class _Running:
    job: JobOut
    task: asyncio.Task[None]
    context: JobContext


def identity(settings: Settings, work_root: Path | None = None) -> str:
    """This machine and work folder: ``<host>:<8 hex of the folder's path>``."""
    folder = str((work_root or settings.worker_dir).resolve())
    digest = hashlib.sha256(folder.encode()).hexdigest()[:8]
    return f"{socket.gethostname()[:50]}:{digest}"


class Runner:
    """Claims and runs jobs until stopped; see the module's description."""

    def __init__(
        self,
        settings: Settings,
        plugins: PluginHost,
        *,
        job_kinds: Iterable[JobKind] | None = None,
        storage: Storage | None = None,
        owner: str | None = None,
        kinds: list[str] | None = None,
        poll_interval: float = 1.0,
        tick_interval: float | None = None,
        lease_seconds: float | None = None,
        slots: int | None = None,
        cpu_slots: int | None = None,
        stop_grace: float = 30.0,
    ) -> None:
        self.settings = settings
        self.plugins = plugins
        self.storage = storage if storage is not None else storage_for(settings)
        self.job_kinds: dict[str, JobKind] = {}
        for kind in job_kinds if job_kinds is not None else plugins.job_kinds.values():
            self.job_kinds[kind.name] = kind
            jobs.register_policy(kind.name, kind.policy)
        self.work_root = settings.worker_dir
        self.identity = identity(settings, self.work_root)
        self.owner = owner or f"{self.identity}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.periodic = sorted(k.name for k in self.job_kinds.values() if k.every)
        chosen = kinds or sorted(self.job_kinds)
        unknown = sorted(set(chosen) - set(self.job_kinds))
        if unknown:
            raise ValueError(f"no job kind registered as {', '.join(unknown)}")
        # periodic housekeeping is light and runs on every runner
        self.kinds = sorted(set(chosen) | set(self.periodic))
        self.poll_interval = poll_interval
        self.tick_interval = (
            tick_interval if tick_interval is not None else settings.worker_tick_seconds
        )
        self.lease_override = lease_seconds
        self.default_lease = float(lease_seconds or settings.worker_lease_seconds)
        self.slots = slots or settings.worker_slots
        self.cpu_slots = cpu_slots or settings.worker_cpu_slots
        self.stop_grace = stop_grace
        self.running: dict[int, _Running] = {}
        self.finished: list[tuple[int, str]] = []
        """(job id, outcome) of the jobs this runner ran, for tests and logs."""
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_tick = 0.0
        self._queued_at: dict[str, float] = {}
        self._lock: IO[bytes] | None = None
        self._identity_lock: IO[bytes] | None = None

    # -- per kind ---------------------------------------------------------------------------
    @property
    def handlers(self) -> dict[str, Handler]:
        return {name: kind.handler for name, kind in self.job_kinds.items()}

    def lease_of(self, kind: str) -> float:
        """The lease of a kind: an explicit ``lease_seconds`` given to the runner wins."""
        if self.lease_override:
            return float(self.lease_override)
        found = self.job_kinds.get(kind)
        return float(found.lease_seconds) if found and found.lease_seconds else self.default_lease

    def renew_of(self, kind: str) -> float:
        """How often a running job of the kind renews its lease: at most a third of it."""
        found = self.job_kinds.get(kind)
        lease = self.lease_of(kind)
        if found and found.renew_seconds and not self.lease_override:
            return min(float(found.renew_seconds), lease / 3)
        return max(lease / 3, 0.2)

    @property
    def lease_seconds(self) -> float:
        return self.default_lease

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
        await self._take_back_own()
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
        """Stop claiming; handlers see ``stopping``, others get `stop_grace` to finish."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.shield(self._task)
        else:
            await self._wind_down()

    async def run_until_idle(self, limit: float = 300.0) -> None:
        """Tick, then run jobs until none is due and none is running (for tests, `--once`)."""
        await self._single_on_sqlite()
        await self._take_back_own()
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

    async def _take_back_own(self) -> None:
        """Leases held under this identity by a runner that is gone: back at once.

        The lock on ``<work>/runner.lock`` says whether a runner of the same identity is
        alive (a dead process holds no lock); only then are its leases taken back.
        """
        if self._identity_lock is not None:
            return
        path = self.work_root / "runner.lock"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("wb")
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, OSError):
            log.warning("another worker runs with the work folder %s", self.work_root)
            return
        self._identity_lock = handle
        try:
            taken = await jobs.take_back_own(self.identity + ":", self.owner)
        except Exception:
            log.exception("taking back the leases of a previous run failed")
            return
        if taken:
            log.info("took back jobs %s left by a previous run on %s", taken, self.identity)

    def _unlock(self) -> None:
        for attr in ("_lock", "_identity_lock"):
            handle = getattr(self, attr)
            if handle is not None:
                handle.close()
                setattr(self, attr, None)

    async def _step(self) -> None:
        try:
            if time.monotonic() - self._last_tick >= self.tick_interval:
                await self.tick()
            await self._fill_slots()
        except Exception:  # the database may be away for a moment: log, keep going
            log.exception("worker %s: claim loop failed, retrying", self.owner)
            await asyncio.sleep(self.poll_interval)

    # -- the periodic tick ----------------------------------------------------------------
    async def tick(self) -> list[str]:
        """Queue each periodic kind that is due as a job; returns the kinds queued."""
        self._last_tick = time.monotonic()
        queued = []
        for name in self.periodic:
            kind = self.job_kinds[name]
            last = self._queued_at.get(name)
            if last is not None and time.monotonic() - last < min(kind.every or 0, 3600):
                continue
            await jobs.enqueue(
                name,
                {},
                dedupe_key=f"periodic:{name}",
                reopen=(jobs.JobState.succeeded, jobs.JobState.failed, jobs.JobState.cancelled),
                rerun_if_running=False,
            )
            self._queued_at[name] = time.monotonic()
            queued.append(name)
        if queued:
            self._wake.set()
        return queued

    # -- claiming -------------------------------------------------------------------------
    def _claimable_kinds(self) -> list[str]:
        if len(self.running) >= self.slots:
            return []
        busy_cpu = sum(1 for r in self.running.values() if self._is_cpu(r.job.kind))
        return [k for k in self.kinds if not self._is_cpu(k) or busy_cpu < self.cpu_slots]

    def _is_cpu(self, kind: str) -> bool:
        found = self.job_kinds.get(kind)
        return bool(found and found.cpu)

    async def _fill_slots(self) -> int:
        claimed = 0
        leases = {kind: self.lease_of(kind) for kind in self.kinds}
        while not self._stopping.is_set():
            kinds = self._claimable_kinds()
            if not kinds:
                break
            job = await jobs.claim(self.owner, leases, kinds)
            if job is None:
                break
            claimed += 1
            self._launch(job)
        return claimed

    def context_for(self, job: JobOut) -> JobContext:
        return JobContext(job=job, worker=self)

    def _launch(self, job: JobOut) -> None:
        context = self.context_for(job)
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

    def _prepare(self, context: JobContext) -> Handler:
        """The handler for the job, its payload checked against the kind's model."""
        job = context.job
        kind = self.job_kinds.get(job.kind)
        if kind is None:
            raise PermanentError(f"no handler for job kind {job.kind!r} on this worker")
        if kind.payload is not None:
            try:
                context.payload = msgspec.convert(job.payload, kind.payload, strict=True)
            except msgspec.ValidationError as exc:
                raise PermanentError(
                    f"malformed payload for a {job.kind} job: {exc} (payload: {job.payload})"
                ) from None
        return kind.handler

    async def _run_job(self, context: JobContext) -> None:
        job = context.job
        outcome = "?"
        handler_task: asyncio.Task[None] | None = None
        beat: asyncio.Task[None] | None = None
        try:
            handler = self._prepare(context)
            handler_task = asyncio.create_task(handler(context))
            beat = asyncio.create_task(self._heartbeat(job, handler_task))
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
            if self._stopping.is_set() or handler_task is None or not handler_task.cancelled():
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
            policy = self.job_kinds[job.kind].policy if job.kind in self.job_kinds else None
            state = await jobs.fail(
                job.id, self.owner, f"{type(exc).__name__}: {exc}", policy=policy
            )
            outcome = f"failed ({state})"
        finally:
            self.running.pop(job.id, None)
            self.finished.append((job.id, outcome))
            self._wake.set()
            log.info("job %d (%s): %s", job.id, job.kind, outcome)

    async def _heartbeat(self, job: JobOut, handler_task: asyncio.Task[None]) -> None:
        """Renew the lease every `renew_of(kind)` seconds, on a fixed schedule.

        A renewal that comes late (a busy event loop, a slow database) does not push the
        next ones later: when one is due already, it goes at once. One that fails is tried
        again within half a second. A renewal later than half the lease is logged with how
        late it came (a run of those is how a live job gets taken over by another worker).
        """
        interval = self.renew_of(job.kind)
        lease = self.lease_of(job.kind)
        renewed = due = time.monotonic()
        while True:
            due += interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            started = time.monotonic()
            if started - renewed > lease / 2:
                log.warning(
                    "job %d renews its %.1fs lease %.1fs after the last renewal (the event "
                    "loop or the database is slow)",
                    job.id,
                    lease,
                    started - renewed,
                )
            try:
                held = await jobs.heartbeat(job.id, self.owner, lease)
            except Exception:
                log.exception("heartbeat of job %d failed; trying again", job.id)
                due = min(due, time.monotonic() + 0.5 - interval)  # next: within 0.5 s
                continue
            if not held:
                log.warning("job %d is no longer ours (cancelled or taken back): stopping", job.id)
                handler_task.cancel()
                return
            renewed = started
            due = max(due, time.monotonic() - interval)  # far behind: next one at once

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
