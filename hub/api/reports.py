"""Charity reports: generate with a reporter plugin, list, download, publish (administrators)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post

from hub import reporting
from hub.accounts import Principal
from hub.api.common import PathId, need
from hub.auth import admin_only
from hub.errors import Invalid
from hub.impact import Period
from hub.plugin_host import PluginHost
from hub.reporting import ReportOut
from hub.schedule import zone
from hub.settings import Settings

ReporterName = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")]


class ReportIn(msgspec.Struct, forbid_unknown_fields=True, rename={"date_from": "from"}):
    reporter: ReporterName
    date_from: date
    to: date


class ReporterOut(msgspec.Struct):
    name: str
    label: str
    media_type: str
    publishes: bool
    monthly: bool


class PublishOut(msgspec.Struct):
    id: int
    publish_state: str


class ReportController(Controller):
    path = "/api/v1"
    tags = ["reports"]
    guards = [admin_only]

    @get("/reporters")
    async def reporters(self, plugins: PluginHost) -> list[ReporterOut]:
        """The reporter plugins loaded, and whether each publishes and runs monthly."""
        monthly = set(reporting.monthly_reporters(plugins))
        return [
            ReporterOut(
                name=name,
                label=r.label,
                media_type=getattr(r, "media_type", "application/octet-stream"),
                publishes=r.publishes,
                monthly=name in monthly,
            )
            for name, r in sorted(plugins.reporters.items())
        ]

    @post("/reports", status_code=201)
    async def create(
        self, data: ReportIn, plugins: PluginHost, settings: Settings, principal: Principal | None
    ) -> ReportOut:
        """Make a report for the days ``from``..``to`` (hub time zone); it is kept with the
        figures it was made from, and queued for publishing when the reporter publishes."""
        if data.to < data.date_from:
            raise Invalid("'to' must not be before 'from'", field="to")
        period = Period.of(data.date_from, data.to, zone(settings.timezone))
        return await reporting.generate(
            data.reporter, period, plugins, settings, user_id=need(principal).user_id
        )

    @get("/reports")
    async def list_reports(self, reporter: str | None = None) -> list[ReportOut]:
        """The latest reports (at most 100), newest first."""
        return await reporting.list_reports(reporter)

    @get("/reports/{report_id:int}")
    async def get_report(self, report_id: PathId) -> ReportOut:
        return await reporting.get_report(report_id)

    @get("/reports/{report_id:int}/file")
    async def file(self, report_id: PathId, settings: Settings) -> Response[bytes]:
        """The report document as it was made."""
        report, body = await reporting.document(report_id, settings)
        name = report.storage_key.rsplit("/", 1)[-1]
        return Response(
            body,
            media_type=report.content_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @get("/reports/{report_id:int}/figures")
    async def figures(self, report_id: PathId, settings: Settings) -> Any:
        """The figures the report was made from (as kept in storage)."""
        from hub.storage import storage_for

        report = await reporting.get_report(report_id)
        return msgspec.json.decode(await storage_for(settings).get_bytes(report.figures_key))

    @post("/reports/{report_id:int}/publish", status_code=202)
    async def publish(
        self, report_id: PathId, plugins: PluginHost, settings: Settings
    ) -> PublishOut:
        """Publish (again) through the reporter; queued as a job when the queue exists."""
        report = await reporting.get_report(report_id)
        reporter = plugins.reporter(report.reporter)
        if not reporter.publishes:
            raise Invalid(f"reporter {reporter.name} does not publish", field="reporter")
        if report.publish_state == "published":
            return PublishOut(id=report_id, publish_state="published")
        state = await reporting.queue_publish(report_id, plugins, settings)
        return PublishOut(id=report_id, publish_state=state)
