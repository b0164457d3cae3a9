"""Attendance and view-statistics exports: CSV (BOM, streamed) and XLSX, filters, admin only,
and the background export for large files."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from hub import exports
from hub.exports import Dataset, Filters, Format
from hub.impact import Period
from tests.conftest import World, app_settings, jobs_finished, reseeded
from tests.test_impact import DAY, TZ, make_programme

pytestmark = pytest.mark.cross_process


@pytest.fixture
async def world(module_client: World) -> World:
    return await reseeded(module_client)


@pytest.fixture
async def programme(world: World) -> dict[str, Any]:
    return await make_programme(world)


TWO_WEEKS = f"from={DAY}&to={DAY + timedelta(days=13)}"
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode()), "UTF-8 BOM first, for Excel"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def _column(ref: str) -> int:
    n = 0
    for ch in ref:
        if not ch.isalpha():
            break
        n = n * 26 + ord(ch) - 64
    return n - 1


def read_xlsx(body: bytes, sheet: int = 1) -> list[list[str]]:
    """Cell texts of one sheet (shared or inline strings, numbers as written; cells not
    written are empty strings)."""
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        shared: list[str] = []
        if "xl/sharedStrings.xml" in z.namelist():
            root = etree.fromstring(z.read("xl/sharedStrings.xml"))
            shared = ["".join(si.itertext()) for si in root.findall("m:si", NS)]
        root = etree.fromstring(z.read(f"xl/worksheets/sheet{sheet}.xml"))
    out = []
    for row in root.iter(f"{{{NS['m']}}}row"):
        cells: list[str] = []
        for c in row.findall("m:c", NS):
            kind = c.get("t")
            if kind == "s":
                text = shared[int(c.findtext("m:v", namespaces=NS))]
            elif kind == "inlineStr":
                text = "".join(c.find("m:is", NS).itertext())
            else:
                text = c.findtext("m:v", default="", namespaces=NS)
            index = _column(c.get("r", ""))
            cells += [""] * (index - len(cells))
            cells.append(text)
        out.append(cells)
    return out


def excel_time(serial: str) -> str:
    """An XLSX date cell's number as the CSV writes the local time (or day)."""
    moment = datetime(1899, 12, 30) + timedelta(days=float(serial))
    moment = (moment + timedelta(seconds=30)).replace(second=0, microsecond=0)
    return moment.strftime("%Y-%m-%d %H:%M") if float(serial) % 1 else moment.strftime("%Y-%m-%d")


async def test_attendance_csv(world: World, programme: dict[str, Any]) -> None:
    r = await world.get(f"/api/v1/exports/attendance.csv?{TWO_WEEKS}", who="admin")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-type"].count("charset") == 1, r.headers["content-type"]
    assert "attachment" in r.headers["content-disposition"]
    rows = read_csv(r.content)
    assert rows[0] == exports.headers(Dataset.attendance, TZ)
    body = rows[1:]
    assert len(body) == 6  # every booking of a session not cancelled
    children = sorted(int(row[13]) for row in body if row[13])
    assert children == [12, 20, 28, 31]
    assert {row[0] for row in body} == {"镇雄共享中心", "威宁共享中心"}
    assert all(row[5].startswith("2026-10-") for row in body)  # local times, as text
    first = body[0]
    assert first[5] == "2026-10-12 09:00" and first[8] == "数学直播课"


async def test_filters(world: World, programme: dict[str, Any]) -> None:
    async def count(query: str) -> int:
        r = await world.get(f"/api/v1/exports/attendance.csv?{TWO_WEEKS}&{query}", who="admin")
        assert r.status_code == 200, r.text
        return len(read_csv(r.content)) - 1

    assert await count("province=云南省") == 4
    assert await count(f"center_id={programme['c2']}") == 2
    assert await count(f"teacher_id={world.ids['teacher2_id']}") == 2
    assert await count(f"teacher_id={world.ids['teacher2_id']}&province=云南省") == 1
    r = await world.get(f"/api/v1/exports/attendance.csv?from={DAY}&to={DAY}", who="admin")
    assert len(read_csv(r.content)) - 1 == 2


async def test_view_statistics(world: World, programme: dict[str, Any]) -> None:
    r = await world.get(f"/api/v1/exports/views.csv?{TWO_WEEKS}", who="admin")
    rows = read_csv(r.content)
    assert rows[0] == exports.headers(Dataset.views, TZ)
    by_day = {(row[0], row[4]): row for row in rows[1:]}
    s1 = str(programme["s"][0])
    first = by_day[(s1, str(DAY))]
    assert first[5:9] == ["8", "0", "1", "8"]  # live, replay, center screen, unique
    later = by_day[(s1, str(DAY + timedelta(days=5)))]
    assert later[5:9] == ["0", "4", "0", "4"]
    assert float(later[10]) == pytest.approx(4 * 30 / 3600, abs=0.001)
    # the sum of the rows is the impact service's figure
    impact = (await world.get(f"/api/v1/impact?{TWO_WEEKS}")).json()["totals"]
    assert sum(int(row[5]) + int(row[6]) for row in rows[1:]) == impact["online_views"]


async def test_xlsx_matches_csv(world: World, programme: dict[str, Any]) -> None:
    for dataset in ("attendance", "views"):
        x = await world.get(f"/api/v1/exports/{dataset}.xlsx?{TWO_WEEKS}", who="admin")
        assert x.status_code == 200, x.text
        assert x.headers["content-type"].startswith("application/vnd.openxmlformats")
        c = await world.get(f"/api/v1/exports/{dataset}.csv?{TWO_WEEKS}", who="admin")
        sheet = read_xlsx(x.content)
        table = read_csv(c.content)
        assert len(sheet) == len(table)
        assert sheet[0] == table[0]
        dates = set(exports.TIME_COLUMNS[Dataset(dataset)] + exports.DAY_COLUMNS[Dataset(dataset)])
        for got, want in zip(sheet[1:], table[1:], strict=True):
            assert len(got) <= len(want)
            for n, (g, w) in enumerate(zip(got, want, strict=False)):
                if n in dates and g:  # a date cell: days since 1899-12-30
                    g = excel_time(g)
                assert g == w or float(g) == pytest.approx(float(w)), (n, got, want)


async def test_only_administrators_export(world: World) -> None:
    for who in (None, "teacher", "center"):
        r = await world.get("/api/v1/exports/attendance.csv", who=who)
        assert r.status_code == (401 if who is None else 403)
    assert (await world.get("/api/v1/exports/pupils.csv", who="admin")).status_code == 404
    assert (await world.get("/api/v1/exports/attendance.pdf", who="admin")).status_code == 404
    r = await world.get("/api/v1/exports/attendance.csv?from=2026-13-01", who="admin")
    assert r.status_code == 400
    assert r.json()["extra"][0]["key"] == "from"


async def test_large_xlsx_goes_to_the_background(
    world: World, programme: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(exports, "LARGE_XLSX_ROWS", 3)
    if world.cluster is None:  # the servers keep their own (large) threshold
        r = await world.get(f"/api/v1/exports/attendance.xlsx?{TWO_WEEKS}", who="admin")
        assert r.status_code == 409
        assert r.json()["rows"] == 6
    r = await world.post(
        "/api/v1/exports",
        {
            "dataset": "attendance",
            "format": "xlsx",
            "from": str(DAY),
            "to": str(DAY + timedelta(13)),
        },
        who="admin",
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert (job["state"], job["rows_total"], job["download_url"]) == ("queued", 6, None)
    settings = app_settings(world)
    if world.cluster is None:  # the worker's handler for the job
        await exports.run_export_job({"export_id": job["id"]}, None, settings)
    else:  # the cluster's workers run it, once; the file is in the shared bucket
        (ran,) = await jobs_finished(world)
        assert ran["kind"] == exports.EXPORT_JOB
    done = (await world.get(f"/api/v1/exports/files/{job['id']}", who="admin")).json()
    assert (done["state"], done["rows_done"], done["percent"]) == ("done", 6, 100.0)
    for _ in range(2):  # from either server
        file = await world.get(done["download_url"], who="admin")
        assert file.status_code == 200
        assert len(read_xlsx(file.content)) == 7
    # a retry after success leaves it alone
    await exports.run_export_job({"export_id": job["id"]}, None, settings)
    assert (await world.get(f"/api/v1/exports/files/{job['id']}", who="admin")).json() == done


IN_THIS_PROCESS = pytest.mark.in_process("calls the export code in this process, no request")


@IN_THIS_PROCESS
async def test_export_stream_starts_with_the_header_before_rows(
    world: World, programme: dict[str, Any]
) -> None:
    filters = Filters(Period(DAY, DAY + timedelta(days=13), TZ))
    stream = exports.csv_stream(Dataset.attendance, filters)
    first = await anext(stream)
    assert first.decode("utf-8-sig").strip() == ",".join(exports.headers(Dataset.attendance, TZ))
    rest = b"".join([chunk async for chunk in stream])
    assert rest.count(b"\n") == 6
    assert Format.csv.value == "csv"


async def test_cli_export_with_progress(
    world: World, programme: dict[str, Any], backend: str, tmp_path: Path
) -> None:
    import asyncio
    import os
    import sys

    env = {
        **os.environ,
        "SHAREHUB_DATABASE_URL": backend,
        "SHAREHUB_DATA_DIR": str(tmp_path),
        "SHAREHUB_SECRET_KEY": "cli-export-secret-0123456789",
    }
    out = tmp_path / "attendance.xlsx"
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "sharehub"),
        "export",
        "attendance",
        "--from",
        str(DAY),
        "--to",
        str(DAY + timedelta(days=13)),
        "--province",
        "云南省",
        "-o",
        str(out),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, stderr.decode()
    assert "4 rows" in stdout.decode()
    assert "100%" in stderr.decode() and "4/4 rows" in stderr.decode()
    assert len(read_xlsx(out.read_bytes())) == 5


async def reference_csv(filters: Filters) -> bytes:
    """The attendance CSV as the csv module writes the rows of the one-query join
    (``attendance_query``): what the fast path must equal byte for byte."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(exports.BOM)
    writer.writerow(exports.headers(Dataset.attendance, filters.period.tz))
    sql, args = exports.query_for(Dataset.attendance, filters)
    make = exports.shape(Dataset.attendance, filters.period.tz)
    async for batch in exports.fetch_batches(sql, args):
        writer.writerows([exports.csv_safe_row(r) for r in make(batch)])
    return buffer.getvalue().encode()


@IN_THIS_PROCESS
async def test_attendance_csv_equals_the_csv_module_byte_for_byte(
    world: World, programme: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoneinfo import ZoneInfo

    from hub.tables import ShareCenter
    from tests.test_impact import add_booking, add_session, at

    # cells that need quoting; sessions on both sides of the end of US daylight saving time
    await (
        ShareCenter.update({ShareCenter.name: 'Center, "one"\nline 2'})
        .where(ShareCenter.id == programme["c1"])
        .run()
    )
    await (
        ShareCenter.update({ShareCenter.county: "县,2"})
        .where(ShareCenter.id == programme["c2"])
        .run()
    )
    edt = await add_session(world, "course", at(DAY + timedelta(days=19), 17), 45, "ended")
    est = await add_session(world, "course2", at(DAY + timedelta(days=21), 17), 45, "ended")
    for session in (edt, est):
        await add_booking(session, programme["c1"], 9)
        await add_booking(session, programme["c2"], None)
    # batches of two bookings and one session at a time: every merge step is exercised
    monkeypatch.setattr(exports, "BATCH", 2)
    monkeypatch.setattr(exports, "SESSION_BATCH", 1)
    new_york = ZoneInfo("America/New_York")
    month = Period(DAY, DAY + timedelta(days=30), new_york)
    cases = [
        Filters(month),
        Filters(Period(DAY, DAY + timedelta(days=30), TZ)),
        Filters(month, province="云南省"),
        Filters(month, center_id=programme["c2"]),
        Filters(month, teacher_id=world.ids["teacher2_id"]),
        Filters(month, province="云南省", teacher_id=world.ids["teacher_id"]),
        Filters(Period(DAY + timedelta(days=25), DAY + timedelta(days=30), TZ)),  # nothing
    ]
    for filters in cases:
        fast = b"".join([chunk async for chunk in exports.csv_stream(Dataset.attendance, filters)])
        assert fast == await reference_csv(filters), filters
        table = read_csv(fast)[1:]
        assert len(table) == await exports.count_rows(Dataset.attendance, filters)
        rows = [r async for batch in exports.rows(Dataset.attendance, filters) for r in batch]
        assert [["" if v is None else str(v) for v in r] for r in rows] == table
    table = read_csv(b"".join([c async for c in exports.csv_stream(Dataset.attendance, cases[0])]))
    starts = {row[4]: row[5] for row in table[1:]}
    assert starts[str(edt)] == "2026-10-31 05:00"  # 09:00 UTC in EDT (UTC-4)
    assert starts[str(est)] == "2026-11-02 04:00"  # and two days later in EST (UTC-5)
    assert sum(1 for row in table[1:] if row[0] == 'Center, "one"\nline 2') == 5


@IN_THIS_PROCESS
async def test_a_download_stopped_early_gives_its_connection_back(
    world: World, programme: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "BATCH", 1)
    filters = Filters(Period(DAY, DAY + timedelta(days=13), TZ))
    for _ in range(3):  # more than once: a connection left busy would fail the next one
        stream = exports.csv_stream(Dataset.attendance, filters)
        assert (await anext(stream)).startswith(exports.BOM.encode())
        assert (await anext(stream)).count(b"\n") == 1
        await stream.aclose()
    whole = b"".join([chunk async for chunk in exports.csv_stream(Dataset.attendance, filters)])
    assert whole.count(b"\n") == 7


# ------------------------------------------------------------------------------ no formulas


def formulas(body: bytes) -> list[str]:
    """Formula cells (``<f>``) anywhere in a workbook."""
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        return [
            name
            for name in z.namelist()
            if name.startswith("xl/worksheets/") and b"<f>" in z.read(name)
        ]


HOSTILE = '=HYPERLINK("http://evil.example","click")'


async def test_text_that_looks_like_a_formula_stays_text(
    world: World, programme: dict[str, Any]
) -> None:
    # a teacher names the course, an administrator the center: both as typed
    r = await world.patch(f"/api/v1/courses/{world.ids['course']}", {"title": HOSTILE}, "teacher")
    assert r.status_code == 200, r.text
    r = await world.patch(f"/api/v1/courses/{world.ids['course2']}", {"title": "+1+2"}, "teacher2")
    assert r.status_code == 200, r.text
    r = await world.patch(f"/api/v1/centers/{programme['c2']}", {"name": "@SUM(1)"}, "admin")
    assert r.status_code == 200, r.text
    for dataset in ("attendance", "views"):
        c = await world.get(f"/api/v1/exports/{dataset}.csv?{TWO_WEEKS}", who="admin")
        table = read_csv(c.content)
        cells = {cell for row in table[1:] for cell in row}
        assert "'" + HOSTILE in cells and "'+1+2" in cells, dataset
        assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in cells)
        x = await world.get(f"/api/v1/exports/{dataset}.xlsx?{TWO_WEEKS}", who="admin")
        assert formulas(x.content) == [], dataset
        sheet = read_xlsx(x.content)
        assert HOSTILE in {cell for row in sheet for cell in row}
    attendance = read_csv(
        (await world.get(f"/api/v1/exports/attendance.csv?{TWO_WEEKS}", who="admin")).content
    )
    assert "'@SUM(1)" in {row[0] for row in attendance}
    assert sorted(int(row[13]) for row in attendance[1:] if row[13]) == [12, 20, 28, 31]
    from tests.test_reports import make

    _, workbook = await make(world, "impact_workbook")
    assert formulas(workbook) == []


# ------------------------------------------------------------------------------ times


async def test_export_times_name_their_zone_and_are_date_cells(
    world: World, programme: dict[str, Any]
) -> None:
    url = f"/api/v1/exports/attendance.csv?{TWO_WEEKS}"
    shanghai = read_csv((await world.get(url, who="admin")).content)
    assert shanghai[0][5] == "开始 Starts (Asia/Shanghai)"
    assert shanghai[0][11] == "签到 Checked in (Asia/Shanghai)"
    assert shanghai[1][5] == "2026-10-12 09:00"
    assert shanghai[1][7] == "已结束 Ended"  # a word, not "ended"
    urumqi = read_csv((await world.get(url + "&tz=Asia/Urumqi", who="admin")).content)
    assert urumqi[0][5] == "开始 Starts (Asia/Urumqi)"
    assert urumqi[1][5] == "2026-10-12 07:00"
    for name in ("attendance.csv", "views.xlsx"):
        r = await world.get(f"/api/v1/exports/{name}?tz=Mars/Olympus", who="admin")
        assert r.status_code == 400, r.text
        assert r.json()["extra"][0]["key"] == "tz"
    r = await world.post("/api/v1/exports", {"dataset": "views", "tz": "Mars/Olympus"}, who="admin")
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "tz"
    x = await world.get(f"/api/v1/exports/attendance.xlsx?{TWO_WEEKS}", who="admin")
    with zipfile.ZipFile(io.BytesIO(x.content)) as z:
        styles = z.read("xl/styles.xml").decode()
        sheet = etree.fromstring(z.read("xl/worksheets/sheet1.xml"))
    assert 'formatCode="yyyy-mm-dd hh:mm"' in styles
    start = sheet.find(".//m:c[@r='F2']", NS)
    assert start is not None and start.get("t") is None and start.get("s")  # a styled number
    assert excel_time(start.findtext("m:v", namespaces=NS)) == "2026-10-12 09:00"
    views = read_xlsx(
        (await world.get(f"/api/v1/exports/views.xlsx?{TWO_WEEKS}", who="admin")).content
    )
    assert views[0][4] == "日期 Day (Asia/Shanghai)"
    assert excel_time(views[1][4]) == str(DAY)


async def test_a_centers_views_are_the_same_in_the_export_and_the_breakdown(
    world: World, programme: dict[str, Any]
) -> None:
    c1 = programme["c1"]
    for group_by, key, query in (
        ("center", str(c1), f"center_id={c1}"),
        ("province", "云南省", "province=云南省"),
    ):
        r = await world.get(f"/api/v1/impact?{TWO_WEEKS}&group_by={group_by}", who="admin")
        group = {g["key"]: g for g in r.json()["groups"]}[key]
        r = await world.get(f"/api/v1/exports/views.csv?{TWO_WEEKS}&{query}", who="admin")
        rows = read_csv(r.content)[1:]
        # one definition: the center's screens (s1 was booked by c1, but its 7 home viewers
        # are not the center's views)
        assert sum(int(row[5]) + int(row[6]) for row in rows) == group["online_views"] == 1
        assert sum(int(row[7]) for row in rows) == group["center_screen_views"] == 1
        hours = sum(float(row[9]) + float(row[10]) for row in rows)
        assert hours == pytest.approx(30 / 3600, abs=0.001)
        watched = group["live_hours_watched"] + group["replay_hours_watched"]
        assert watched == pytest.approx(hours, abs=0.01)


# ------------------------------------------------------------------------------ lessons


async def test_the_lesson_delivery_record_and_its_roll_up(
    world: World, programme: dict[str, Any]
) -> None:
    r = await world.get(f"/api/v1/exports/lessons.csv?{TWO_WEEKS}", who="admin")
    assert r.status_code == 200, r.text
    rows = read_csv(r.content)
    assert rows[0] == exports.headers(Dataset.lessons, TZ)
    s1, s2 = (str(s) for s in programme["s"][:2])
    by = {(row[0], row[6]): row for row in rows[1:]}
    # held sessions only (the later class was never held), one row per booked center
    assert len(rows) - 1 == 5
    first = by[(s1, "镇雄共享中心")]
    assert first[5] == "40.0"  # the teacher streamed 40 of 45 minutes
    assert (first[9], first[10], first[12]) == ("是 Yes", "31", "到课 Attended")
    assert float(first[11]) == pytest.approx(0.5)  # the center screen watched 30 s
    absent = by[(s2, "镇雄共享中心")]
    assert (absent[9], absent[10], absent[12]) == ("否 No", "", "缺席 Absent")
    assert absent[5] == ""  # stream times not known
    only = read_csv(
        (
            await world.get(
                f"/api/v1/exports/lessons.csv?{TWO_WEEKS}&center_id={programme['c2']}",
                who="admin",
            )
        ).content
    )
    assert {row[6] for row in only[1:]} == {"威宁共享中心"}
    x = await world.get(f"/api/v1/exports/lessons.xlsx?{TWO_WEEKS}", who="admin")
    assert x.status_code == 200 and len(read_xlsx(x.content)) == 6
    # the term roll-up: per center, booked / attended / absent / hours attended
    r = await world.post(
        "/api/v1/terms",
        {"name": "2026秋季", "starts_on": "2026-09-01", "ends_on": "2027-01-20"},
        who="admin",
    )
    assert r.status_code == 201, r.text
    rollup = {
        ct.center: ct for ct in await exports.lesson_rollup(TZ, today=DAY + timedelta(days=13))
    }
    c1 = rollup["镇雄共享中心"]
    assert (c1.booked, c1.attended, c1.absent, c1.screen_only) == (3, 2, 1, 0)
    assert c1.hours == pytest.approx(40 / 60 + 45 / 60, abs=0.01)
    assert (rollup["威宁共享中心"].booked, rollup["威宁共享中心"].attended) == (2, 2)
