"""THE impact figures: one service that the API, the exports, the dashboard and every report use.

Definitions (a period is a range of days in the hub's time zone, both ends included):

- a session belongs to the period when it starts in it; cancelled sessions never count;
  a session is *held* when its status is live, ended or archived;
- *teachers who taught*, *courses held*: distinct teachers and courses of held sessions;
- *teaching hours*: per held session the actual stream time (``ended_at - live_at``) when
  both are known, else the scheduled length;
- *bookings*, *checked in*: bookings of the period's sessions; *center-attendance rate* =
  checked-in bookings / bookings of held sessions whose slot has ended (``checked_in_ended`` /
  ``bookings_ended``: a class not yet held, or on air now, is not counted as missed);
  *children served offline* = *child visits* (人次) = sum of the check-in head counts (a child
  at ten classes is ten visits); *children reached* = the enrolment (``hub.enrolment``) in
  effect on the period's last day of the centers that checked in to a class of the period;
- *share-centers active*: distinct centers that checked in; *regions reached*: their distinct
  provinces and counties;
- *online views* (live, replay), *seconds watched*: the view tallies of the days in the period
  (the day a view was watched); *unique viewers*: distinct viewers with a counted view in the
  period; *center-screen views*: views from signed-in share-center screens (one viewer per
  center: the children in that room are counted only by the check-in);
- *peak concurrency*: the highest peak of the period's sessions (held or not: a class whose
  status the hub never saw go live still had its viewers).

Grouped by ``teacher`` or ``course`` every figure is restricted to that teacher's or course's
sessions; grouped by ``center`` or ``province``, to the bookings of those centers, and a
center's (a province's) views and hours watched are its (its centers') screens' counted views
and watched time on the period's days; unique viewers are the centers whose screens counted.
The views export filtered by center or province uses this same definition
(``hub.exports.center_views_query``).

Where the figures are read: sessions, teaching time, bookings, check-ins and child visits
are summed in SQL per group (``_summed``: a handful of aggregate queries on the indexes of
``live_session.starts_at`` and ``booking.session``, the distinct counts done by the database;
teaching time as exact whole microseconds), so no session or booking row reaches Python.
The view figures (the beacon flush keeps them in its transaction, see ``hub.views``): views
and seconds per session per day from ``view_tally``; a center's screens' views and time per
day from ``center_day_tally``; unique viewers from ``viewer_first``, each viewer's first
counted day per span (the whole programme, each year, each month): the distinct viewers of
the days from a span's start to D are the rows of that span with ``first_day`` <= D, exact
and one index range. So "everything until today", "this year so far", "this month so far"
and whole months and years are a count; a period that begins on a month's first day (a
term) is the distinct viewers of its months' rows with ``first_day`` <= its end; any other
period (e.g. 3-17 March) counts the viewer windows of its days. ``compute(...,
direct=True)`` accumulates every figure row by row and counts every view figure from the
viewer windows (tests compare the two).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from piccolo.querystring import QueryString

from hub import db, enrolment
from hub.errors import Invalid
from hub.rowstream import fetch_batches
from hub.tables import LiveSession, SessionStatus

HELD = {SessionStatus.live.value, SessionStatus.ended.value, SessionStatus.archived.value}
FAR_PAST = date(2000, 1, 1)


class GroupBy(StrEnum):
    province = "province"
    center = "center"
    teacher = "teacher"
    course = "course"


@dataclass(frozen=True)
class Period:
    """Days ``start``..``end`` (both included) in time zone ``tz``."""

    start: date
    end: date
    tz: ZoneInfo

    @classmethod
    def of(
        cls, start: date | None, end: date | None, tz: ZoneInfo, today: date | None = None
    ) -> Period:
        """``start`` defaults to the programme's beginning, ``end`` to today."""
        end = end or today or datetime.now(tz).date()
        start = start or FAR_PAST
        if start > end:
            raise Invalid("from is after to", field="from")
        if (end - start).days > 366 * 30:
            raise Invalid("a period spans at most 30 years", field="from")
        return cls(start, end, tz)

    @classmethod
    def month(cls, year: int, month: int, tz: ZoneInfo) -> Period:
        first = date(year, month, 1)
        nxt = date(year + month // 12, month % 12 + 1, 1)
        return cls(first, nxt - timedelta(days=1), tz)

    @property
    def utc_start(self) -> datetime:
        return datetime.combine(self.start, time(0), self.tz).astimezone(UTC)

    @property
    def utc_end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time(0), self.tz).astimezone(UTC)


class Figures(msgspec.Struct, kw_only=True):
    """Impact figures of one period (programme-wide or one group)."""

    centers_active: int = 0
    teachers_taught: int = 0
    sessions_held: int = 0
    courses_held: int = 0
    live_views: int = 0
    replay_views: int = 0
    online_views: int = 0
    center_screen_views: int = 0
    unique_viewers: int = 0
    peak_concurrent: int = 0
    children_served: int = 0
    """Child visits (人次): the sum of check-in head counts."""
    children_reached: int = 0
    """Enrolment of the centers that checked in (distinct children as the centers record)."""
    bookings: int = 0
    checked_in: int = 0
    bookings_ended: int = 0
    checked_in_ended: int = 0
    attendance_rate: float | None = None
    teaching_hours: float = 0.0
    live_hours_watched: float = 0.0
    replay_hours_watched: float = 0.0
    provinces_reached: int = 0
    counties_reached: int = 0
    volunteer_hours: float = 0.0
    """Teachers' counted volunteer hours (hub.volunteer; programme totals only)."""
    volunteers_active: int = 0
    """Teachers with volunteer hours in the period (programme totals only)."""


class GroupFigures(Figures, kw_only=True):
    key: str
    label: str


class Impact(msgspec.Struct, kw_only=True):
    period_start: date
    period_end: date
    timezone: str
    totals: Figures
    group_by: str | None = None
    groups: list[GroupFigures] = msgspec.field(default_factory=list)


FIGURE_NAMES = [f for f in Figures.__struct_fields__]


@dataclass
class _Acc:
    """Accumulates one group's figures from detail rows."""

    label: str = ""
    centers: set[int] = field(default_factory=set)
    teachers: set[int] = field(default_factory=set)
    sessions: set[int] = field(default_factory=set)
    courses: set[int] = field(default_factory=set)
    provinces: set[str] = field(default_factory=set)
    counties: set[tuple[str, str, str]] = field(default_factory=set)
    micros: int = 0
    """Teaching time in microseconds (an exact sum; hours are worked out at the end)."""
    bookings: int = 0
    checked_in: int = 0
    bookings_ended: int = 0
    checked_in_ended: int = 0
    children: int = 0
    live_views: int = 0
    replay_views: int = 0
    center_views: int = 0
    live_seconds: float = 0.0
    replay_seconds: float = 0.0
    uniques: int = 0
    peak: int = 0
    reached: int = 0

    def held(self, s: dict[str, Any]) -> None:
        if s["id"] in self.sessions:
            return
        self.sessions.add(s["id"])
        self.teachers.add(s["teacher"])
        self.courses.add(s["course"])
        self.micros += s["micros"]
        self.saw(s)

    def saw(self, s: dict[str, Any]) -> None:
        """One of the group's sessions, held or not: its peak counts."""
        self.peak = max(self.peak, s["peak"])

    def booked(self, b: Sequence[Any], ended: bool = False) -> None:
        """One booking row (see ``BOOKINGS_SQL``); ``ended``: its session was held and its
        slot is over (the booking counts in the attendance rate)."""
        self.bookings += 1
        if ended:
            self.bookings_ended += 1
            self.checked_in_ended += 1 if b[6] else 0
        if b[6]:
            self.checked_in += 1
            self.children += b[7] or 0
            self.centers.add(b[1])
            self.provinces.add(b[3])
            self.counties.add((b[3], b[4], b[5]))

    def viewed(self, v: dict[str, Any], center_only: bool = False) -> None:
        views = v["center_views"] if center_only else v["views"]
        if v["kind"] == "live":
            self.live_views += views
            self.live_seconds += v["seconds"]
        else:
            self.replay_views += views
            self.replay_seconds += v["seconds"]
        self.center_views += v["center_views"]

    def counts(self) -> tuple[int, int, int, int, int, int]:
        """Centers, teachers, sessions, courses, provinces, counties."""
        return (
            len(self.centers),
            len(self.teachers),
            len(self.sessions),
            len(self.courses),
            len(self.provinces),
            len(self.counties),
        )

    def figures(self) -> dict[str, Any]:
        centers, teachers, sessions, courses, provinces, counties = self.counts()
        return {
            "centers_active": centers,
            "teachers_taught": teachers,
            "sessions_held": sessions,
            "courses_held": courses,
            "live_views": self.live_views,
            "replay_views": self.replay_views,
            "online_views": self.live_views + self.replay_views,
            "center_screen_views": self.center_views,
            "unique_viewers": self.uniques,
            "peak_concurrent": self.peak,
            "children_served": self.children,
            "children_reached": self.reached,
            "bookings": self.bookings,
            "checked_in": self.checked_in,
            "bookings_ended": self.bookings_ended,
            "checked_in_ended": self.checked_in_ended,
            "attendance_rate": (
                round(self.checked_in_ended / self.bookings_ended, 4)
                if self.bookings_ended
                else None
            ),
            "teaching_hours": round(self.micros / 3_600_000_000, 2),
            "live_hours_watched": round(self.live_seconds / 3600, 2),
            "replay_hours_watched": round(self.replay_seconds / 3600, 2),
            "provinces_reached": provinces,
            "counties_reached": counties,
        }


def _micros(s: dict[str, Any]) -> int:
    """A held session's teaching time in microseconds (stream time, else the slot)."""
    one = timedelta(microseconds=1)
    if s["live_at"] is not None and s["ended_at"] is not None and s["ended_at"] > s["live_at"]:
        return (s["ended_at"] - s["live_at"]) // one
    return (s["ends_at"] - s["starts_at"]) // one


async def _sessions(period: Period) -> dict[int, dict[str, Any]]:
    rows = (
        await LiveSession.select(
            LiveSession.id,
            LiveSession.teacher,
            LiveSession.teacher.name.as_alias("teacher_name"),
            LiveSession.course,
            LiveSession.course.title.as_alias("course_title"),
            LiveSession.status,
            LiveSession.starts_at,
            LiveSession.ends_at,
            LiveSession.live_at,
            LiveSession.ended_at,
        )
        .where(
            (LiveSession.starts_at >= period.utc_start)
            & (LiveSession.starts_at < period.utc_end)
            & (LiveSession.status != SessionStatus.cancelled.value)
        )
        .run()
    )
    out = {}
    for r in rows:
        r["micros"] = _micros(r)
        r["held"] = r["status"] in HELD
        r["peak"] = 0
        out[r["id"]] = r
    return out


BOOKINGS_SQL = (
    "SELECT b.session, b.center, sc.name, sc.province, sc.city, sc.county, "
    "CASE WHEN b.checked_in_at IS NULL THEN 0 ELSE 1 END, b.children_present "
    "FROM booking b JOIN live_session s ON s.id = b.session "
    "JOIN share_center sc ON sc.id = b.center "
    "WHERE s.starts_at >= ? AND s.starts_at < ? AND s.status != 'cancelled'"
)
"""Bookings of the period's sessions as plain rows, read in batches (flat memory)."""


def _bookings(period: Period) -> AsyncIterator[Sequence[Sequence[Any]]]:
    return fetch_batches(BOOKINGS_SQL, [period.utc_start, period.utc_end])


async def _raw(sql: str, *args: Any) -> list[dict[str, Any]]:
    rows = await db.engine().run_querystring(QueryString(sql, *args))
    return [dict(r) for r in rows]


async def _tallies(period: Period) -> list[dict[str, Any]]:
    rows = await _raw(
        "SELECT session_id, kind, SUM(views) AS views, SUM(center_views) AS center_views, "
        "SUM(seconds_watched) AS seconds FROM view_tally WHERE day >= {} AND day <= {} "
        "GROUP BY session_id, kind",
        period.start,
        period.end,
    )
    return _tally_numbers(rows)


def _tally_numbers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in rows:
        r["views"] = int(r["views"] or 0)
        r["center_views"] = int(r["center_views"] or 0)
        r["seconds"] = float(r["seconds"] or 0)
    return rows


async def _tallies_by(period: Period, group_by: GroupBy | None) -> list[dict[str, Any]]:
    """The period's view tallies summed per kind, and per teacher or course (with its label:
    every session's views count for its owner, whenever the session was)."""
    if group_by not in (GroupBy.teacher, GroupBy.course):
        return _tally_numbers(
            await _raw(
                "SELECT '' AS k, '' AS label, kind, SUM(views) AS views, "
                "SUM(center_views) AS center_views, SUM(seconds_watched) AS seconds "
                "FROM view_tally WHERE day >= {} AND day <= {} GROUP BY kind",
                period.start,
                period.end,
            )
        )
    key, label, join = (
        ("s.teacher", "x.name", "teacher x ON x.id = s.teacher")
        if group_by is GroupBy.teacher
        else ("s.course", "x.title", "course x ON x.id = s.course")
    )
    return _tally_numbers(
        await _raw(
            f"SELECT {key} AS k, {label} AS label, t.kind AS kind, SUM(t.views) AS views, "
            "SUM(t.center_views) AS center_views, SUM(t.seconds_watched) AS seconds "
            f"FROM view_tally t JOIN live_session s ON s.id = t.session_id JOIN {join} "
            f"WHERE t.day >= {{}} AND t.day <= {{}} GROUP BY {key}, {label}, t.kind",
            period.start,
            period.end,
        )
    )


def span_of(period: Period) -> tuple[str, date] | None:
    """The ``viewer_first`` span whose days begin with ``period``'s (all, a year, a month),
    when its days are a prefix of one: its unique viewers are then a count of rows."""
    start, end = period.start, period.end
    if start == FAR_PAST:
        return "all", FAR_PAST
    if (start.month, start.day) == (1, 1) and end.year == start.year:
        return "year", start
    if start.day == 1 and (end.year, end.month) == (start.year, start.month):
        return "month", start
    return None


async def online_views_per_day(first: date, last: date) -> dict[date, int]:
    """Online views (live and replay) of each day ``first``..``last`` with any: the same
    tallies ``compute`` sums for a period's ``online_views``, in one query (for charts)."""
    rows = await _raw(
        "SELECT day, SUM(views) AS views FROM view_tally WHERE day >= {} AND day <= {} "
        "GROUP BY day",
        first,
        last,
    )
    out = {}
    for r in rows:
        day = r["day"] if isinstance(r["day"], date) else date.fromisoformat(str(r["day"]))
        out[day] = int(r["views"] or 0)
    return out


async def _uniques(
    period: Period, group_by: GroupBy | None, direct: bool = False
) -> dict[str, int]:
    """Distinct viewers with a counted view in the period, per group key ("" = all).

    From the rollups unless ``direct``: programme-wide, the viewers whose first counted day
    in the period's span (``span_of``) is on or before its last day; for a period that
    begins on a month's first day (a term, a quarter), the distinct viewers of the
    ``month`` rows of its months with a first day on or before its last day (a viewer
    watched in the period exactly when, in one of its months, its first counted day is on
    or before the period's end); per center or
    province, the centers whose screens counted a view (``center_day_tally``). Other
    periods, and teachers and courses, count the viewer windows."""
    where = "w.counted AND w.day >= {} AND w.day <= {}"
    # distinct is byte equality in any collation; comparing bytes is faster
    viewer = "w.viewer" if db.is_sqlite() else 'w.viewer COLLATE "C"'
    span = None if direct else span_of(period)
    if group_by is None and span is not None:
        rows = await _raw(
            "SELECT '' AS k, COUNT(*) AS n FROM viewer_first "
            "WHERE span = {} AND span_start = {} AND first_day <= {}",
            span[0],
            span[1],
            period.end,
        )
    elif group_by is None and not direct and period.start.day == 1:
        # whole months and a month so far: each viewer's first day in each of the months
        rows = await _raw(
            f"SELECT '' AS k, COUNT(DISTINCT {viewer}) AS n FROM viewer_first w "
            "WHERE w.span = 'month' AND w.span_start >= {} AND w.span_start <= {} "
            "AND w.first_day <= {}",
            period.start,
            period.end,
            period.end,
        )
    elif group_by is None:
        rows = await _raw(
            f"SELECT '' AS k, COUNT(DISTINCT {viewer}) AS n FROM viewer_window w WHERE {where}",
            period.start,
            period.end,
        )
    elif group_by in (GroupBy.teacher, GroupBy.course):
        column = "s.teacher" if group_by is GroupBy.teacher else "s.course"
        rows = await _raw(
            f"SELECT {column} AS k, COUNT(DISTINCT {viewer}) AS n FROM viewer_window w "
            f"JOIN live_session s ON s.id = w.session_id WHERE {where} GROUP BY {column}",
            period.start,
            period.end,
        )
    elif not direct:
        column = "c.id" if group_by is GroupBy.center else "c.province"
        rows = await _raw(
            f"SELECT {column} AS k, COUNT(DISTINCT t.center_id) AS n FROM center_day_tally t "
            "JOIN share_center c ON c.id = t.center_id "
            f"WHERE t.views > 0 AND t.day >= {{}} AND t.day <= {{}} GROUP BY {column}",
            period.start,
            period.end,
        )
    else:
        column = "c.id" if group_by is GroupBy.center else "c.province"
        rows = await _raw(
            f"SELECT {column} AS k, COUNT(DISTINCT w.center_id) AS n FROM viewer_window w "
            f"JOIN share_center c ON c.id = w.center_id WHERE {where} GROUP BY {column}",
            period.start,
            period.end,
        )
    return {str(r["k"]): int(r["n"]) for r in rows}


async def _peaks(sessions: dict[int, dict[str, Any]], period: Period) -> None:
    rows = await _raw(
        "SELECT p.session_id, p.peak FROM view_peak p JOIN live_session s ON s.id = p.session_id "
        "WHERE s.starts_at >= {} AND s.starts_at < {}",
        period.utc_start,
        period.utc_end,
    )
    for r in rows:
        if r["session_id"] in sessions:
            sessions[r["session_id"]]["peak"] = int(r["peak"])


async def _center_labels(ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    from hub.tables import ShareCenter

    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await ShareCenter.select(ShareCenter.id, ShareCenter.name, ShareCenter.province).where(
        ShareCenter.id.is_in(wanted)
    )
    return {r["id"]: (r["name"], r["province"]) for r in rows}


async def center_provinces(ids: Iterable[int]) -> dict[int, str]:
    """Each of these centers' province."""
    return {k: province for k, (_, province) in (await _center_labels(ids)).items()}


async def compute(
    period: Period,
    group_by: GroupBy | None = None,
    now: datetime | None = None,
    direct: bool = False,
) -> Impact:
    """The figures of ``period``: totals, and per group when ``group_by`` is given (``now``:
    when slots are over, for the attendance rate). Sessions, bookings and check-ins are
    summed in SQL per group, view figures come from the rollups the beacon flush keeps;
    ``direct`` reads every session, booking and view tally and counts the viewer windows
    instead (the same figures, the check of the sums and rollups)."""
    moment = now or datetime.now(UTC)
    if direct:
        total, groups = await _accumulated(period, group_by, moment)
    else:
        total, summed = await _summed_with_views(period, group_by, moment)
        groups = dict(summed)
    total.uniques = (await _uniques(period, None, direct)).get("", 0)
    enrolled = await enrolment.in_effect(total.centers, period.end)
    total.reached = sum(enrolled.values())
    impact = Impact(
        period_start=period.start,
        period_end=period.end,
        timezone=period.tz.key,
        totals=Figures(**total.figures()),
        group_by=group_by.value if group_by else None,
    )
    from hub.volunteer.figures import volunteer_figures

    impact.totals.volunteer_hours, impact.totals.volunteers_active = await volunteer_figures(period)
    if group_by is None:
        return impact
    uniques = await _uniques(period, group_by, direct)
    for key, acc in groups.items():
        acc.uniques = uniques.get(key, 0)
        acc.reached = sum(enrolled.get(c, 0) for c in acc.centers)
    impact.groups = sorted(
        (GroupFigures(key=k, label=a.label, **a.figures()) for k, a in groups.items()),
        key=lambda g: (-g.children_served, -g.online_views, -g.sessions_held, g.label, g.key),
    )
    return impact


async def _summed_with_views(
    period: Period, group_by: GroupBy | None, moment: datetime
) -> tuple[_Sums, dict[str, _Sums]]:
    """``_summed`` and the view figures from the rollups."""
    total, groups, _ = await _summed(period, group_by, moment)
    for v in await _tallies_by(period, None):
        total.viewed(v)
    if group_by in (GroupBy.teacher, GroupBy.course):
        for v in await _tallies_by(period, group_by):
            acc = groups.get(str(v["k"]))
            if acc is None:
                acc = groups[str(v["k"])] = _Sums(label=v["label"])
            acc.viewed(v)
    elif group_by is not None:
        by_center = group_by is GroupBy.center
        center_views = await _center_views(period)
        labels = await _center_labels(r["center_id"] for r in center_views)
        for v in center_views:
            name, province = labels.get(v["center_id"], ("", ""))
            key = str(v["center_id"]) if by_center else province
            acc = groups.get(key)
            if acc is None:
                acc = groups[key] = _Sums()
            acc.label = acc.label or (name if by_center else province)
            acc.viewed(v, center_only=True)
    return total, groups


async def _accumulated(
    period: Period, group_by: GroupBy | None, moment: datetime
) -> tuple[_Acc, dict[str, _Acc]]:
    """Every figure but unique viewers and children reached, accumulated row by row from the
    period's sessions, bookings and view tallies (the viewer windows for centers)."""
    direct = True
    sessions = await _sessions(period)
    await _peaks(sessions, period)
    tallies = await _tallies(period)
    groups: dict[str, _Acc] = defaultdict(_Acc)
    by_session = group_by in (GroupBy.teacher, GroupBy.course)
    ref, label = (
        ("teacher", "teacher_name")
        if group_by is GroupBy.teacher
        else (
            "course",
            "course_title",
        )
    )

    total = _Acc()
    for s in sessions.values():
        s["ended_slot"] = s["held"] and s["ends_at"] <= moment
        total.saw(s)
        if s["held"]:
            total.held(s)
        if by_session:
            acc = groups[str(s[ref])]
            acc.label = s[label]
            acc.saw(s)
            if s["held"]:
                acc.held(s)
    by_center = group_by is GroupBy.center
    async for batch in _bookings(period):
        for b in batch:
            s = sessions.get(b[0])
            ended = s is not None and s["ended_slot"]
            total.booked(b, ended)
            if group_by is None:
                continue
            if by_session:
                if s is not None:
                    groups[str(s[ref])].booked(b, ended)
                continue
            acc = groups[str(b[1]) if by_center else b[3]]
            acc.label = b[2] if by_center else b[3]
            acc.booked(b, ended)
            if s is not None and s["held"] and b[6]:
                acc.held(s)
    for v in tallies:
        total.viewed(v)
    if group_by is None:
        return total, groups
    if by_session:
        # views of sessions outside the period (replays watched now) still belong to the group
        missing = {v["session_id"] for v in tallies} - set(sessions)
        owners = await _owners(missing, ref)
        for v in tallies:
            s = sessions.get(v["session_id"])
            owner = s[ref] if s is not None else owners.get(v["session_id"])
            if owner is None:
                continue
            acc = groups[str(owner)]
            if not acc.label and s is None:
                acc.label = owners.get(("label", v["session_id"]), "")  # type: ignore[arg-type]
            acc.viewed(v)
    else:
        center_views = await _center_views(period, direct)
        labels = await _center_labels(r["center_id"] for r in center_views)
        for v in center_views:
            name, province = labels.get(v["center_id"], ("", ""))
            key = str(v["center_id"]) if by_center else province
            acc = groups[key]
            acc.label = acc.label or (name if by_center else province)
            acc.viewed(v, center_only=True)
    return total, groups


async def _owners(session_ids: set[int], ref: str) -> dict[Any, Any]:
    if not session_ids:
        return {}
    label = LiveSession.teacher.name if ref == "teacher" else LiveSession.course.title
    rows = await LiveSession.select(
        LiveSession.id, getattr(LiveSession, ref), label.as_alias("label")
    ).where(LiveSession.id.is_in(sorted(session_ids)))
    out: dict[Any, Any] = {}
    for r in rows:
        out[r["id"]] = r[ref]
        out[("label", r["id"])] = r["label"]
    return out


async def _center_views(period: Period, direct: bool = False) -> list[dict[str, Any]]:
    """Counted views and time watched on center screens per center and kind (for the
    center/province view), from ``center_day_tally`` (the viewer windows when ``direct``)."""
    if direct:
        sql = (
            "SELECT center_id, kind, SUM(CASE WHEN counted THEN 1 ELSE 0 END) AS n, "
            "SUM(millis) AS ms FROM viewer_window "
            "WHERE center_id IS NOT NULL AND day >= {} AND day <= {} "
            "GROUP BY center_id, kind"
        )
    else:
        sql = (
            "SELECT center_id, kind, SUM(views) AS n, SUM(millis) AS ms FROM center_day_tally "
            "WHERE day >= {} AND day <= {} GROUP BY center_id, kind"
        )
    rows = await _raw(sql, period.start, period.end)
    return [
        {
            "center_id": r["center_id"],
            "kind": r["kind"],
            "views": 0,
            "center_views": int(r["n"] or 0),
            "seconds": int(r["ms"] or 0) / 1000,
        }
        for r in rows
    ]


def _epoch_us(column: str) -> str:
    """SQL: ``column`` (a timestamptz) as whole microseconds since 1970, exactly."""
    if db.is_sqlite():  # stored as "YYYY-MM-DD HH:MM:SS[.ffffff]+00:00"
        return (
            f"(CAST(strftime('%s', {column}) AS INTEGER) * 1000000 + CASE WHEN "
            f"substr({column}, 20, 1) = '.' THEN CAST(substr({column}, 21, 6) AS INTEGER) "
            "ELSE 0 END)"
        )
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"


def _micros_sql() -> str:
    """SQL: a session ``s``'s teaching time in microseconds (``_micros``)."""
    live, ended = _epoch_us("s.live_at"), _epoch_us("s.ended_at")
    return (
        f"CASE WHEN s.live_at IS NOT NULL AND s.ended_at IS NOT NULL AND {ended} > {live} "
        f"THEN {ended} - {live} ELSE {_epoch_us('s.ends_at')} - {_epoch_us('s.starts_at')} END"
    )


IN_PERIOD = "s.starts_at >= {} AND s.starts_at < {} AND s.status != 'cancelled'"
IS_HELD = "s.status IN ('live', 'ended', 'archived')"


def _epoch_of(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


class _Sums(_Acc):
    """A group's figures summed in SQL: the distinct counts are given, not collected."""

    n: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)

    def counts(self) -> tuple[int, int, int, int, int, int]:
        return self.n


def _count(value: Any) -> int:
    return int(value or 0)


async def _held_sums(period: Period, key: str | None) -> dict[str, dict[str, Any]]:
    """Per group key ("" = all): held sessions, their distinct teachers and courses, teaching
    microseconds; and the highest peak of the period's sessions (held or not). ``key``: a
    session column (``s.teacher``, ``s.course``) or None for the programme."""
    label, join, group = "''", "", ""
    if key == "s.teacher":
        label, join = "x.name", "JOIN teacher x ON x.id = s.teacher "
    elif key == "s.course":
        label, join = "x.title", "JOIN course x ON x.id = s.course "
    if key:
        group = f"GROUP BY {key}, {label}"
    rows = await _raw(
        f"SELECT {key or label} AS k, {label} AS label, "
        f"SUM(CASE WHEN {IS_HELD} THEN 1 ELSE 0 END) AS n, "
        f"COUNT(DISTINCT CASE WHEN {IS_HELD} THEN s.teacher END) AS teachers, "
        f"COUNT(DISTINCT CASE WHEN {IS_HELD} THEN s.course END) AS courses, "
        f"SUM(CASE WHEN {IS_HELD} THEN {_micros_sql()} ELSE 0 END) AS micros, "
        "MAX(COALESCE(p.peak, 0)) AS peak "
        f"FROM live_session s {join}LEFT JOIN view_peak p ON p.session_id = s.id "
        f"WHERE {IN_PERIOD} {group}",
        period.utc_start,
        period.utc_end,
    )
    return {str(r["k"]): r for r in rows}


async def _held_by_center(period: Period, province: bool) -> dict[str, dict[str, Any]]:
    """Per center (province): the held sessions a center of it checked in to, their teachers,
    courses, teaching microseconds and highest peak (each session once per group)."""
    column = "sc.province" if province else "b.center"
    rows = await _raw(
        "SELECT k, COUNT(*) AS n, COUNT(DISTINCT teacher) AS teachers, "
        "COUNT(DISTINCT course) AS courses, SUM(micros) AS micros, MAX(peak) AS peak FROM "
        f"(SELECT DISTINCT {column} AS k, s.id, s.teacher AS teacher, s.course AS course, "
        f"{_micros_sql()} AS micros, COALESCE(p.peak, 0) AS peak "
        "FROM booking b JOIN live_session s ON s.id = b.session "
        "JOIN share_center sc ON sc.id = b.center "
        "LEFT JOIN view_peak p ON p.session_id = s.id "
        f"WHERE {IN_PERIOD} AND {IS_HELD} AND b.checked_in_at IS NOT NULL) AS held "
        "GROUP BY k",
        period.utc_start,
        period.utc_end,
    )
    return {str(r["k"]): r for r in rows}


def _booking_sums(key: str, more: str = "") -> str:
    """SQL: bookings, check-ins, child visits, bookings and check-ins of ended slots per
    ``key`` (as ``k``; ``more``: further grouped columns)."""
    return (
        f"SELECT {key} AS k{more}, COUNT(*) AS bookings, "
        "SUM(CASE WHEN b.checked_in_at IS NULL THEN 0 ELSE 1 END) AS checked, "
        "SUM(CASE WHEN b.checked_in_at IS NULL THEN 0 ELSE COALESCE(b.children_present, 0) "
        "END) AS children, "
        f"SUM(CASE WHEN {IS_HELD} AND {_epoch_us('s.ends_at')} <= {{}} THEN 1 ELSE 0 END) "
        "AS ended, "
        f"SUM(CASE WHEN {IS_HELD} AND {_epoch_us('s.ends_at')} <= {{}} "
        "AND b.checked_in_at IS NOT NULL THEN 1 ELSE 0 END) AS checked_ended "
        "FROM booking b JOIN live_session s ON s.id = b.session "
        "JOIN share_center sc ON sc.id = b.center "
        f"WHERE {IN_PERIOD} GROUP BY {key}{more}"
    )


def _places(rows: list[dict[str, Any]], acc: _Sums) -> tuple[int, int, int]:
    """Of per-center booking rows: the centers that checked in (kept in ``acc.centers``, for
    children reached), their distinct provinces and counties."""
    went = [r for r in rows if _count(r["checked"])]
    acc.centers = {int(r["k"]) for r in went}
    return (
        len(went),
        len({r["province"] for r in went}),
        len({(r["province"], r["city"], r["county"]) for r in went}),
    )


def _add_bookings(acc: _Sums, r: dict[str, Any]) -> None:
    acc.bookings += _count(r["bookings"])
    acc.checked_in += _count(r["checked"])
    acc.children += _count(r["children"])
    acc.bookings_ended += _count(r["ended"])
    acc.checked_in_ended += _count(r["checked_ended"])


def _set_held(acc: _Sums, r: dict[str, Any] | None, places: tuple[int, int, int]) -> None:
    centers, provinces, counties = places
    if r is None:
        acc.n = (centers, 0, 0, 0, provinces, counties)
        return
    acc.n = (centers, _count(r["teachers"]), _count(r["n"]), _count(r["courses"]))
    acc.n += (provinces, counties)
    acc.micros = _count(r["micros"])
    acc.peak = max(acc.peak, _count(r["peak"]))


async def _summed(
    period: Period, group_by: GroupBy | None, moment: datetime
) -> tuple[_Sums, dict[str, _Sums], list[dict[str, Any]]]:
    """The programme's and each group's figures other than the view figures and children
    reached, summed in SQL (indexes on ``live_session.starts_at`` and ``booking.session``):
    the same figures the per-row accumulation of ``compute(..., direct=True)`` makes.
    Also the booking rows per center (for children reached)."""
    now_us = _epoch_of(moment)
    args = (now_us, now_us, period.utc_start, period.utc_end)
    per_center = await _raw(
        _booking_sums("b.center", ", sc.name, sc.province, sc.city, sc.county"), *args
    )
    total = _Sums()
    for r in per_center:
        _add_bookings(total, r)
    _set_held(total, (await _held_sums(period, None)).get(""), _places(per_center, total))
    groups: dict[str, _Sums] = {}
    if group_by in (GroupBy.center, GroupBy.province):
        province = group_by is GroupBy.province
        held = await _held_by_center(period, province)
        members: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in per_center:
            key = r["province"] if province else str(r["k"])
            members[key].append(r)
        for key, rows in members.items():
            acc = groups[key] = _Sums(label=key if province else rows[0]["name"])
            for r in rows:
                _add_bookings(acc, r)
            _set_held(acc, held.get(key), _places(rows, acc))
    elif group_by in (GroupBy.teacher, GroupBy.course):
        column = "s.teacher" if group_by is GroupBy.teacher else "s.course"
        sessions = await _held_sums(period, column)
        booked = {str(r["k"]): r for r in await _raw(_booking_sums(column), *args)}
        went: dict[str, set[int]] = defaultdict(set)
        for r in await _raw(
            f"SELECT DISTINCT {column} AS k, b.center AS center FROM booking b "
            f"JOIN live_session s ON s.id = b.session WHERE {IN_PERIOD} "
            "AND b.checked_in_at IS NOT NULL",
            period.utc_start,
            period.utc_end,
        ):
            went[str(r["k"])].add(int(r["center"]))
        where = {int(r["k"]): r for r in per_center}
        for key, r in sessions.items():
            acc = groups[key] = _Sums(label=r["label"])
            rows = [where[c] for c in went.get(key, set())]
            _set_held(acc, r, _places(rows, acc))
            if key in booked:
                _add_bookings(acc, booked[key])
    return total, groups, per_center
