"""Attendance and view-statistics exports: rows streamed from the database into CSV or XLSX.

- Attendance: one row per center per session (a booking): center, region, session, course,
  teacher, booked, checked in / out (in the hub's time zone), children present.
- View statistics: one row per session per day watched: live / replay / center-screen views,
  unique viewers, hours watched.

Rows come from database cursors (server-side on PostgreSQL), so memory stays flat for a
million rows. Attendance reads bookings joined to their sessions only, in one read snapshot
(``rowstream.reading``); the centers (read whole) and the sessions (read alongside, in the same
order) are looked up by id, and for CSV their cells are quoted once each, so a row costs one
f-string (see ``attendance_parts``). CSV is UTF-8 with a BOM (Excel then opens Chinese
correctly) and streams in the response; XLSX is written by XlsxWriter in constant-memory
mode, in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import inspect
import io
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import xlsxwriter

from hub import db, jobs
from hub.errors import NotFound
from hub.impact import Period
from hub.rowstream import fetch_batches, read_ahead, reading
from hub.settings import Settings
from hub.sheetcells import WORKBOOK_OPTIONS, csv_safe_row, write_cells
from hub.storage import storage_for
from hub.tables import ExportFile

BOM = "\ufeff"
BATCH = 5000
LARGE_XLSX_ROWS = 50_000
"""Above this many rows an XLSX takes more than a few seconds: write it in the background."""


class Dataset(StrEnum):
    attendance = "attendance"
    views = "views"
    lessons = "lessons"
    """The lesson delivery record: per held session, per booked center."""


class Format(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


CONTENT_TYPES = {
    Format.csv: "text/csv",  # Litestar adds "; charset=utf-8" to text types
    Format.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

HEADERS: dict[Dataset, list[str]] = {
    Dataset.attendance: [
        "共享中心 Center",
        "省 Province",
        "市 City",
        "县 County",
        "课次 Session",
        "开始 Starts",
        "结束 Ends",
        "状态 Status",
        "课程 Course",
        "教师 Teacher",
        "预约时间 Booked at",
        "签到 Checked in",
        "签退 Checked out",
        "到场儿童（人次） Child visits",
    ],
    Dataset.lessons: [
        "课次 Session",
        "开始 Starts",
        "结束 Ends",
        "课程 Course",
        "教师 Teacher",
        "教师在线分钟 Teacher on-air minutes",
        "共享中心 Center",
        "省 Province",
        "县 County",
        "签到 Checked in",
        "到场儿童（人次） Child visits",
        "中心屏幕观看分钟 Center-screen minutes",
        "结果 Outcome",
        "课堂提问 Questions asked",
    ],
    Dataset.views: [
        "课次 Session",
        "开始 Starts",
        "课程 Course",
        "教师 Teacher",
        "日期 Day",
        "直播观看 Live views",
        "回放观看 Replay views",
        "中心屏幕观看 Center-screen views",
        "独立观众 Unique viewers",
        "直播观看小时 Live hours",
        "回放观看小时 Replay hours",
    ],
}


TIME_COLUMNS: dict[Dataset, tuple[int, ...]] = {
    Dataset.attendance: (5, 6, 10, 11, 12),
    Dataset.views: (1,),
    Dataset.lessons: (1, 2),
}
"""Columns holding local times (``YYYY-MM-DD HH:MM``): their header names the zone, and in
XLSX they are date cells."""
DAY_COLUMNS: dict[Dataset, tuple[int, ...]] = {
    Dataset.attendance: (),
    Dataset.views: (4,),
    Dataset.lessons: (),
}

OUTCOMES = {
    "attended": "到课 Attended",
    "screen": "仅屏幕观看 Watched on screen only",
    "absent": "缺席 Absent",
}
"""A booked center's outcome in the lesson record: checked in; no check-in but its screen
watched; neither (absent)."""
"""Columns holding local days (date cells in XLSX)."""

STATUS_WORDS = {
    "scheduled": "未开始 Scheduled",
    "live": "直播中 Live",
    "ended": "已结束 Ended",
    "archived": "已归档 Archived",
    "cancelled": "已取消 Cancelled",
}
"""A session's status as words in the exports (Chinese and English, as the headers)."""


def status_word(status: str) -> str:
    return STATUS_WORDS.get(status, status)


def headers(dataset: Dataset, tz: ZoneInfo) -> list[str]:
    """The column names, the time and day columns naming the zone they are in."""
    out = list(HEADERS[dataset])
    for col in TIME_COLUMNS[dataset] + DAY_COLUMNS[dataset]:
        out[col] = f"{out[col]} ({tz.key})"
    return out


@dataclass(frozen=True)
class Filters:
    period: Period
    province: str | None = None
    center_id: int | None = None
    teacher_id: int | None = None


def _where(filters: Filters, sql: list[str], args: list[Any]) -> None:
    sql.append("s.starts_at >= ? AND s.starts_at < ? AND s.status != 'cancelled'")
    args += [filters.period.utc_start, filters.period.utc_end]
    if filters.teacher_id is not None:
        sql.append("s.teacher = ?")
        args.append(filters.teacher_id)


def _local_sql(column: str, tz: ZoneInfo, sqlite: bool) -> str:
    """On PostgreSQL the server formats local times; SQLite gives the stored UTC text and
    Python converts it (``LocalTimes``), which is faster than SQLite's date functions."""
    if sqlite:
        return column
    name = tz.key.replace("'", "")
    return f"to_char({column} AT TIME ZONE '{name}', 'YYYY-MM-DD HH24:MI')"


def attendance_query(filters: Filters, sqlite: bool = True) -> tuple[str, list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    _where(filters, where, args)
    if filters.province:
        where.append("sc.province = ?")
        args.append(filters.province)
    if filters.center_id is not None:
        where.append("sc.id = ?")
        args.append(filters.center_id)
    tz = filters.period.tz

    def t(column: str) -> str:
        return _local_sql(column, tz, sqlite)

    sql = (
        f"SELECT sc.name, sc.province, sc.city, sc.county, s.id, {t('s.starts_at')}, "
        f"{t('s.ends_at')}, s.status, c.title, t.name, {t('b.created_at')}, "
        f"{t('b.checked_in_at')}, {t('b.checked_out_at')}, b.children_present FROM booking b "
        "JOIN live_session s ON s.id = b.session JOIN course c ON c.id = s.course "
        "JOIN teacher t ON t.id = s.teacher JOIN share_center sc ON sc.id = b.center "
        f"WHERE {' AND '.join(where)} ORDER BY s.starts_at, s.id, sc.name, b.id"
    )
    return sql, args


def _day(value: date, sqlite: bool) -> Any:
    return value.isoformat() if sqlite else value


def center_views_query(filters: Filters, sqlite: bool = True) -> tuple[str, list[Any]]:
    """The views export of a center or a province: its centers' screens only (the same
    definition as the impact breakdown by center or province): per session per day watched
    in the period, counted views and hours from the viewer windows of those centers."""
    where = ["w.center_id IS NOT NULL", "w.day >= ? AND w.day <= ?", "s.status != 'cancelled'"]
    args: list[Any] = [_day(filters.period.start, sqlite), _day(filters.period.end, sqlite)]
    if filters.teacher_id is not None:
        where.append("s.teacher = ?")
        args.append(filters.teacher_id)
    if filters.province:
        where.append("sc.province = ?")
        args.append(filters.province)
    if filters.center_id is not None:
        where.append("sc.id = ?")
        args.append(filters.center_id)
    day = "w.day" if sqlite else "to_char(w.day, 'YYYY-MM-DD')"

    def hours(kind: str) -> str:
        total = f"SUM(CASE WHEN w.kind = '{kind}' THEN w.millis ELSE 0 END) / 3600000.0"
        return f"ROUND({total}, 3)" if sqlite else f"ROUND(CAST({total} AS numeric), 3)"

    counted = "CASE WHEN w.counted THEN 1 ELSE 0 END"
    sql = (
        f"SELECT s.id, {_local_sql('s.starts_at', filters.period.tz, sqlite)}, c.title, "
        f"t.name, {day}, "
        f"SUM(CASE WHEN w.kind = 'live' THEN {counted} ELSE 0 END), "
        f"SUM(CASE WHEN w.kind = 'replay' THEN {counted} ELSE 0 END), "
        f"SUM({counted}), "
        "COUNT(DISTINCT CASE WHEN w.counted THEN w.center_id END), "
        f"{hours('live')}, {hours('replay')} "
        "FROM viewer_window w JOIN share_center sc ON sc.id = w.center_id "
        "JOIN live_session s ON s.id = w.session_id "
        "JOIN course c ON c.id = s.course JOIN teacher t ON t.id = s.teacher "
        f"WHERE {' AND '.join(where)} "
        "GROUP BY s.id, s.starts_at, c.title, t.name, w.day ORDER BY s.starts_at, s.id, w.day"
    )
    return sql, args


def views_query(filters: Filters, sqlite: bool = True) -> tuple[str, list[Any]]:
    """Per session per day watched in the period (the days of the impact figures); unique
    viewers from the viewer windows of that day. Filtered by center or province: that
    center's (those centers') screens only (``center_views_query``)."""
    if filters.province or filters.center_id is not None:
        return center_views_query(filters, sqlite)
    where = ["s.status != 'cancelled'", "v.day >= ? AND v.day <= ?"]
    args: list[Any] = [_day(filters.period.start, sqlite), _day(filters.period.end, sqlite)]
    if filters.teacher_id is not None:
        where.append("s.teacher = ?")
        args.append(filters.teacher_id)
    day = "v.day" if sqlite else "to_char(v.day, 'YYYY-MM-DD')"

    def hours(kind: str) -> str:
        total = f"SUM(CASE WHEN v.kind = '{kind}' THEN v.seconds_watched ELSE 0 END) / 3600.0"
        return f"ROUND({total}, 3)" if sqlite else f"ROUND(CAST({total} AS numeric), 3)"

    sql = (
        f"SELECT s.id, {_local_sql('s.starts_at', filters.period.tz, sqlite)}, c.title, "
        f"t.name, {day}, "
        "SUM(CASE WHEN v.kind = 'live' THEN v.views ELSE 0 END), "
        "SUM(CASE WHEN v.kind = 'replay' THEN v.views ELSE 0 END), "
        "SUM(v.center_views), "
        "(SELECT COUNT(DISTINCT w.viewer) FROM viewer_window w "
        " WHERE w.session_id = s.id AND w.day = v.day AND w.counted), "
        f"{hours('live')}, {hours('replay')} "
        "FROM view_tally v JOIN live_session s ON s.id = v.session_id "
        "JOIN course c ON c.id = s.course JOIN teacher t ON t.id = s.teacher "
        f"WHERE {' AND '.join(where)} "
        "GROUP BY s.id, s.starts_at, c.title, t.name, v.day ORDER BY s.starts_at, s.id, v.day"
    )
    return sql, args


async def count_rows(dataset: Dataset, filters: Filters) -> int:
    sql, args = query_for(dataset, filters)
    async for batch in fetch_batches(f"SELECT COUNT(*) FROM ({sql}) AS q", args):
        return int(batch[0][0])
    return 0


def lessons_query(filters: Filters, sqlite: bool = True) -> tuple[str, list[Any]]:
    """The lesson delivery record: one row per booked center of each held session starting in
    the period (teacher's stream times, check-in, head count, the center screen's watched
    milliseconds from its viewer windows, the questions the room asked in classroom mode)."""
    where = [
        "s.starts_at >= ? AND s.starts_at < ?",
        "s.status IN ('live', 'ended', 'archived')",
    ]
    args: list[Any] = [filters.period.utc_start, filters.period.utc_end]
    if filters.teacher_id is not None:
        where.append("s.teacher = ?")
        args.append(filters.teacher_id)
    if filters.province:
        where.append("sc.province = ?")
        args.append(filters.province)
    if filters.center_id is not None:
        where.append("sc.id = ?")
        args.append(filters.center_id)
    tz = filters.period.tz
    sql = (
        f"SELECT s.id, {_local_sql('s.starts_at', tz, sqlite)}, "
        f"{_local_sql('s.ends_at', tz, sqlite)}, "
        "c.title, t.name, s.live_at, s.ended_at, sc.name, sc.province, sc.county, "
        "CASE WHEN b.checked_in_at IS NULL THEN 0 ELSE 1 END, b.children_present, "
        "(SELECT SUM(w.millis) FROM viewer_window w WHERE w.session_id = s.id "
        " AND w.center_id = b.center), "
        "(SELECT COUNT(*) FROM classroom_event e WHERE e.session_id = s.id "
        " AND e.center_id = b.center AND e.kind IN ('hand', 'photo')) "
        "FROM booking b JOIN live_session s ON s.id = b.session "
        "JOIN course c ON c.id = s.course JOIN teacher t ON t.id = s.teacher "
        "JOIN share_center sc ON sc.id = b.center "
        f"WHERE {' AND '.join(where)} ORDER BY s.starts_at, s.id, sc.name, b.id"
    )
    return sql, args


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def on_air_minutes(live_at: Any, ended_at: Any) -> float | None:
    """The teacher's stream time in minutes (None when not known)."""
    start, end = _moment(live_at), _moment(ended_at)
    if start is None or end is None or end <= start:
        return None
    return round((end - start).total_seconds() / 60, 1)


def outcome(checked_in: Any, screen_ms: Any) -> str:
    if checked_in:
        return "attended"
    return "screen" if screen_ms else "absent"


def query_for(dataset: Dataset, filters: Filters) -> tuple[str, list[Any]]:
    build = {
        Dataset.attendance: attendance_query,
        Dataset.views: views_query,
        Dataset.lessons: lessons_query,
    }[dataset]
    return build(filters, db.is_sqlite())


class LocalTimes(dict[Any, Any]):
    """Stored UTC text -> local ``YYYY-MM-DD HH:MM``, remembered by the value (classes and
    check-ins share minutes, so most lookups are hits). Each value is converted on its own
    with ``zoneinfo``, so daylight-saving zones are right on both sides of a change.
    ``convert=False`` (PostgreSQL, which formats local times itself) passes text through;
    ``None`` (no check-in yet) becomes ``empty``."""

    def __init__(self, tz: ZoneInfo, convert: bool = True, empty: Any = None) -> None:
        super().__init__({None: empty})
        self.tz = tz
        self.convert = convert
        self.empty = empty

    def __missing__(self, raw: Any) -> Any:
        if len(self) > 100_000:
            self.clear()
            self[None] = self.empty
        if not self.convert:
            local = raw
        elif isinstance(raw, datetime):
            local = raw.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        else:
            minute = datetime.fromisoformat(raw[:16]).replace(tzinfo=UTC)
            local = minute.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        self[raw] = local
        return local


def shape(dataset: Dataset, tz: ZoneInfo) -> Callable[[Sequence[Sequence[Any]]], Sequence[Any]]:
    """A batch of rows of ``query_for`` -> export rows (local times as text on SQLite;
    PostgreSQL formats them itself, so its rows pass as they are)."""
    times = LocalTimes(tz, convert=db.is_sqlite())
    if dataset is Dataset.attendance:

        def attendance(batch: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
            t, w = times, status_word
            return [
                (r[0], r[1], r[2], r[3], r[4], t[r[5]], t[r[6]], w(r[7]), r[8], r[9], t[r[10]],
                 t[r[11]], t[r[12]], r[13])
                for r in batch
            ]  # fmt: skip

        return attendance
    if dataset is Dataset.lessons:

        def lessons(batch: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
            t = times
            out = []
            for r in batch:
                result = outcome(r[10], r[12])
                out.append(
                    (r[0], t[r[1]], t[r[2]], r[3], r[4], on_air_minutes(r[5], r[6]), r[7],
                     r[8], r[9], "是 Yes" if r[10] else "否 No", r[11],
                     round(int(r[12] or 0) / 60000, 1), OUTCOMES[result], int(r[13] or 0))
                )  # fmt: skip
            return out

        return lessons
    if not db.is_sqlite():
        return lambda batch: batch

    def views(batch: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        t = times
        return [(r[0], t[r[1]], *r[2:]) for r in batch]

    return views


# ------------------------------------------------------------------------------ attendance rows

SESSION_BATCH = 1000


def attendance_parts_sql(filters: Filters, sqlite: bool) -> dict[str, tuple[str, list[Any]]]:
    """The attendance export as three queries in the same order: the share-centers (a small
    table, read whole), the sessions that have a booking to export and the bookings
    themselves (center and session ids, times, children), so the database walks booking and
    live_session only and each center's and session's columns are made once, not per row.
    Rows are the same as ``attendance_query``'s, in the same order."""
    tz = filters.period.tz

    def t(column: str) -> str:
        return _local_sql(column, tz, sqlite)

    center_where: list[str] = []
    center_args: list[Any] = []
    if filters.province:
        center_where.append("sc.province = ?")
        center_args.append(filters.province)
    if filters.center_id is not None:
        center_where.append("sc.id = ?")
        center_args.append(filters.center_id)
    where: list[str] = []
    args: list[Any] = []
    _where(filters, where, args)
    centers = "SELECT sc.id, sc.name, sc.province, sc.city, sc.county FROM share_center sc" + (
        f" WHERE {' AND '.join(center_where)}" if center_where else ""
    )
    booked = (
        "SELECT 1 FROM booking b JOIN share_center sc ON sc.id = b.center "
        f"WHERE b.session = s.id AND {' AND '.join(center_where)}"
        if center_where
        else "SELECT 1 FROM booking b WHERE b.session = s.id"
    )
    sessions = (
        f"SELECT s.id, {t('s.starts_at')}, {t('s.ends_at')}, s.status, c.title, t.name "
        "FROM live_session s JOIN course c ON c.id = s.course JOIN teacher t ON t.id = s.teacher "
        f"WHERE {' AND '.join(where)} AND EXISTS ({booked}) ORDER BY s.starts_at, s.id"
    )
    bookings = (
        f"SELECT b.center, b.session, {t('b.created_at')}, {t('b.checked_in_at')}, "
        f"{t('b.checked_out_at')}, b.children_present FROM booking b "
        "JOIN live_session s ON s.id = b.session JOIN share_center sc ON sc.id = b.center "
        f"WHERE {' AND '.join(where + center_where)} ORDER BY s.starts_at, s.id, sc.name, b.id"
    )
    return {
        "centers": (centers, center_args),
        "sessions": (sessions, args + center_args),
        "bookings": (bookings, args + center_args),
    }


Part = Callable[[tuple[Any, ...]], Any]


async def attendance_parts(
    filters: Filters, part: Part, times: LocalTimes
) -> AsyncIterator[tuple[Sequence[Sequence[Any]], dict[int, Any], dict[int, Any]]]:
    """Batches of bookings ``(center id, session id, booked, checked in, checked out,
    children)`` in export order, each with the sessions and the centers it refers to (by id):
    ``part`` of the center's columns (name, province, city, county) and of the session's
    (id, starts, ends, status, course, teacher), made once each. Times of the bookings are
    raw (format them with ``times``, the same map the session times went through). The next
    batch is read while the caller works on this one; sessions are kept only while needed."""
    sqlite = db.is_sqlite()
    queries = attendance_parts_sql(filters, sqlite)
    async with reading() as reader:
        centers = {
            r[0]: part((r[1], r[2], r[3], r[4]))
            for r in await reader.fetch_all(*queries["centers"])
        }
        next_sessions = await reader.cursor(*queries["sessions"])
        next_bookings = await reader.cursor(*queries["bookings"])
        window: dict[int, Any] = {}

        async def read() -> tuple[Sequence[Sequence[Any]], dict[int, Any]] | None:
            batch = await next_bookings(BATCH)
            if not batch:
                return None
            first, last = batch[0][1], batch[-1][1]
            for done in list(window):  # sessions before this batch are finished
                if done == first:
                    break
                del window[done]
            t = times
            while last not in window:
                more = await next_sessions(SESSION_BATCH)
                if not more:  # cannot happen: one snapshot, the same filters and order
                    raise RuntimeError(f"export: session {last} of a booking was not read")
                for r in more:
                    window[r[0]] = part((r[0], t[r[1]], t[r[2]], status_word(r[3]), r[4], r[5]))
            return batch, dict(window)

        async with contextlib.aclosing(read_ahead(read)) as batches:
            async for batch, sessions in batches:
                yield batch, sessions, centers


def _row_times(filters: Filters, empty: Any = None) -> LocalTimes:
    return LocalTimes(filters.period.tz, convert=db.is_sqlite(), empty=empty)


async def attendance_rows(filters: Filters) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The attendance export rows (tuples of the ``HEADERS`` columns) in batches."""
    t = _row_times(filters)
    async for batch, S, C in attendance_parts(filters, tuple, t):
        yield [C[c] + S[s] + (t[b], t[i], t[o], n) for c, s, b, i, o, n in batch]


def csv_text(values: Sequence[Any]) -> str:
    """Cells as one CSV line without its line end: cells are quoted each on their own, so
    lines may be joined from such pieces with commas."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()


def safe_csv_text(values: Sequence[Any]) -> str:
    """``csv_text`` of cells neutralised against formulas (``hub.sheetcells.csv_safe``)."""
    return csv_text(csv_safe_row(values))


async def attendance_csv_lines(filters: Filters) -> AsyncIterator[tuple[int, str]]:
    """The attendance rows as CSV text in batches (rows, text): the same bytes as
    ``csv.writer`` writing ``attendance_rows``, with each center's and session's cells
    quoted once (times and children never need quoting)."""
    t = _row_times(filters, empty="")
    async for batch, S, C in attendance_parts(filters, safe_csv_text, t):
        text = "".join(
            [
                f"{C[c]},{S[s]},{t[b]},{t[i]},{t[o]},{'' if n is None else n}\r\n"
                for c, s, b, i, o, n in batch
            ]
        )
        yield len(batch), text


async def rows(dataset: Dataset, filters: Filters) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """Export rows in batches."""
    if dataset is Dataset.attendance:
        async for batch in attendance_rows(filters):
            yield batch
        return
    sql, args = query_for(dataset, filters)
    make = shape(dataset, filters.period.tz)
    async for raw in fetch_batches(sql, args):
        yield make(raw)


# ------------------------------------------------------------------------------ CSV


async def csv_stream(
    dataset: Dataset, filters: Filters, progress: Callable[[int], Any] | None = None
) -> AsyncIterator[bytes]:
    """The CSV file in chunks: BOM and header at once (the download starts at once)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write(BOM)
    writer.writerow(headers(dataset, filters.period.tz))
    yield buffer.getvalue().encode()
    done = 0
    if dataset is Dataset.attendance:
        async for count, text in attendance_csv_lines(filters):
            done += count
            if progress:
                await maybe_await(progress(done))
            yield text.encode()
        return
    async for batch in rows(dataset, filters):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([csv_safe_row(r) for r in batch])
        done += len(batch)
        if progress:
            await maybe_await(progress(done))
        yield buffer.getvalue().encode()


# ------------------------------------------------------------------------------ XLSX


DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"


def local_datetime(text: Any) -> Any:
    """``YYYY-MM-DD HH:MM`` (a local time as the export formats it) -> a naive datetime for
    a date cell; anything else passes as it is."""
    if isinstance(text, str) and len(text) >= 16 and text[4] == "-" and text[13] == ":":
        return datetime(
            int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16])
        )
    return text


def local_date(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        return date.fromisoformat(value)
    return value


class XlsxFile:
    """An XlsxWriter workbook in constant-memory mode, fed in batches from a thread. Text is
    written as text (never a formula), numbers as numbers, local times and days as date
    cells with a number format (``time_columns``, ``day_columns``)."""

    def __init__(
        self,
        path: Path,
        sheet: str,
        headers: list[str],
        time_columns: Sequence[int] = (),
        day_columns: Sequence[int] = (),
    ) -> None:
        self.path = path
        self.workbook = xlsxwriter.Workbook(
            str(path),
            {"constant_memory": True, "tmpdir": str(path.parent), **WORKBOOK_OPTIONS},
        )
        self.sheet = self.workbook.add_worksheet(sheet)
        bold = self.workbook.add_format({"bold": True})
        self.datetime_format = self.workbook.add_format({"num_format": DATETIME_FORMAT})
        self.date_format = self.workbook.add_format({"num_format": DATE_FORMAT})
        write_cells(self.sheet, 0, headers, bold)
        self.sheet.freeze_panes(1, 0)
        self.sheet.set_column(0, len(headers) - 1, 16)
        self.time_columns = tuple(time_columns)
        self.day_columns = tuple(day_columns)
        self._times: dict[Any, Any] = {}
        self.row = 1

    def write(self, batch: Iterable[Sequence[Any]]) -> None:
        sheet, r = self.sheet, self.row
        times, tcols, dcols = self._times, self.time_columns, self.day_columns
        if len(times) > 100_000:
            times.clear()
        dt_format, d_format = self.datetime_format, self.date_format
        for values in batch:
            if tcols or dcols:
                values = list(values)
                for c in tcols:
                    raw = values[c]
                    value = times.get(raw)
                    if value is None:
                        value = times[raw] = local_datetime(raw)
                    values[c] = value
                for c in dcols:
                    values[c] = local_date(values[c])
            write_cells(sheet, r, values, None, d_format, dt_format)
            r += 1
        self.row = r

    def close(self) -> None:
        self.workbook.close()


async def write_xlsx(
    dataset: Dataset,
    filters: Filters,
    path: Path,
    progress: Callable[[int], Any] | None = None,
) -> int:
    """Write the export to ``path``; returns the number of data rows. The database read of
    the next batch overlaps the writing of the previous one (writing runs in a thread)."""
    book = await asyncio.to_thread(
        XlsxFile,
        path,
        dataset.value,
        headers(dataset, filters.period.tz),
        TIME_COLUMNS[dataset],
        DAY_COLUMNS[dataset],
    )
    pending: asyncio.Future[None] | None = None
    done = 0
    try:
        async for batch in rows(dataset, filters):
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(asyncio.to_thread(book.write, batch))
            done += len(batch)
            if progress:
                await maybe_await(progress(done))
        if pending is not None:
            await pending
    finally:
        await asyncio.to_thread(book.close)
    return done


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def filename(dataset: Dataset, filters: Filters, fmt: Format) -> str:
    return f"sharehub-{dataset.value}-{filters.period.start}-{filters.period.end}.{fmt.value}"


def _scratch(directory: Path | None) -> Path:
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="sharehub-export-", dir=directory))


@contextlib.asynccontextmanager
async def scratch_folder(directory: Path | None = None) -> AsyncIterator[Path]:
    """A temporary folder (under ``directory``), removed afterwards."""
    folder = await asyncio.to_thread(_scratch, directory)
    try:
        yield folder
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)


@contextlib.asynccontextmanager
async def temporary_xlsx(
    dataset: Dataset, filters: Filters, directory: Path | None = None
) -> AsyncIterator[Path]:
    """A finished XLSX in a temporary folder, deleted afterwards."""
    async with scratch_folder(directory) as folder:
        path = folder / "export.xlsx"
        await write_xlsx(dataset, filters, path)
        yield path


async def write_csv(
    dataset: Dataset, filters: Filters, path: Path, progress: Callable[[int], Any] | None = None
) -> int:
    """Write the CSV export to ``path`` (file writes in a thread); returns the data rows."""
    done = 0

    async def count(n: int) -> None:
        nonlocal done
        done = n
        if progress:
            await maybe_await(progress(n))

    fh = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in csv_stream(dataset, filters, count):
            await asyncio.to_thread(fh.write, chunk)
    finally:
        await asyncio.to_thread(fh.close)
    return done


# ------------------------------------------------------------------------------ background


EXPORT_JOB = "export"
"""The job kind of a background export (``run_export_job`` is its handler)."""


class ExportOut(msgspec.Struct):
    id: int
    dataset: str
    format: str
    state: str
    rows_total: int
    rows_done: int
    percent: float
    size: int
    error: str
    download_url: str | None
    created_at: datetime
    finished_at: datetime | None


def export_out(row: dict[str, Any]) -> ExportOut:
    total, done = row["rows_total"], row["rows_done"]
    finished = row["state"] == "done"
    return ExportOut(
        id=row["id"],
        dataset=row["dataset"],
        format=row["format"],
        state=row["state"],
        rows_total=total,
        rows_done=done,
        percent=100.0 if finished else round(100 * done / total, 1) if total else 0.0,
        size=row["size"],
        error=row["error"],
        download_url=f"/api/v1/exports/files/{row['id']}/download" if finished else None,
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )


def filters_to_json(filters: Filters) -> dict[str, Any]:
    return {
        "from": filters.period.start.isoformat(),
        "to": filters.period.end.isoformat(),
        "timezone": filters.period.tz.key,
        "province": filters.province,
        "center_id": filters.center_id,
        "teacher_id": filters.teacher_id,
    }


def filters_from_json(raw: dict[str, Any]) -> Filters:
    period = Period(
        date.fromisoformat(raw["from"]), date.fromisoformat(raw["to"]), ZoneInfo(raw["timezone"])
    )
    return Filters(period, raw.get("province"), raw.get("center_id"), raw.get("teacher_id"))


async def export_row(export_id: int) -> dict[str, Any]:
    row = await ExportFile.select().where(ExportFile.id == export_id).first().run()
    if row is None:
        raise NotFound(f"export {export_id} not found", field="export_id")
    return row


async def get_export(export_id: int) -> ExportOut:
    return export_out(await export_row(export_id))


async def start_export(
    dataset: Dataset, fmt: Format, filters: Filters, user_id: int | None = None
) -> ExportOut:
    """Queue an export to be made by the worker; poll ``get_export`` for its progress."""
    total = await count_rows(dataset, filters)
    inserted = await ExportFile.insert(
        ExportFile(
            dataset=dataset.value,
            format=fmt.value,
            filters=filters_to_json(filters),
            rows_total=total,
            created_by=user_id,
        )
    ).run()
    export_id = int(inserted[0]["id"])
    await jobs.enqueue(EXPORT_JOB, {"export_id": export_id}, dedupe_key=f"export-{export_id}")
    return await get_export(export_id)


async def run_export_job(payload: dict[str, Any], plugins: Any, settings: Settings) -> None:
    """The ``export`` job: write the file, keep it in storage, record progress on the way.
    Raises on failure (the queue retries); a finished export is left alone."""
    export_id = int(payload["export_id"])
    row = await ExportFile.select().where(ExportFile.id == export_id).first().run()
    if row is None or row["state"] == "done":
        return
    raw = row["filters"]
    filters = filters_from_json(raw if isinstance(raw, dict) else json.loads(raw))
    dataset, fmt = Dataset(row["dataset"]), Format(row["format"])
    await (
        ExportFile.update({ExportFile.state: "running", ExportFile.rows_done: 0})
        .where(ExportFile.id == export_id)
        .run()
    )
    last = [0.0]

    async def progress(done: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0:
            last[0] = now
            await (
                ExportFile.update({ExportFile.rows_done: done})
                .where(ExportFile.id == export_id)
                .run()
            )

    name = filename(dataset, filters, fmt)
    try:
        async with scratch_folder(settings.data_dir / "tmp") as folder:
            path = folder / name
            write = write_xlsx if fmt is Format.xlsx else write_csv
            done = await write(dataset, filters, path, progress)
            key = f"exports/{export_id}/{name}"
            size = await storage_for(settings).put_file(key, path)
    except Exception as exc:
        await (
            ExportFile.update({ExportFile.state: "failed", ExportFile.error: str(exc)[:2000]})
            .where(ExportFile.id == export_id)
            .run()
        )
        raise
    await (
        ExportFile.update(
            {
                ExportFile.state: "done",
                ExportFile.rows_done: done,
                ExportFile.storage_key: key,
                ExportFile.size: size,
                ExportFile.error: "",
                ExportFile.finished_at: datetime.now(UTC),
            }
        )
        .where(ExportFile.id == export_id)
        .run()
    )


# ------------------------------------------------------------------------------ lesson roll-up


class CenterTerm(msgspec.Struct):
    """One center's lessons in one term: booked, attended (checked in), watched on screen only,
    absent, and hours of the lessons it attended (their teacher's on-air time, else the
    scheduled length)."""

    term: str
    term_start: date
    term_end: date
    center: str
    province: str
    booked: int = 0
    attended: int = 0
    screen_only: int = 0
    absent: int = 0
    hours: float = 0.0


async def lesson_rollup(tz: ZoneInfo, today: date | None = None) -> list[CenterTerm]:
    """The lesson delivery record rolled up per center per term (terms that have begun)."""
    from hub.tables import Term

    day = today or datetime.now(tz).date()
    terms = await Term.select().where(Term.starts_on <= day).order_by(Term.starts_on).run()
    out: list[CenterTerm] = []
    for term in terms:
        filters = Filters(Period(term["starts_on"], min(term["ends_on"], day), tz))
        sql, args = lessons_query(filters, db.is_sqlite())
        make = shape(Dataset.lessons, tz)
        by_center: dict[str, CenterTerm] = {}
        async for raw in fetch_batches(sql, args):
            for r, row in zip(raw, make(raw), strict=True):
                acc = by_center.get(r[7])
                if acc is None:
                    acc = by_center[r[7]] = CenterTerm(
                        term["name"], term["starts_on"], term["ends_on"], r[7], r[8]
                    )
                acc.booked += 1
                result = outcome(r[10], r[12])
                if result == "attended":
                    acc.attended += 1
                    minutes = row[5]
                    if minutes is None and row[1] and row[2]:
                        scheduled = datetime.fromisoformat(row[2]) - datetime.fromisoformat(row[1])
                        minutes = scheduled.total_seconds() / 60
                    acc.hours += (minutes or 0) / 60
                elif result == "screen":
                    acc.screen_only += 1
                else:
                    acc.absent += 1
        for acc in sorted(by_center.values(), key=lambda a: (a.province, a.center)):
            acc.hours = round(acc.hours, 2)
            out.append(acc)
    return out
