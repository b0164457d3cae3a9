"""Live sessions: one occurrence of a course. Lists are filtered and paginated."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, MediaType, Request, Response, get, patch, post
from litestar.params import Parameter, QueryParameter

from hub import db, live, schedule, watch_state
from hub import rows as rows_of
from hub.accounts import Principal
from hub.api.common import (
    Page,
    PageNo,
    PathId,
    PerPage,
    ProviderChoice,
    TzParam,
    need,
    viewer_zone,
)
from hub.api.streams import check_provider_choice, teacher_session
from hub.auth import teacher_or_admin
from hub.cache import ResponseCache
from hub.errors import Conflict, Invalid
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.tables import LiveSession, SessionStatus, Visibility
from hub.watch_state import WatchState

Provider = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")]


@functools.lru_cache(maxsize=16384)
def local_iso(moment: datetime, tz: ZoneInfo) -> str:
    """``moment`` in ``tz`` as ISO 8601; remembered (a week's lists repeat the same times)."""
    return moment.astimezone(tz).isoformat()


class SessionOut(msgspec.Struct):
    id: int
    course_id: int
    title: str
    subject: str
    grade_min: int
    grade_max: int
    teacher_id: int
    teacher_name: str
    starts_at: datetime
    ends_at: datetime
    starts_local: str
    ends_local: str
    timezone: str
    status: str
    visibility: str
    provider: str
    series_id: int | None

    @classmethod
    def of(cls, v: Sequence[Any], tz: ZoneInfo) -> SessionOut:
        """From a positional list row (``LIST_SELECT``'s order), its times in ``tz``."""
        starts, ends = rows_of.moment(v[1]), rows_of.moment(v[2])
        return cls(
            id=v[0],
            course_id=v[6],
            title=v[7],
            subject=v[8],
            grade_min=v[9],
            grade_max=v[10],
            teacher_id=v[12],
            teacher_name=v[13],
            starts_at=starts,
            ends_at=ends,
            starts_local=local_iso(starts, tz),
            ends_local=local_iso(ends, tz),
            timezone=tz.key,
            status=v[3],
            visibility=v[11],
            provider=v[4],
            series_id=v[5],
        )


ProviderOptions = Annotated[
    dict[str, Any],
    msgspec.Meta(max_length=20, description="the provider's session options (see /plugins)"),
]


class SessionIn(msgspec.Struct, forbid_unknown_fields=True):
    course_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    starts_at: datetime
    ends_at: datetime
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "Asia/Shanghai"
    provider: ProviderChoice = ""
    provider_settings: ProviderOptions = msgspec.field(default_factory=dict)


class SessionPatch(msgspec.Struct, forbid_unknown_fields=True):
    starts_at: datetime | msgspec.UnsetType = msgspec.UNSET
    ends_at: datetime | msgspec.UnsetType = msgspec.UNSET
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "Asia/Shanghai"
    status: SessionStatus | msgspec.UnsetType = msgspec.UNSET
    provider: Provider | msgspec.UnsetType = msgspec.UNSET
    provider_settings: ProviderOptions | msgspec.UnsetType = msgspec.UNSET


LIST_FROM = """FROM live_session s
JOIN course c ON c.id = s.course
JOIN teacher t ON t.id = s.teacher"""
LIST_SELECT = (
    ("id", "s.id"),
    ("starts_at", "s.starts_at"),
    ("ends_at", "s.ends_at"),
    ("status", "s.status"),
    ("provider", "s.provider"),
    ("series", "s.series"),
    ("course_id", "c.id"),
    ("title", "c.title"),
    ("subject", "c.subject"),
    ("grade_min", "c.grade_min"),
    ("grade_max", "c.grade_max"),
    ("visibility", "c.visibility"),
    ("teacher_id", "t.id"),
    ("teacher_name", "t.name"),
)
"""A session row of the lists: (alias, expression), in select order."""
LIST_NAMES = tuple(name for name, _ in LIST_SELECT)
LIST_COLUMNS = ", ".join(f"{expr} AS {name}" for name, expr in LIST_SELECT)
MOMENTS = ("starts_at", "ends_at")
PLACE_COLUMNS = {"province": "sc.province", "city": "sc.city", "county": "sc.county"}


def list_columns() -> str:
    """``LIST_COLUMNS`` as this backend reads them fastest: the times through
    ``rows.moment_sql`` (text on SQLite, parsed once per distinct time)."""
    return _list_columns(db.is_sqlite())


@functools.cache
def _list_columns(sqlite: bool) -> str:
    return ", ".join(
        f"{rows_of.moment_sql(expr) if name in MOMENTS else expr} AS {name}"
        for name, expr in LIST_SELECT
    )


def session_dicts(
    values: Sequence[Sequence[Any]], names: Sequence[str] = LIST_NAMES
) -> list[dict[str, Any]]:
    """Positional rows (``LIST_SELECT`` first, then ``names``' others) as dicts, with the
    session's times as aware datetimes."""
    moment = rows_of.moment
    out = []
    for value in values:
        row = dict(zip(names, value, strict=False))
        row["starts_at"] = moment(row["starts_at"])
        row["ends_at"] = moment(row["ends_at"])
        out.append(row)
    return out


class ListQuery(msgspec.Struct, frozen=True):
    """The filters of a sessions list (UTC bounds already taken from the viewer's days)."""

    lo: datetime | None = None
    hi: datetime | None = None
    subject: str | None = None
    grade: int | None = None
    status: str | None = None
    teacher_id: int | None = None
    course_id: int | None = None
    places: tuple[tuple[str, str | None], ...] = ()
    public_only: bool = True

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause and its arguments. A lower bound on ``ends_at`` also bounds
        ``starts_at`` (a session lasts at most ``schedule.MAX_SESSION``), so the range is read
        from the ``starts_at`` index."""
        parts: list[str] = []
        args: list[Any] = []
        if self.lo is not None:
            parts.append("s.starts_at > ? AND s.ends_at > ?")
            args += [self.lo - schedule.MAX_SESSION, self.lo]
        if self.hi is not None:
            parts.append("s.starts_at < ?")
            args.append(self.hi)
        if self.subject:
            parts.append("c.subject = ?")
            args.append(self.subject)
        if self.grade:
            parts.append("c.grade_min <= ? AND c.grade_max >= ?")
            args += [self.grade, self.grade]
        if self.status:
            parts.append("s.status = ?")
            args.append(self.status)
        if self.teacher_id:
            parts.append("s.teacher = ?")
            args.append(self.teacher_id)
        if self.course_id:
            parts.append("s.course = ?")
            args.append(self.course_id)
        for place, value in self.places:
            if value:
                parts.append(
                    "s.id IN (SELECT b.session FROM booking b"
                    f" JOIN share_center sc ON sc.id = b.center WHERE {PLACE_COLUMNS[place]} = ?)"
                )
                args.append(value)
        if self.public_only:
            parts.append("c.visibility = ?")
            args.append(Visibility.public.value)
        return (" AND ".join(parts) or "1 = 1"), args


async def list_values(
    where: str,
    args: Sequence[Any],
    limit: int = 50,
    offset: int = 0,
    *,
    joins: str = "",
    extra: Sequence[tuple[str, str]] = (),
    order: str = "s.starts_at, s.id",
) -> Sequence[Sequence[Any]]:
    """Session rows as positional rows (``LIST_SELECT``, then the ``extra`` (alias,
    expression) columns of what ``joins`` adds) in ``order`` (start order), in one query; the
    placeholders of ``joins`` come before ``where``'s in ``args``."""
    more = "".join(f", {expr} AS {name}" for name, expr in extra)
    return await rows_of.fetch_plain(
        f"SELECT {list_columns()}{more} {LIST_FROM} {joins} WHERE {where}"
        f" ORDER BY {order} LIMIT ? OFFSET ?",
        [*args, limit, offset],
    )


async def list_rows(
    where: str,
    args: Sequence[Any],
    limit: int = 50,
    offset: int = 0,
    *,
    joins: str = "",
    extra: Sequence[tuple[str, str]] = (),
    order: str = "s.starts_at, s.id",
) -> list[dict[str, Any]]:
    """``list_values`` as dicts by alias (for the pages and the calendar feeds)."""
    values = await list_values(where, args, limit, offset, joins=joins, extra=extra, order=order)
    return session_dicts(values, (*LIST_NAMES, *(name for name, _ in extra)))


async def list_out(
    where: str, args: Sequence[Any], tz: ZoneInfo, limit: int = 50, *, joins: str = ""
) -> list[SessionOut]:
    """``list_values`` as the API's ``SessionOut``, times in ``tz``."""
    return [SessionOut.of(v, tz) for v in await list_values(where, args, limit, joins=joins)]


def page_query(where: str, args: Sequence[Any], limit: int, offset: int) -> tuple[str, list[Any]]:
    """A page of the list with its total, in one query, as each backend counts fastest
    (measured on the week's list): on SQLite a scalar subquery, read once from the index with
    no row data (a ``COUNT(*) OVER ()`` window reads and sorts every matching row whole); on
    PostgreSQL the window over the one scan (the subquery would scan and join again)."""
    if db.is_sqlite():
        return (
            f"SELECT {list_columns()}, (SELECT COUNT(*) {LIST_FROM} WHERE {where}) AS total"
            f" {LIST_FROM} WHERE {where} ORDER BY s.starts_at, s.id LIMIT ? OFFSET ?",
            [*args, *args, limit, offset],
        )
    return (
        f"SELECT {list_columns()}, COUNT(*) OVER () AS total {LIST_FROM} WHERE {where}"
        " ORDER BY s.starts_at, s.id LIMIT ? OFFSET ?",
        [*args, limit, offset],
    )


async def list_page(query: ListQuery, page: int, per_page: int, zone: ZoneInfo) -> Page[SessionOut]:
    """One page of sessions and their total in one query, rows straight into ``SessionOut``
    (a second query counts them only past the last page)."""
    where, args = query.where()
    values = await rows_of.fetch_plain(*page_query(where, args, per_page, (page - 1) * per_page))
    if values:
        total = int(values[0][len(LIST_NAMES)])
    elif page == 1:
        total = 0
    else:  # past the last page: no row carries the total, count the match alone
        total = int(await rows_of.fetch_value(f"SELECT COUNT(*) {LIST_FROM} WHERE {where}", args))
    return Page(
        items=[SessionOut.of(v, zone) for v in values],
        page=page,
        per_page=per_page,
        total=total,
    )


def iso_day(value: str | None, field: str) -> date | None:
    """A ``YYYY-MM-DD`` query value; a bad one is a 400 naming the query parameter."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{value[:20]!r} is not a date (YYYY-MM-DD)", field=field) from None


def day_bounds(
    start: date | None, end: date | None, tz: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """Dates in the viewer's zone to a UTC half-open range [start 00:00, end+1 00:00)."""
    if start and end and end < start:
        raise Invalid("'to' must not be before 'from'", field="to")
    for value, field in ((start, "from"), (end, "to")):
        if value and not schedule.FIRST_YEAR <= value.year <= schedule.LAST_YEAR:
            raise Invalid(
                f"dates run from {schedule.FIRST_YEAR} to {schedule.LAST_YEAR}", field=field
            )
    lo = datetime.combine(start, time.min, tzinfo=tz).astimezone(UTC) if start else None
    hi = (
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
        if end
        else None
    )
    return lo, hi


class SessionController(Controller):
    path = "/api/v1/sessions"
    tags = ["sessions"]

    @get("/")
    async def list_sessions(
        self,
        request: Request[Any, Any, Any],
        principal: Principal | None,
        settings: Settings,
        page: PageNo = 1,
        per_page: PerPage = 50,
        date_from: Annotated[
            str | None,
            QueryParameter(
                name="from",
                format="date",
                description="first day (viewer's zone); without 'from' and 'to': from today",
            ),
        ] = None,
        date_to: Annotated[
            str | None, QueryParameter(name="to", format="date", description="last day")
        ] = None,
        subject: Annotated[str | None, Parameter(max_length=50)] = None,
        grade: Annotated[int | None, Parameter(ge=1, le=12)] = None,
        province: Annotated[
            str | None, Parameter(max_length=50, description="booked by a center here")
        ] = None,
        city: Annotated[
            str | None, Parameter(max_length=50, description="booked by a center here")
        ] = None,
        county: Annotated[
            str | None, Parameter(max_length=50, description="booked by a center here")
        ] = None,
        status: SessionStatus | None = None,
        teacher_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
        course_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
        tz: TzParam = None,
    ) -> Page[SessionOut]:
        """The schedule: sessions in a date range (viewer's time zone), filtered, paginated.

        Answers are shared for ``public_cache_seconds`` (hub/cache.py): one per query for
        anonymous callers, one per query and time zone for signed-in ones."""

        zone = viewer_zone(tz, principal, settings.timezone)

        async def listing() -> bytes:
            first, last = iso_day(date_from, "from"), iso_day(date_to, "to")
            if first is None and last is None:
                first = datetime.now(UTC).astimezone(zone).date()  # what is on from today
            lo, hi = day_bounds(first, last, zone)
            query = ListQuery(
                lo=lo,
                hi=hi,
                subject=subject,
                grade=grade,
                status=status.value if status else None,
                teacher_id=teacher_id,
                course_id=course_id,
                places=(("province", province), ("city", city), ("county", county)),
                public_only=principal is None,
            )
            return msgspec.json.encode(await list_page(query, page, per_page, zone))

        # Every signed-in user sees the same sessions (public and centers-only), so their answer
        # is shared too, per time zone; an anonymous one per query (hub/cache.py).
        audience = "public" if principal is None else f"signed-in {zone.key}"
        key = f"sessions {audience}?" + request.scope["query_string"].decode("latin-1")
        cache: ResponseCache = request.app.state.read_cache
        body = await cache.shared(key, listing)
        return Response(body, media_type=MediaType.JSON)  # type: ignore[return-value]

    @post("/", guards=[teacher_or_admin])
    async def create_session(
        self, data: SessionIn, principal: Principal | None, plugins: PluginHost
    ) -> SessionOut:
        """Schedule one class; a clash with the teacher's other sessions answers 409."""
        who = need(principal)
        tz = schedule.zone(data.timezone, field="timezone")
        starts = schedule.as_utc(data.starts_at, tz, "starts_at")
        ends = schedule.as_utc(data.ends_at, tz, "ends_at")
        provider = plugins.chosen_provider(data.provider)
        options = check_provider_choice(plugins, provider, data.provider_settings)
        session_id = await schedule.create_session(
            who,
            data.course_id,
            starts,
            ends,
            provider=provider,
            provider_settings=options,
            tz=tz,
        )
        return await one_session(session_id, tz)

    @get("/{session_id:int}")
    async def get_session(
        self,
        session_id: PathId,
        principal: Principal | None,
        settings: Settings,
        tz: TzParam = None,
    ) -> SessionOut:
        """One session."""
        out = await one_session(session_id, viewer_zone(tz, principal, settings.timezone))
        if principal is None and out.visibility != Visibility.public.value:
            raise schedule.NotFound(f"session {session_id} not found", field="session_id")
        return out

    @patch("/{session_id:int}", guards=[teacher_or_admin])
    async def update_session(
        self,
        session_id: PathId,
        data: SessionPatch,
        principal: Principal | None,
        plugins: PluginHost,
    ) -> SessionOut:
        """Move a session (also one class of a series), change its streaming provider, or
        cancel it with status=cancelled. All of the change is made, or none of it."""
        who = need(principal)
        tz = schedule.zone(data.timezone, field="timezone")
        current = await schedule.get_session(session_id)
        schedule.may_teach(who, current["teacher"])  # also for an empty patch (it answers)
        # check everything first ...
        choice: tuple[str, dict[str, Any]] | None = None
        if data.provider is not msgspec.UNSET or data.provider_settings is not msgspec.UNSET:
            if current["status"] != SessionStatus.scheduled:
                raise Conflict(
                    f"the provider can change only before the class (it is {current['status']})",
                    field="provider",
                )
            provider = current["provider"] if data.provider is msgspec.UNSET else data.provider
            raw = (
                (current["provider_settings"] if data.provider is msgspec.UNSET else {})
                if data.provider_settings is msgspec.UNSET
                else data.provider_settings
            )
            choice = (provider, check_provider_choice(plugins, provider, raw))
        cancel = data.status is not msgspec.UNSET
        if cancel and data.status is not SessionStatus.cancelled:
            raise Invalid("only 'cancelled' can be set here", field="status")
        moved: tuple[datetime, datetime] | None = None
        if data.starts_at is not msgspec.UNSET or data.ends_at is not msgspec.UNSET:
            moved = (
                schedule.as_utc(data.starts_at, tz, "starts_at")
                if data.starts_at is not msgspec.UNSET
                else current["starts_at"],
                schedule.as_utc(data.ends_at, tz, "ends_at")
                if data.ends_at is not msgspec.UNSET
                else current["ends_at"],
            )
            schedule.check_interval(*moved)
        if cancel and moved is not None:
            raise Invalid("cancel a session or move it, not both in one change", field="status")
        # ... then write it in one transaction (a clash or a conflict undoes every part), the
        # teacher's lock first, as every schedule change takes it: two changes never deadlock
        async with db.write_transaction():
            await schedule.lock(schedule.LOCK_TEACHER, current["teacher"])
            if choice is not None:
                provider, options = choice
                await (
                    LiveSession.update(
                        {LiveSession.provider: provider, LiveSession.provider_settings: options}
                    )
                    .where(LiveSession.id == session_id)
                    .run()
                )
            if cancel:
                await schedule.cancel_session(who, session_id)
            if moved is not None:
                await schedule.move_session(who, session_id, *moved, tz)
        return await one_session(session_id, tz)

    @get("/{session_id:int}/state", cache=False)
    async def session_state(
        self,
        request: Request[Any, Any, Any],
        session_id: PathId,
        principal: Principal | None,
        settings: Settings,
        plugins: PluginHost,
    ) -> Response[WatchState]:
        """Where the class stands for its viewers (the watch page polls this every few
        seconds): waiting, live (with its playlist and whether it holds a segment yet), ended,
        replay_ready (with the replay's playlists) or cancelled. A rehearsal shows as waiting;
        the session's teacher and admins also get ``rehearsal`` (a rehearsal push arrives).
        Visible to whom the session is (public courses anyone, others signed-in users)."""
        await visible_session(session_id, principal)
        state = await watch_state.watch_state(
            request, session_id, plugins, settings, principal=principal
        )
        return Response(state, headers={"Cache-Control": "no-store"})

    @post("/{session_id:int}/start", guards=[teacher_or_admin], status_code=200)
    async def start_class(self, session_id: PathId, principal: Principal | None) -> SessionOut:
        """开始上课: the session's teacher (or an admin) turns the class live now, also before
        its start or after a rehearsal, and for a class held in a meeting app. 409 when the
        session is cancelled, archived or ended longer ago than the restart grace."""
        await teacher_session(session_id, principal)
        await live.start_class(session_id)
        return await one_session(session_id, ZoneInfo("UTC"))

    @post("/{session_id:int}/end", guards=[teacher_or_admin], status_code=200)
    async def end_class(self, session_id: PathId, principal: Principal | None) -> SessionOut:
        """下课: the session's teacher (or an admin) ends the live class now; its replay is
        made from what was recorded. Ending an ended class again changes nothing; 409 for a
        class that never started."""
        await teacher_session(session_id, principal)
        await live.end_class(session_id)
        return await one_session(session_id, ZoneInfo("UTC"))

    @post("/{session_id:int}/cancel", guards=[teacher_or_admin], status_code=200)
    async def cancel_session(
        self,
        session_id: PathId,
        principal: Principal | None,
        settings: Settings,
        tz: TzParam = None,
    ) -> SessionOut:
        """Cancel one session (one class of a series leaves the others as they are); times in
        the same zone as ``GET`` answers."""
        zone_ = viewer_zone(tz, principal, settings.timezone)
        await schedule.cancel_session(need(principal), session_id)
        return await one_session(session_id, zone_)


async def visible_session(session_id: int, principal: Principal | None) -> None:
    """404 unless the session exists and the caller may see it (as ``GET`` a session)."""
    row = (
        await LiveSession.select(LiveSession.course.visibility.as_alias("visibility"))
        .where(LiveSession.id == session_id)
        .first()
        .run()
    )
    if row is None or (principal is None and row["visibility"] != Visibility.public.value):
        raise schedule.NotFound(f"session {session_id} not found", field="session_id")


async def one_row(session_id: int) -> dict[str, Any] | None:
    """One session's list row (``LIST_SELECT``), None when there is no such session."""
    rows = await list_rows("s.id = ?", [session_id], limit=1)
    return rows[0] if rows else None


async def one_session(session_id: PathId, tz: ZoneInfo) -> SessionOut:
    found = await list_out("s.id = ?", [session_id], tz, limit=1)
    if not found:
        raise schedule.NotFound(f"session {session_id} not found", field="session_id")
    return found[0]
