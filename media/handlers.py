"""The media plugin's job kinds (`MEDIA_KINDS`, registered through ``register_job_kinds``).

record: open the session's recording source through its provider and record it into
storage until the class is over; when a stream ends, queue the finalize job (the replay
is made while the listener waits for a possible restart). finalize: VOD playlist, MP4
and poster, the Recording row, the session archived. transcode: the low-bandwidth and
audio-only renditions. ensure-recordings (periodic): record jobs for the sessions that
need one.

Each handler is idempotent: a retry after a crash resumes (the recorder continues the
segment numbering in its work directory; finalize skips artefacts already stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from hub import jobs, live, outbound, recordings
from hub.errors import Conflict, database_unavailable
from hub.job_runner import (
    HandBack,
    Handler,
    JobContext,
    JobKind,
    NoPayload,
    PermanentError,
    SessionPayload,
)
from hub.jobs import RetryPolicy
from hub.logs import redact
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.streaming import RecordingSource
from hub.tables import Job, JobState, LiveSession, Recording, SessionStatus
from media.finalize import FinalizeError, finalize
from media.layout import ArchiveKeys
from media.recorder import LiveWindowEdge, Recorder
from media.spool import Spool

log = logging.getLogger("sharehub.worker")
T = TypeVar("T")

MiB = 1024 * 1024
OVER = (SessionStatus.cancelled, SessionStatus.archived)
STILL_WANTED_CHECK = 5.0
"""Seconds between checks that a waiting recorder's session still wants recording."""
SPOOL_ALERT_SECONDS = 10.0
"""A spool that refused a file within this many seconds is shown as full on the job."""
SPOOL_FULL = "spool full"


def key_prefix(session_id: int) -> str:
    return f"sessions/{session_id}"


@contextlib.asynccontextmanager
async def work_lock(path: Path, stopping: asyncio.Event) -> AsyncIterator[None]:
    """Finalize and transcode of one session take turns in its work directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("wb")
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stopping.is_set():
                    raise HandBack(delay=1.0) from None
                await asyncio.sleep(0.3)
        yield
    finally:
        handle.close()


async def _source(ctx: JobContext, session_id: int) -> RecordingSource | None:
    row = await live.session_row(session_id)
    if row["status"] in OVER:
        return None
    provider = ctx.plugins.providers.get(row["provider"])
    if provider is None:
        raise RuntimeError(f"provider {row['provider']!r} of session {session_id} is not loaded")
    return provider.recording_source(await live.prepared_context(row, ctx.plugins, ctx.settings))


def _still_recording(
    row: dict[str, object],
    source: RecordingSource,
    now: datetime,
    relisten_until: datetime | None,
) -> bool:
    if row["status"] in OVER:
        return False
    ends_at = row["ends_at"]
    assert isinstance(ends_at, datetime)
    if row["status"] != SessionStatus.live and now > ends_at + live.RESTART_GRACE:
        return False
    if source.listen:
        return relisten_until is None or now < relisten_until
    if source.probe:
        # the data decides: probe from the slot's start until its end (and the grace after
        # a run that ended, for a restart)
        if now < row["starts_at"] - PROBE_LEAD:  # type: ignore[operator]
            return False
        if relisten_until is not None:
            return now < max(relisten_until, ends_at)
        return now < ends_at + live.RESTART_GRACE
    return row["status"] == SessionStatus.live


async def _drain(spool: Spool, ctx: JobContext) -> None:
    """Upload what the store refused while recording; wait for it to come back."""
    wait = 1.0
    while len(spool):
        result = await spool.drain(ctx.storage)
        if not result.remaining:
            return
        log.warning(
            "store unreachable: %d objects (%d bytes) wait in %s",
            result.remaining,
            spool.bytes_used(),
            spool.root,
        )
        if ctx.stopping.is_set():
            raise HandBack()
        await asyncio.sleep(wait)
        wait = min(wait * 2, 30.0)


async def _went_live(session_id: int, prefix: str, keys: ArchiveKeys) -> bool:
    """Data arrived: the recording row exists and the session is live."""
    await recordings.start(session_id, prefix, keys.playlist)
    try:
        if await live.go_live(session_id):
            log.info("session %d is live: data arrived", session_id)
    except Conflict as exc:
        log.warning("session %d: %s", session_id, exc.detail)
    return True


async def _rehearsal_over(ctx: JobContext, session_id: int, prefix: str, work: Path) -> bool:
    """A push that stopped while the class is still scheduled was a rehearsal (彩排, before
    the live window; see ``hub.live``): nothing of it goes into the replay. Its stored
    segments and playlist, its work folder and its recording row are removed."""
    row = await live.session_row(session_id)
    if row["status"] != SessionStatus.scheduled:
        return False
    for key in await ctx.storage.list(prefix + "/"):
        await ctx.storage.delete(key)
    await asyncio.to_thread(shutil.rmtree, work, True)
    await Recording.delete().where(Recording.session_id == session_id).run()
    log.info("session %d: a rehearsal push ended; nothing of it is kept", session_id)
    return True


async def _spool_alert(ctx: JobContext, spool: Spool, on: bool) -> bool:
    """Show (or clear) a full spool on the record job: ``last_error`` in `GET /api/v1/jobs`."""
    text = ""
    if on:
        text = (
            f"{SPOOL_FULL}: {spool.root} holds {spool.bytes_used()} of {spool.max_bytes} bytes "
            f"and refused {spool.refused_bytes} bytes; the store is unreachable, segments wait "
            "in the work folder (check the store, free disk or raise SHAREHUB_SPOOL_MAX_MB)"
        )
        log.error("job %d: recording degraded: %s", ctx.job.id, text)
    else:
        log.warning("job %d: the spool %s has room again", ctx.job.id, spool.root)
    await (
        Job.update({Job.last_error: text, Job.updated_at: datetime.now(UTC)})
        .where((Job.id == ctx.job.id) & (Job.lease_owner == ctx.worker.owner))
        .run()
    )
    return on


async def _unless_db_away(step: Awaitable[T], session_id: int) -> T | None:
    """Run `step`; None (with a warning) when the database cannot be reached right now."""
    try:
        return await step
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        log.warning("session %d: database unreachable, recording on: %s", session_id, exc)
        return None


async def _until_db_back(ctx: JobContext, step: Callable[[], Awaitable[T]]) -> T:
    """Run `step`, retrying with back-off while the database cannot be reached."""
    wait = 0.5
    while True:
        try:
            return await step()
        except Exception as exc:
            if not database_unavailable(exc) or ctx.stopping.is_set():
                raise
            log.warning(
                "job %d: database unreachable, retrying in %.1fs: %s", ctx.job.id, wait, exc
            )
        await asyncio.sleep(wait)
        wait = min(wait * 2, 10.0)


async def _guarded(ctx: JobContext, source: RecordingSource) -> bool:
    """Check a user-given source again, on the address it resolves to now: False when the
    name does not resolve (yet); a refused address fails the job for good."""
    if not source.public_only:
        return True
    try:
        await asyncio.to_thread(
            outbound.check_url, source.url, allow=ctx.settings.pull_allow, field="pull_url"
        )
    except outbound.Refused as exc:
        if "does not resolve" in exc.detail:
            log.info("job %d: %s; trying again", ctx.job.id, exc.detail)
            return False
        raise PermanentError(f"refused to record {redact(source.url)}: {exc.detail}") from exc
    return True


PROBE_LEAD = timedelta(minutes=5)
"""A source without callbacks is probed from this long before the slot's start."""
PROBE_CAP_SECONDS = 60.0
"""The longest wait between two probes of a source that sends nothing."""
PROBE_MISSES_AFTER_RUN = 4
"""After a live run ended, the next probe waits as if this many had found nothing."""


def probe_wait(base: float, misses: int) -> float:
    """Bounded exponential back-off between probes: base, 2x, 4x ... at most the cap."""
    return float(min(base * 2 ** max(misses - 1, 0), PROBE_CAP_SECONDS))


async def _wait_or_stop(ctx: JobContext, seconds: float) -> None:
    """Sleep, or hand the job back at once when the worker stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ctx.stopping.wait(), seconds)
    if ctx.stopping.is_set():
        raise HandBack()


async def record(ctx: JobContext) -> None:
    session_id = ctx.session_id()
    source = await _source(ctx, session_id)
    if source is None:
        log.info("session %d is over or not recordable: nothing to record", session_id)
        return
    worker = ctx.worker
    prefix = key_prefix(session_id)
    keys = ArchiveKeys(prefix)
    work = worker.work_dir(session_id)
    spool = Spool(work / "spool", max_bytes=ctx.settings.spool_max_mb * MiB)
    relisten_until: datetime | None = None
    misses = 0
    """Probes in a row that found no data: the wait before the next one doubles."""
    while True:
        if ctx.stopping.is_set():
            raise HandBack()
        row = await live.session_row(session_id)
        now = datetime.now(UTC)
        if not _still_recording(row, source, now, relisten_until):
            break
        await _drain(spool, ctx)
        if not await _guarded(ctx, source):
            await asyncio.sleep(worker.retry_wait)
            continue
        recorder = Recorder(
            source.url,
            work,
            ctx.storage,
            prefix,
            spool=spool,
            segment_seconds=ctx.settings.segment_seconds,
            rw_timeout=worker.record_timeout,
            edge=LiveWindowEdge(session_id),
            binary=worker.binary,
        )
        await recorder.start()
        shipped_before = len(recorder.state.shipped)
        alerted = False
        got_data = False
        checked = time.monotonic()
        try:
            while recorder.running:
                # the database may be away for a while: the recorder goes on, the
                # bookkeeping below is tried again on the next round
                if not got_data and time.monotonic() - checked > STILL_WANTED_CHECK:
                    # a listener nobody pushes to waits forever: give up when the class
                    # is cancelled or over
                    checked = time.monotonic()
                    fresh = await _unless_db_away(live.session_row(session_id), session_id)
                    if fresh is not None and not _still_recording(
                        fresh, source, datetime.now(UTC), relisten_until
                    ):
                        log.info("session %d is over before any data: stop waiting", session_id)
                        await recorder.stop()
                        break
                if not got_data and recorder.last_progress_at is not None:
                    got_data = (
                        await _unless_db_away(_went_live(session_id, prefix, keys), session_id)
                        or False
                    )
                if spool.full_for(SPOOL_ALERT_SECONDS) != alerted:
                    flagged = await _unless_db_away(
                        _spool_alert(ctx, spool, not alerted), session_id
                    )
                    alerted = alerted if flagged is None else not alerted
                if ctx.stopping.is_set():
                    await recorder.stop()
                    raise HandBack()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ctx.stopping.wait(), 0.5)
        except BaseException:
            if recorder.running:
                await asyncio.shield(recorder.stop())
            raise
        summary = await recorder.wait()
        got_data = got_data or summary.segments_shipped > shipped_before
        if not got_data:
            misses += 1
            wait = probe_wait(worker.retry_wait, misses) if source.probe else worker.retry_wait
            log.info(
                "session %d: no data from the source (%s); trying again in %.1fs",
                session_id,
                " | ".join(summary.stderr_tail[-2:]) or f"exit {summary.returncode}",
                wait,
            )
            await _wait_or_stop(ctx, wait)
            continue
        misses = 0
        log.info("session %d: stream stopped after %.1fs recorded", session_id, summary.duration)
        if source.listen or source.probe:
            await _until_db_back(ctx, lambda: live.end_stream(session_id))
            if await _until_db_back(ctx, lambda: _rehearsal_over(ctx, session_id, prefix, work)):
                spool = Spool(work / "spool", max_bytes=ctx.settings.spool_max_mb * MiB)
                continue  # listen on for the class itself
        await _drain(spool, ctx)
        wait = 1.0
        while left := await recorder.ship_left():  # refused by a full spool: still local
            if ctx.stopping.is_set():
                raise HandBack()
            log.warning("session %d: %d segments wait in %s for the store", session_id, left, work)
            await asyncio.sleep(wait)
            wait = min(wait * 2, 30.0)
        await _until_db_back(ctx, lambda: recordings.processing(session_id))
        await _until_db_back(
            ctx,
            lambda: jobs.enqueue(
                jobs.FINALIZE,
                {"session_id": session_id},
                dedupe_key=f"finalize:{session_id}",
                reopen=(JobState.succeeded, JobState.failed),
            ),
        )
        relisten_until = datetime.now(UTC) + timedelta(seconds=worker.relisten_seconds)
        if source.probe:
            # one recording per live run: a source that ended is probed again only after a
            # back-off (a finite source is not pulled again in a loop)
            misses = PROBE_MISSES_AFTER_RUN
            await _wait_or_stop(ctx, probe_wait(worker.retry_wait, misses))


async def finalize_job(ctx: JobContext) -> None:
    session_id = ctx.session_id()
    row = await recordings.get(session_id)
    prefix = row["key_prefix"] if row else key_prefix(session_id)
    work = ctx.worker.work_dir(session_id)
    started = time.monotonic()
    async with work_lock(work / "final.lock", ctx.stopping):
        try:
            result = await finalize(prefix, work, ctx.storage, names=("mp4", "poster"))
        except FinalizeError as exc:
            if "nothing was recorded" in str(exc):
                await recordings.failed(session_id, str(exc))
                raise PermanentError(str(exc)) from exc
            raise
    artefacts = result.artefacts
    mp4 = artefacts.get("mp4")
    poster = artefacts.get("poster")
    if row is None:
        await recordings.start(session_id, prefix, artefacts["playlist"].key)
    await recordings.finalized(
        session_id,
        playlist_key=artefacts["playlist"].key,
        mp4_key=mp4.key if mp4 else "",
        poster_key=poster.key if poster else "",
        duration=result.duration,
        segments=result.segments,
        bytes_total=result.segment_bytes + sum(a.bytes for a in artefacts.values()),
        mp4_bytes=mp4.bytes if mp4 else 0,
        lost_seconds=result.lost_seconds,
    )
    archived = await recordings.archive_finished(session_ids=[session_id])
    log.info(
        "session %d: replay ready in %.1fs (%.1fs, %d segments)%s",
        session_id,
        time.monotonic() - started,
        result.duration,
        result.segments,
        ", archived" if archived else "",
    )
    await jobs.enqueue(
        jobs.TRANSCODE,
        {"session_id": session_id},
        dedupe_key=f"transcode:{session_id}",
        reopen=(JobState.succeeded, JobState.failed),
    )


async def transcode(ctx: JobContext) -> None:
    session_id = ctx.session_id()
    row = await recordings.get(session_id)
    prefix = row["key_prefix"] if row else key_prefix(session_id)
    work = ctx.worker.work_dir(session_id)
    async with work_lock(work / "final.lock", ctx.stopping):
        try:
            result = await finalize(
                prefix, work, ctx.storage, names=("low", "audio", "low_mp4", "audio_m4a")
            )
        except FinalizeError as exc:
            if "nothing was recorded" in str(exc):
                raise PermanentError(str(exc)) from exc
            raise
    made = {
        name: {"key": a.key, "bytes": a.bytes, "duration": a.duration}
        for name, a in result.artefacts.items()
        if name in ("low", "audio", "low_mp4", "audio_m4a")
    }
    await recordings.add_renditions(session_id, made)


async def ensure_recordings(settings: Settings, plugins: PluginHost, now: datetime) -> list[int]:
    """Record jobs for listener sessions about to start and for live pull sessions."""
    lead = timedelta(seconds=settings.record_lead_seconds)
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
            provider = plugins.providers.get(row["provider"])
            if provider is None or not provider.capabilities.recordable:
                continue
            source = provider.recording_source(
                await live.prepared_context(row, plugins, settings, now)
            )
        except Exception as exc:  # one session's bad options must not stop the others
            log.warning("session %d: no recording source: %s", session_id, exc)
            continue
        if source is None:
            continue
        if source.probe and now < row["starts_at"] - PROBE_LEAD:
            continue
        if not (source.listen or source.probe) and found["status"] != SessionStatus.live:
            continue
        await jobs.enqueue(
            RECORD,
            {"session_id": session_id},
            dedupe_key=f"record:{session_id}",
            reopen=(JobState.succeeded,),
            rerun_if_running=False,
        )
        ensured.append(session_id)
    return ensured


async def ensure_recordings_job(ctx: JobContext) -> None:
    await ensure_recordings(ctx.settings, ctx.plugins, datetime.now(UTC))


RECORD = jobs.RECORD
FINALIZE = jobs.FINALIZE
TRANSCODE = jobs.TRANSCODE
ENSURE_RECORDINGS = "ensure-recordings"
RECORD_LEASE_SECONDS = 4.0
"""A record job's lease: short, so another worker takes a dead recorder's class over
within two segments (the lease, the claim poll and ffmpeg's start; bench/takeover_gap.py).
On PostgreSQL a live recorder loses its job only when three renewals in a row fail or
come more than three seconds late; on SQLite one worker runs at a time, so never."""
RECORD_RENEW_SECONDS = 1.0

MEDIA_KINDS: tuple[JobKind, ...] = (
    # A recorder that lost its source retries fast: the class is going on.
    JobKind(
        RECORD,
        record,
        RetryPolicy(max_attempts=30, base_seconds=2, cap_seconds=30),
        lease_seconds=RECORD_LEASE_SECONDS,
        renew_seconds=RECORD_RENEW_SECONDS,
        payload=SessionPayload,
    ),
    JobKind(
        FINALIZE,
        finalize_job,
        RetryPolicy(max_attempts=8, base_seconds=5, cap_seconds=300),
        payload=SessionPayload,
    ),
    JobKind(
        TRANSCODE,
        transcode,
        RetryPolicy(max_attempts=4, base_seconds=30, cap_seconds=900),
        cpu=True,
        payload=SessionPayload,
    ),
    JobKind(
        ENSURE_RECORDINGS,
        ensure_recordings_job,
        RetryPolicy(max_attempts=1, base_seconds=5, cap_seconds=5),
        payload=NoPayload,
        every=1.0,
    ),
)
HANDLERS: dict[str, Handler] = {kind.name: kind.handler for kind in MEDIA_KINDS}
