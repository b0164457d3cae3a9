"""The core's own job kinds: exports, report publishing and the periodic housekeeping.

Registered with the plugin host next to the kinds plugins give through the
``register_job_kinds`` hook (see ``hub.job_runner`` for what a kind declares). The
housekeeping kinds are periodic: every runner's tick queues them, so they run as jobs
(retried, listed in ``GET /api/v1/jobs``) rather than inline:

- ``end-overdue``: live sessions 30 minutes past their scheduled end become ended;
- ``archive-finished``: ended sessions whose replay is ready (or that can no longer
  restart) are archived;
- ``queue-reports``: last month's report for each monthly reporter, once;
- ``classroom-retention``: classroom messages and photos of classes that ended more than
  ``classroom_retention_days`` ago are deleted (hourly);
- ``hold-by-rule``: a class given in another app (its provider takes no push, e.g.
  ``external_link``) that nobody started or ended with 开始上课 / 下课 and whose slot has
  passed counts as held when at least one share-center checked in or one center screen
  watched it: it turns ended, live from the scheduled start to the scheduled end (the
  scheduled length is its teaching time). With neither it stays scheduled (not held).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import msgspec

from hub import classroom, exports, jobs, live, materials, packs, previews, recordings, reporting
from hub.job_runner import JobContext, JobKind, NoPayload
from hub.jobs import RetryPolicy
from hub.notify.jobs import NOTIFY_KINDS
from hub.tables import Booking, LiveSession, SessionStatus, ViewTally

log = logging.getLogger("sharehub.worker")

END_OVERDUE = "end-overdue"
HOLD_BY_RULE = "hold-by-rule"
HOLD_LOOKBACK = timedelta(days=7)
"""Slots that ended within this long are looked at (older ones were looked at before)."""
ARCHIVE_FINISHED = "archive-finished"
QUEUE_REPORTS = "queue-reports"
QUEUE_PACKS = "queue-packs"
CLASSROOM_RETENTION = "classroom-retention"
PERIODIC_POLICY = RetryPolicy(max_attempts=1, base_seconds=5, cap_seconds=5)
"""A periodic job that fails waits for the next tick (which queues it again)."""


class ExportPayload(msgspec.Struct):
    export_id: int


class ReportPayload(msgspec.Struct):
    report_id: int


async def export(ctx: JobContext) -> None:
    await exports.run_export_job(ctx.job.payload, ctx.plugins, ctx.settings)


async def publish_report(ctx: JobContext) -> None:
    await reporting.run_publish_job(ctx.job.payload, ctx.plugins, ctx.settings)


async def end_overdue(ctx: JobContext) -> None:
    """Class-time turns: live sessions past their end (and grace) end; rehearsals whose push
    goes on into the class's start turn live."""
    now = datetime.now(UTC)
    ended = await live.end_overdue(now)
    if ended:
        log.info("ended overdue live sessions %s", ended)
    promoted = await live.promote_due(now)
    if promoted:
        log.info("rehearsals turned live at the start of class: %s", promoted)


async def archive_finished(ctx: JobContext) -> None:
    archived = await recordings.archive_finished(datetime.now(UTC))
    if archived:
        log.info("archived sessions %s", archived)


async def queue_reports(ctx: JobContext) -> None:
    await reporting.enqueue_due_reports(datetime.now(UTC), ctx.plugins, ctx.settings)


async def hold_by_rule(ctx: JobContext) -> list[int]:
    """Passed slots of push-less providers with a check-in or a center-screen view: held."""
    now = datetime.now(UTC)
    pushless = [name for name, p in ctx.plugins.providers.items() if not p.capabilities.push]
    if not pushless:
        return []
    rows = (
        await LiveSession.select(LiveSession.id, LiveSession.starts_at, LiveSession.ends_at)
        .where(
            (LiveSession.status == SessionStatus.scheduled)
            & LiveSession.provider.is_in(pushless)
            & (LiveSession.ends_at <= now)
            & (LiveSession.ends_at > now - HOLD_LOOKBACK)
        )
        .run()
    )
    held = []
    for row in rows:
        checked_in = await Booking.exists().where(
            (Booking.session == row["id"]) & Booking.checked_in_at.is_not_null()
        )
        watched = await ViewTally.exists().where(
            (ViewTally.session_id == row["id"]) & (ViewTally.center_views > 0)
        )
        if not (checked_in or watched):
            continue
        if await live.go_live(row["id"], row["starts_at"]):
            await live.end_stream(row["id"], row["ends_at"])
            held.append(row["id"])
    if held:
        log.info("sessions %s held by rule (check-ins or center-screen views)", held)
    return held


async def hold_by_rule_job(ctx: JobContext) -> None:
    await hold_by_rule(ctx)


class PackPayload(msgspec.Struct):
    center_id: int
    week: str


async def build_pack(ctx: JobContext) -> None:
    payload: PackPayload = ctx.payload
    pack = await packs.build(payload.center_id, packs.week_of(payload.week), ctx.storage)
    log.info("pack of center %d, week %s: %d files", payload.center_id, payload.week, pack["files"])


async def queue_packs(ctx: JobContext) -> None:
    queued = await packs.queue_due(ctx.settings, datetime.now(UTC))
    if queued:
        log.info("lesson packs queued: %s", queued)


async def classroom_retention(ctx: JobContext) -> None:
    """Classroom messages and photos older than ``classroom_retention_days`` go."""
    gone = await classroom.prune(ctx.settings.classroom_retention_days, ctx.storage)
    if gone:
        log.info("classroom retention: deleted %s messages", gone)


CORE_KINDS: tuple[JobKind, ...] = (
    JobKind(exports.EXPORT_JOB, export, cpu=True, payload=ExportPayload),
    JobKind(
        jobs.PUBLISH_REPORT,
        publish_report,
        RetryPolicy(max_attempts=8, base_seconds=30, cap_seconds=3600),
        cpu=True,
        payload=ReportPayload,
    ),
    JobKind(END_OVERDUE, end_overdue, PERIODIC_POLICY, payload=NoPayload, every=1.0),
    JobKind(ARCHIVE_FINISHED, archive_finished, PERIODIC_POLICY, payload=NoPayload, every=1.0),
    JobKind(QUEUE_REPORTS, queue_reports, PERIODIC_POLICY, payload=NoPayload, every=1.0),
    JobKind(HOLD_BY_RULE, hold_by_rule_job, PERIODIC_POLICY, payload=NoPayload, every=30.0),
    JobKind(
        materials.MATERIAL_PREVIEW,
        previews.make_preview,
        RetryPolicy(max_attempts=3, base_seconds=10, cap_seconds=300),
        cpu=True,
        payload=previews.PreviewPayload,
    ),
    JobKind(
        packs.BUILD_PACK,
        build_pack,
        RetryPolicy(max_attempts=4, base_seconds=30, cap_seconds=900),
        cpu=True,
        payload=PackPayload,
    ),
    JobKind(QUEUE_PACKS, queue_packs, PERIODIC_POLICY, payload=NoPayload, every=3600.0),
    JobKind(
        CLASSROOM_RETENTION, classroom_retention, PERIODIC_POLICY, payload=NoPayload, every=3600.0
    ),
    *NOTIFY_KINDS,
)
