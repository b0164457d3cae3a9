"""Charity reporters through the plugin host: workbook, printable page, IATI file (validated
against the IATI 2.03 schema), the signed webhook with retries, and the monthly schedule."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from hub import reporting
from hub.errors import Invalid
from hub.impact import Period
from hub.plugin_host import PluginHost
from hub.storage import storage_for
from hub.tables import ImpactReport, Job
from tests.conftest import World, app_plugins, app_settings, reseeded
from tests.test_exports import read_xlsx
from tests.test_impact import DAY, TZ, make_programme

pytestmark = pytest.mark.cross_process


@pytest.fixture
async def world(module_client: World) -> World:
    return await reseeded(module_client)


@pytest.fixture
async def programme(world: World) -> dict[str, Any]:
    return await make_programme(world)


IATI = Path(__file__).resolve().parent / "data" / "iati-2.03"
"""The official IATI 2.03 schemas, kept in the repository (see its README)."""
PERIOD = {"from": str(DAY), "to": str(DAY + timedelta(days=13))}


async def make(world: World, reporter: str) -> tuple[dict[str, Any], bytes]:
    r = await world.post("/api/v1/reports", {"reporter": reporter, **PERIOD}, who="admin")
    assert r.status_code == 201, r.text
    report = r.json()
    file = await world.get(f"/api/v1/reports/{report['id']}/file", who="admin")
    assert file.status_code == 200
    assert file.headers["content-type"].count("charset") <= 1, file.headers["content-type"]
    return report, file.content


async def test_reporters_are_plugins(world: World) -> None:
    r = await world.get("/api/v1/reporters", who="admin")
    assert r.status_code == 200
    names = {x["name"]: x for x in r.json()}
    assert set(names) >= {"impact_workbook", "impact_printable", "iati_activity", "webhook"}
    assert names["webhook"]["publishes"] and not names["impact_workbook"]["publishes"]
    assert (await world.get("/api/v1/reporters", who="teacher")).status_code == 403
    records = {p.name: p for p in app_plugins(world).listing()}
    assert records["iati_activity"].reporters == ["iati_activity"]


async def test_every_report_is_kept_with_its_figures(
    world: World, programme: dict[str, Any]
) -> None:
    impact = (await world.get(f"/api/v1/impact?from={PERIOD['from']}&to={PERIOD['to']}")).json()
    report, body = await make(world, "impact_printable")
    assert report["totals"] == impact["totals"]
    figures = (await world.get(f"/api/v1/reports/{report['id']}/figures", who="admin")).json()
    assert figures["totals"] == impact["totals"]
    assert figures["period"]["start"] == PERIOD["from"]
    stored = storage_for(app_settings(world))
    assert await stored.get_bytes(report["storage_key"]) == body
    assert report["storage_key"].startswith(f"reports/{PERIOD['from']}_{PERIOD['to']}/")
    listed = (await world.get("/api/v1/reports", who="admin")).json()
    assert [x["id"] for x in listed] == [report["id"]]
    r = await world.post("/api/v1/reports", {"reporter": "nope", **PERIOD}, who="admin")
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "reporter"
    r = await world.post(
        "/api/v1/reports",
        {"reporter": "impact_printable", "from": PERIOD["to"], "to": PERIOD["from"]},
        who="admin",
    )
    assert r.status_code == 400


async def test_workbook(world: World, programme: dict[str, Any]) -> None:
    report, body = await make(world, "impact_workbook")
    summary = read_xlsx(body, sheet=1)
    values = {row[1]: row[2] for row in summary[4:] if len(row) >= 3}
    assert (
        float(values["Child visits (check-in head counts)"])
        == report["totals"]["children_served"]
        == 91
    )
    assert float(values["Online views"]) == report["totals"]["online_views"]
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        names = z.namelist()
        assert any(n.startswith("xl/charts/chart") for n in names)
        sheets = z.read("xl/workbook.xml").decode()
    for title in ("概览 Summary", "省份 Provinces", "教师 Teachers", "签到明细 Attendance"):
        assert title in sheets
    attendance = read_xlsx(body, sheet=7)
    assert len(attendance) == 1 + 6


async def test_printable_report(world: World, programme: dict[str, Any]) -> None:
    _, body = await make(world, "impact_printable")
    html = body.decode()
    assert "<svg" in html and "<script" not in html
    assert "线下服务儿童人次" in html and "Child visits (check-in head counts)" in html
    assert "91" in html and "云南省" in html
    plugin = app_plugins(world).reporters["impact_printable"]
    model = plugin.settings_model
    data = await reporting.report_data(Period.of(DAY, DAY + timedelta(13), TZ), app_settings(world))
    english = plugin.render(data, model(language="en")).decode()
    assert "Child visits (check-in head counts)" in english and "线下服务儿童" not in english
    assert '<html lang="en">' in english


def iati_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(IATI / "iati-activities-schema.xsd")))


async def test_iati_activity_file_is_valid(world: World, programme: dict[str, Any]) -> None:
    _, body = await make(world, "iati_activity")
    document = etree.fromstring(body)
    schema = iati_schema()
    assert schema.validate(document), schema.error_log
    actual = {
        r.findtext("title/narrative"): r.find("indicator/period/actual").get("value")
        for r in document.iter("result")
    }
    assert actual["共享中心线下服务儿童人次（签到人数之和）"] == "91"
    assert actual["覆盖儿童（举办课程的共享中心登记人数）"] == "0"  # no enrolment recorded
    assert actual["直播课次"] == "4"
    baselines = [b.get("value") for b in document.iter("baseline")]
    assert baselines == ["0"] * 6  # nothing before the first class
    links = document.findall(".//document-link")
    assert [link.get("url") for link in links] == ["http://testserver.local/impact/method"]
    assert len(document.findall(".//location")) == 2
    # a broken file is refused by the same check: the test can fail
    document.find(".//iati-identifier").getparent().remove(document.find(".//iati-identifier"))
    assert not schema.validate(document)


class Receiver:
    """A charity platform: answers each POST with the next status, records what came."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([503])
    yield r
    r.close()


SECRET = "webhook-secret-0123456789"


@pytest.mark.in_process("runs the publish job here with a webhook only this process knows")
@pytest.mark.parametrize(
    "url",
    [
        "RECEIVER",  # the loopback receiver itself, not on the allow list
        "http://localhost:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
    ],
)
async def test_webhook_sends_to_public_addresses_only(
    world: World, programme: dict[str, Any], receiver: Receiver, url: str
) -> None:
    """Issue 16.12: the webhook's URL follows the rule for addresses fetched on someone's
    word; publishing to an internal one fails for good, naming ``url``, and sends nothing."""
    url = receiver.url if url == "RECEIVER" else url
    options = {"webhook": {"url": url, "secret": SECRET}}  # http(s) only: its settings say so
    settings = replace(app_settings(world), plugin_options=options)
    plugins = PluginHost(settings)
    period = Period.of(DAY, DAY + timedelta(days=13), TZ)
    report = await reporting.generate("webhook", period, plugins, settings)
    job = await Job.select().where(Job.dedupe_key == f"publish-report-{report.id}").first()
    payload = job["payload"] if isinstance(job["payload"], dict) else json.loads(job["payload"])
    with pytest.raises(Invalid) as refused:
        await reporting.run_publish_job(payload, plugins, settings)
    assert refused.value.field == "url"
    assert receiver.requests == []


@pytest.mark.in_process(
    "runs the publish job here with a webhook only this process knows (a worker would take it)"
)
async def test_webhook_is_signed_and_retried_until_accepted(
    world: World, programme: dict[str, Any], receiver: Receiver
) -> None:
    settings = replace(
        app_settings(world),
        plugin_options={"webhook": {"url": receiver.url, "secret": SECRET}},
        pull_allow="127.0.0.1/32",  # the receiver is on loopback: the admin allows it
    )
    plugins = PluginHost(settings)
    period = Period.of(DAY, DAY + timedelta(days=13), TZ)
    report = await reporting.generate("webhook", period, plugins, settings)
    assert report.publish_state == "pending"
    job = await Job.select().where(Job.dedupe_key == f"publish-report-{report.id}").first()
    assert job is not None and job["kind"] == "publish-report"
    payload = job["payload"] if isinstance(job["payload"], dict) else json.loads(job["payload"])
    with pytest.raises(RuntimeError, match="503"):
        await reporting.run_publish_job(payload, plugins, settings)
    state = await ImpactReport.select().where(ImpactReport.id == report.id).first()
    assert state["publish_state"] == "retrying" and state["publish_attempts"] == 1
    await reporting.run_publish_job(payload, plugins, settings)
    await reporting.run_publish_job(payload, plugins, settings)  # done: nothing is sent again
    assert len(receiver.requests) == 2
    (h1, b1), (h2, b2) = receiver.requests
    assert b1 == b2 and h1["Idempotency-Key"] == h2["Idempotency-Key"]
    for headers, body in receiver.requests:
        stamp = headers["X-Sharehub-Timestamp"]
        mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        assert headers["X-Sharehub-Signature"] == "sha256=" + mac.hexdigest()
    sent = json.loads(b1)
    assert sent["totals"]["children_served"] == 91 and sent["report_id"] == report.id
    done = await reporting.get_report(report.id)
    assert done.publish_state == "published" and done.published_at is not None


@pytest.mark.in_process("loads plugins in this process, no request")
async def test_reporter_settings_are_validated(world: World) -> None:
    base = app_settings(world)
    for options, error in (
        ({"impact_workbook": {"colour": "red"}}, "colour"),
        ({"webhook": {"url": "ftp://x", "secret": SECRET}}, "url"),
        ({"webhook": {"url": "https://x.example/h", "secret": "short"}}, "secret"),
        ({"impact_printable": {"language": "fr"}}, "language"),
    ):
        host = PluginHost(replace(base, plugin_options=options))
        name = next(iter(options))
        record = host.plugins[name]
        assert record.state == "failed", options
        assert name in (record.error or "") and error in (record.error or "")
        assert name not in host.reporters


@pytest.mark.in_process(
    "drives the monthly schedule here (the cluster's workers have it off: their tick would add"
    " reports to every test)"
)
async def test_monthly_reports_are_made_once(world: World, programme: dict[str, Any]) -> None:
    settings, plugins = app_settings(world), app_plugins(world)
    now = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)  # early November in Beijing: October is due
    made = await reporting.enqueue_due_reports(now, plugins, settings)
    monthly = reporting.monthly_reporters(plugins)
    assert made == len(monthly) >= 3 and "webhook" not in monthly
    assert await reporting.enqueue_due_reports(now, plugins, settings) == 0
    assert await reporting.enqueue_due_reports(now + timedelta(days=10), plugins, settings) == 0
    rows = await ImpactReport.select().where(ImpactReport.trigger == "schedule").run()
    assert {(r["reporter"], str(r["period_start"]), str(r["period_end"])) for r in rows} == {
        (name, "2026-10-01", "2026-10-31") for name in monthly
    }
    october = next(r for r in rows if r["reporter"] == "impact_printable")
    assert october["figures"]  # kept with the figures
    # a second scheduled generation of the same month is refused by the database
    with pytest.raises(reporting.Conflict):
        await reporting.generate(
            "impact_printable",
            Period.month(2026, 10, TZ),
            plugins,
            settings,
            trigger="schedule",
        )


async def test_a_report_for_days_to_come_is_refused(world: World) -> None:
    today = datetime.now(TZ).date()
    for start, end in ((today, today + timedelta(days=1)), (today + timedelta(days=30),) * 2):
        r = await world.post(
            "/api/v1/reports",
            {"reporter": "impact_printable", "from": str(start), "to": str(end)},
            who="admin",
        )
        assert r.status_code == 400, r.text
        assert r.json()["extra"][0]["key"] == "to"
    r = await world.post(
        "/api/v1/reports",
        {"reporter": "impact_printable", "from": str(today), "to": str(today)},
        who="admin",
    )
    assert r.status_code == 201, r.text
