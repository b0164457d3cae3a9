"""Charity reports: the reporter contract, report generation, keeping and publishing.

A reporter (registered by a plugin through ``register_reporters``) turns a ``ReportData`` —
the impact figures of a period from ``hub.impact`` (the one figures service), broken down by
province, center, teacher, course and month, with the attendance detail rows — into one
document, and may publish it. Every generated report is kept in storage
(``reports/<start>_<end>/<reporter>-<id>.<ext>``) next to the JSON figures it was made from,
and listed in the ``impact_report`` table.

Publishing runs as a job (kind ``publish-report`` in ``hub.jobs``), retried with back-off
until the reporter's ``publish`` returns; ``run_publish_job`` is that job's handler.
Reports are made on demand and monthly (``enqueue_due_reports``: one per reporter per month,
made safe across workers by a unique index).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Protocol, runtime_checkable

import msgspec

from hub import jobs
from hub.errors import Conflict, DomainError, Invalid, NotFound
from hub.exports import Dataset, Filters, headers, lesson_rollup, rows
from hub.impact import FAR_PAST, GroupBy, Impact, Period, compute
from hub.notify.outbox import safely_raise
from hub.plugin_host import PluginHost
from hub.schedule import zone
from hub.settings import Settings
from hub.storage import storage_for
from hub.tables import ImpactReport, JobState

log = logging.getLogger("sharehub.reports")

DETAIL_ROWS_MAX = 50_000
"""Reports carry at most this many attendance rows (the export has them all)."""
MONTHS_MAX = 36
PUBLISH_JOB = "publish-report"

FIGURE_LABELS: dict[str, tuple[str, str]] = {
    "centers_active": ("活跃共享中心", "Share-centers active"),
    "teachers_taught": ("授课教师", "Teachers who taught"),
    "sessions_held": ("直播课次", "Live sessions held"),
    "courses_held": ("课程", "Courses held"),
    "online_views": ("线上观看", "Online views"),
    "live_views": ("直播观看", "Live views"),
    "replay_views": ("回放观看", "Replay views"),
    "center_screen_views": ("中心屏幕观看", "Center-screen views"),
    "unique_viewers": ("独立观众", "Unique viewers"),
    "peak_concurrent": ("最高同时在线", "Peak concurrent viewers"),
    "children_served": ("线下服务儿童人次", "Child visits (check-in head counts)"),
    "children_reached": ("覆盖儿童（中心登记人数）", "Children reached (centers' enrolment)"),
    "bookings": ("预约", "Bookings"),
    "checked_in": ("签到", "Check-ins"),
    "bookings_ended": ("已结束课次的预约", "Bookings of classes held and ended"),
    "checked_in_ended": ("其中签到", "Of which checked in"),
    "attendance_rate": ("到课率", "Center-attendance rate"),
    "teaching_hours": ("授课小时", "Teaching hours"),
    "live_hours_watched": ("直播观看小时", "Live hours watched"),
    "replay_hours_watched": ("回放观看小时", "Replay hours watched"),
    "provinces_reached": ("覆盖省份", "Provinces reached"),
    "counties_reached": ("覆盖县", "Counties reached"),
    "volunteer_hours": ("志愿服务小时", "Volunteer hours"),
    "volunteers_active": ("有服务记录的志愿教师", "Volunteer teachers active"),
}
"""Every figure's name in Chinese and English, the same in every report."""


@dataclass
class ReportData:
    """What a reporter gets: the figures of a period and (for a reporter with
    ``needs_detail = True``) its attendance rows."""

    period: Period
    generated_at: datetime
    programme: str
    public_url: str
    impact: Impact
    by_group: dict[str, Impact]
    monthly: list[tuple[str, Impact]]
    attendance_headers: list[str]
    attendance: list[list[Any]]
    attendance_truncated: bool = False
    lessons: list[Any] = field(default_factory=list)
    """The lesson delivery record per center per term (``hub.exports.lesson_rollup``)."""
    baseline: Impact | None = None
    """The figures of everything before the period (None when nothing can precede it)."""
    report_id: int | None = None
    detail_loaded: bool = False

    def figures_document(self) -> dict[str, Any]:
        """The figures as kept next to the report (and as the webhook sends them)."""
        return {
            "programme": self.programme,
            "period": {
                "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(),
                "timezone": self.period.tz.key,
            },
            "generated_at": self.generated_at.isoformat(),
            "report_id": self.report_id,
            "totals": msgspec.to_builtins(self.impact.totals),
            "by": {
                name: msgspec.to_builtins(impact.groups) for name, impact in self.by_group.items()
            },
            "monthly": [
                {"month": month, **msgspec.to_builtins(impact.totals)}
                for month, impact in self.monthly
            ],
        }


@runtime_checkable
class Reporter(Protocol):
    """A charity reporter. ``settings_model`` is a msgspec Struct with
    ``forbid_unknown_fields=True`` filled from ``SHAREHUB_PLUGIN__<NAME>__<KEY>``.

    ``render(data, options)`` returns the document's bytes (or an awaitable of them). A
    reporter that publishes also has ``async publish(figures=, document=, options=, key=,
    settings=)`` (``figures`` as kept with the report), which raises until the receiver
    accepted; ``key`` is the idempotency key, the same on every retry of one report;
    ``settings`` are the hub's (an address it sends to goes through ``hub.outbound``)."""

    name: str
    label: str
    media_type: str
    extension: str
    settings_model: ClassVar[type[msgspec.Struct]] | type[msgspec.Struct]

    needs_detail: ClassVar[bool]
    publishes: ClassVar[bool]

    def render(self, data: ReportData, options: Any) -> bytes | Awaitable[bytes]: ...

    async def publish(
        self,
        *,
        figures: dict[str, Any],
        document: bytes,
        options: Any,
        key: str,
        settings: Settings,
    ) -> None: ...


class ReportOut(msgspec.Struct):
    id: int
    reporter: str
    period_start: date
    period_end: date
    trigger: str
    storage_key: str
    figures_key: str
    content_type: str
    size: int
    publish_state: str
    publish_attempts: int
    publish_error: str
    published_at: datetime | None
    created_at: datetime
    totals: dict[str, Any] = msgspec.field(default_factory=dict)


def report_out(row: dict[str, Any]) -> ReportOut:
    figures = row.get("figures") or {}
    if isinstance(figures, str):
        figures = msgspec.json.decode(figures)
    return ReportOut(
        id=row["id"],
        reporter=row["reporter"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        trigger=row["trigger"],
        storage_key=row["storage_key"],
        figures_key=row["figures_key"],
        content_type=row["content_type"],
        size=row["size"],
        publish_state=row["publish_state"],
        publish_attempts=row["publish_attempts"],
        publish_error=row["publish_error"],
        published_at=row["published_at"],
        created_at=row["created_at"],
        totals=figures.get("totals", {}),
    )


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _months(period: Period) -> list[Period]:
    out: list[Period] = []
    year, month = period.start.year, period.start.month
    while len(out) < MONTHS_MAX:
        m = Period.month(year, month, period.tz)
        if m.start > period.end:
            break
        out.append(Period(max(m.start, period.start), min(m.end, period.end), period.tz))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


async def report_data(period: Period, settings: Settings) -> ReportData:
    """Everything a reporter needs, all from ``hub.impact`` (detail rows: ``load_detail``)."""
    impact = await compute(period)
    lessons = await lesson_rollup(period.tz, today=period.end)
    by_group = {g.value: await compute(period, g) for g in GroupBy}
    monthly = [(m.start.strftime("%Y-%m"), await compute(m)) for m in _months(period)]
    baseline = None
    if period.start > FAR_PAST:
        baseline = await compute(Period(FAR_PAST, period.start - timedelta(days=1), period.tz))
    return ReportData(
        period=period,
        generated_at=datetime.now(UTC),
        programme=settings.programme_name or "Sharehub",
        public_url=settings.public_url,
        impact=impact,
        lessons=lessons,
        by_group=by_group,
        monthly=monthly,
        attendance_headers=headers(Dataset.attendance, period.tz),
        attendance=[],
        baseline=baseline,
    )


async def load_detail(data: ReportData) -> None:
    """The attendance rows of the period (at most ``DETAIL_ROWS_MAX``; the export has all),
    for reporters that say ``needs_detail = True``."""
    if data.detail_loaded:
        return
    detail: list[Any] = []
    async for batch in rows(Dataset.attendance, Filters(period=data.period)):
        detail.extend(batch)
        if len(detail) >= DETAIL_ROWS_MAX:
            data.attendance_truncated = len(detail) > DETAIL_ROWS_MAX
            detail = detail[:DETAIL_ROWS_MAX]
            break
    data.attendance = detail
    data.detail_loaded = True


def _keys(reporter: Any, period: Period, report_id: int) -> tuple[str, str]:
    folder = f"reports/{period.start}_{period.end}"
    base = f"{folder}/{reporter.name}-{report_id}"
    return f"{base}.{reporter.extension}", f"{base}.figures.json"


async def generate(
    reporter_name: str,
    period: Period,
    plugins: PluginHost,
    settings: Settings,
    *,
    trigger: str = "manual",
    user_id: int | None = None,
    data: ReportData | None = None,
) -> ReportOut:
    """Make one report, keep it and its figures in storage, and queue its publishing.

    With ``trigger="schedule"`` a second report of the same reporter and month is refused
    (409; the unique index decides between racing workers)."""
    reporter = plugins.reporter(reporter_name)
    today = datetime.now(period.tz).date()
    if period.end > today:
        raise Invalid(
            f"a report covers days that have passed: 'to' ({period.end}) is after today ({today})",
            field="to",
        )
    options = plugins.reporter_options[reporter.name]
    try:
        inserted = await ImpactReport.insert(
            ImpactReport(
                reporter=reporter.name,
                period_start=period.start,
                period_end=period.end,
                trigger=trigger,
                content_type=reporter.media_type,
                created_by=user_id,
                publish_state="generating",
            )
        ).run()
    except Exception as exc:
        if trigger == "schedule" and "unique" in str(exc).lower():
            raise Conflict(
                f"the {reporter.name} report of {period.start:%Y-%m} exists already",
                field="period",
            ) from None
        raise
    report_id = int(inserted[0]["id"])
    try:
        if data is None or data.period != period:
            data = await report_data(period, settings)
        if reporter.needs_detail:
            await load_detail(data)
        data.report_id = report_id
        document = await maybe_await(reporter.render(data, options))
        figures = data.figures_document()
        key, figures_key = _keys(reporter, period, report_id)
        storage = storage_for(settings)
        await storage.put_bytes(figures_key, msgspec.json.encode(figures))
        size = await storage.put_bytes(key, document)
    except BaseException:
        await ImpactReport.delete().where(ImpactReport.id == report_id).run()
        raise
    publishes = reporter.publishes
    await (
        ImpactReport.update(
            {
                ImpactReport.storage_key: key,
                ImpactReport.figures_key: figures_key,
                ImpactReport.size: size,
                ImpactReport.figures: figures,
                ImpactReport.publish_state: "pending" if publishes else "none",
            }
        )
        .where(ImpactReport.id == report_id)
        .run()
    )
    if publishes:
        await queue_publish(report_id, plugins, settings)
    return await get_report(report_id)


async def get_report(report_id: int) -> ReportOut:
    row = await ImpactReport.select().where(ImpactReport.id == report_id).first().run()
    if row is None:
        raise NotFound(f"report {report_id} not found", field="report_id")
    return report_out(row)


async def list_reports(reporter: str | None = None, limit: int = 100) -> list[ReportOut]:
    query = ImpactReport.select().order_by(ImpactReport.id, ascending=False).limit(limit)
    if reporter:
        query = query.where(ImpactReport.reporter == reporter)
    return [report_out(r) for r in await query.run()]


async def document(report_id: int, settings: Settings) -> tuple[ReportOut, bytes]:
    report = await get_report(report_id)
    if not report.storage_key:
        raise Conflict(f"report {report_id} is still being made", field="report_id")
    return report, await storage_for(settings).get_bytes(report.storage_key)


# ------------------------------------------------------------------------------ publishing


async def queue_publish(report_id: int, plugins: PluginHost, settings: Settings) -> str:
    """Queue the publishing of a report as a ``publish-report`` job (one per report: asking
    again reopens a finished or failed one). Returns the report's publish state."""
    await jobs.enqueue(
        jobs.PUBLISH_REPORT,
        {"report_id": report_id},
        dedupe_key=f"publish-report-{report_id}",
        reopen=(JobState.succeeded, JobState.failed, JobState.cancelled),
    )
    await (
        ImpactReport.update({ImpactReport.publish_state: "pending"})
        .where((ImpactReport.id == report_id) & (ImpactReport.publish_state != "published"))
        .run()
    )
    return "pending"


def idempotency_key(report_id: int, settings: Settings) -> str:
    """The same for every retry of one report, different between hubs."""
    import hashlib

    digest = hashlib.sha256(f"{settings.public_url}|{report_id}".encode()).hexdigest()[:16]
    return f"sharehub-report-{report_id}-{digest}"


async def run_publish_job(payload: dict[str, Any], plugins: PluginHost, settings: Settings) -> None:
    """The ``publish-report`` job: publish one kept report. Raises to be retried later; a
    report published already is left alone (a retry after success does nothing)."""
    report_id = int(payload["report_id"])
    row = await ImpactReport.select().where(ImpactReport.id == report_id).first().run()
    if row is None:
        log.warning("publish job for report %s: the report is gone", report_id)
        return
    if row["publish_state"] == "published":
        return
    reporter = plugins.reporter(row["reporter"])
    if not reporter.publishes:
        raise Invalid(f"reporter {reporter.name} does not publish", field="reporter")
    storage = storage_for(settings)
    body = await storage.get_bytes(row["storage_key"])
    figures = msgspec.json.decode(await storage.get_bytes(row["figures_key"]))
    await (
        ImpactReport.update({ImpactReport.publish_attempts: ImpactReport.publish_attempts + 1})
        .where(ImpactReport.id == report_id)
        .run()
    )
    try:
        await maybe_await(
            reporter.publish(
                figures=figures,
                document=body,
                options=plugins.reporter_options[reporter.name],
                key=idempotency_key(report_id, settings),
                settings=settings,
            )
        )
    except Exception as exc:
        # a refusal (no address, an address not allowed) fails for good; others are retried
        await (
            ImpactReport.update(
                {
                    ImpactReport.publish_state: "failed"
                    if isinstance(exc, DomainError)
                    else "retrying",
                    ImpactReport.publish_error: str(exc)[:2000],
                }
            )
            .where(ImpactReport.id == report_id)
            .run()
        )
        await safely_raise(  # once per report: the administrators learn it failed
            "report_failed",
            f"report_failed:{report_id}",
            facts={"title": f"{row['reporter']} #{report_id}", "error": str(exc)[:300]},
        )
        raise
    await (
        ImpactReport.update(
            {
                ImpactReport.publish_state: "published",
                ImpactReport.publish_error: "",
                ImpactReport.published_at: datetime.now(UTC),
            }
        )
        .where(ImpactReport.id == report_id)
        .run()
    )


# ------------------------------------------------------------------------------ monthly


def last_month(now: datetime, settings: Settings) -> Period:
    tz = zone(settings.timezone)
    first_this = now.astimezone(tz).date().replace(day=1)
    previous = first_this - timedelta(days=1)
    return Period.month(previous.year, previous.month, tz)


def monthly_reporters(plugins: PluginHost) -> list[str]:
    """Reporters that run monthly: every one whose settings do not say ``monthly=false``."""
    return [
        name
        for name in sorted(plugins.reporters)
        if getattr(plugins.reporter_options.get(name), "monthly", True)
    ]


async def enqueue_due_reports(now: datetime, plugins: PluginHost, settings: Settings) -> int:
    """Make last month's report for each monthly reporter that has none yet; returns how many
    were made. Safe to call every tick from several workers (one per reporter per month)."""
    period = last_month(now, settings)
    made = 0
    data: ReportData | None = None  # made once, for every reporter due
    for name in monthly_reporters(plugins):
        exists = await ImpactReport.exists().where(
            (ImpactReport.reporter == name)
            & (ImpactReport.period_start == period.start)
            & (ImpactReport.trigger == "schedule")
        )
        if exists:
            continue
        try:
            data = data or await report_data(period, settings)
            await generate(name, period, plugins, settings, trigger="schedule", data=data)
            made += 1
        except Conflict:
            continue  # another worker made it
        except Exception:
            log.exception("monthly %s report for %s failed", name, period.start)
    return made
