"""Weekly series and school terms."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post

from hub import db, series
from hub.accounts import Principal
from hub.api.common import Name, PathId, ProviderChoice, need
from hub.api.streams import check_provider_choice
from hub.auth import admin_only, teacher_or_admin
from hub.errors import Invalid, NotFound
from hub.plugin_host import PluginHost
from hub.schedule import get_course
from hub.tables import LiveSession, Term, TermBreak, Visibility

Id = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class SeriesIn(msgspec.Struct, forbid_unknown_fields=True):
    course_id: Id
    first_start: datetime
    duration_minutes: Annotated[int, msgspec.Meta(ge=10, le=720)]
    rrule: Annotated[str, msgspec.Meta(min_length=5, max_length=500)]
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "Asia/Shanghai"
    term_id: Id | None = None
    skip_holidays: bool = True
    makeup_days: bool = False
    provider: ProviderChoice = ""
    provider_settings: Annotated[dict[str, Any], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=dict
    )


class SeriesOut(msgspec.Struct):
    id: int
    course_id: int
    rrule: str
    timezone: str
    first_start: str
    duration_minutes: int
    term_id: int | None
    session_ids: list[int]
    skipped: list[dict[str, str]] = []
    makeup: list[str] = []


class CancelFrom(msgspec.Struct, forbid_unknown_fields=True):
    from_date: date


class Cancelled(msgspec.Struct):
    series_id: int
    cancelled: int


class BreakIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    starts_on: date
    ends_on: date


class TermIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    starts_on: date
    ends_on: date
    breaks: Annotated[list[BreakIn], msgspec.Meta(max_length=50)] = []


class TermOut(msgspec.Struct):
    id: int
    name: str
    starts_on: date
    ends_on: date
    breaks: list[BreakIn]


async def series_out(series_id: PathId, plan: series.Plan | None = None) -> SeriesOut:
    row = await series.get_series(series_id)
    ids = (
        await LiveSession.select(LiveSession.id)
        .where(LiveSession.series == series_id)
        .order_by(LiveSession.starts_at)
        .output(as_list=True)
        .run()
    )
    return SeriesOut(
        id=row["id"],
        course_id=row["course"],
        rrule=row["rrule"],
        timezone=row["timezone"],
        first_start=row["first_start_local"],
        duration_minutes=row["duration_minutes"],
        term_id=row["term"],
        session_ids=list(ids),
        skipped=plan.skipped if plan else [],
        makeup=[o.local_start.date().isoformat() for o in plan.occurrences if o.makeup_for]
        if plan
        else [],
    )


class SeriesController(Controller):
    path = "/api/v1/series"
    tags = ["series"]

    @post("/", guards=[teacher_or_admin])
    async def create_series(
        self, data: SeriesIn, principal: Principal | None, plugins: PluginHost
    ) -> SeriesOut:
        """Create a weekly series from an RRULE; all its classes, or none if one would clash."""
        provider = plugins.chosen_provider(data.provider)
        options = check_provider_choice(plugins, provider, data.provider_settings)
        series_id, plan, _ = await series.create_series(
            need(principal),
            course_id=data.course_id,
            first_start_local=data.first_start,
            duration_minutes=data.duration_minutes,
            timezone=data.timezone,
            rrule=data.rrule,
            term_id=data.term_id,
            skip_holidays=data.skip_holidays,
            makeup_days=data.makeup_days,
            provider=provider,
            provider_settings=options,
        )
        return await series_out(series_id, plan)

    @get("/{series_id:int}")
    async def get_series(self, series_id: PathId, principal: Principal | None) -> SeriesOut:
        """A series and its sessions."""
        row = await series.get_series(series_id)
        course = await get_course(row["course"])
        if principal is None and course["visibility"] != Visibility.public.value:
            raise NotFound(f"series {series_id} not found", field="series_id")
        return await series_out(series_id)

    @post("/{series_id:int}/cancel", guards=[teacher_or_admin], status_code=200)
    async def cancel_from(
        self, series_id: PathId, data: CancelFrom, principal: Principal | None
    ) -> Cancelled:
        """Cancel every class of the series from a date on (in the series' time zone)."""
        n = await series.cancel_from(need(principal), series_id, data.from_date)
        return Cancelled(series_id=series_id, cancelled=n)


def check_span(start: date, end: date, field: str) -> None:
    if end < start:
        raise Invalid("ends_on must not be before starts_on", field=field)


async def term_out(term_id: PathId) -> TermOut:
    row = await Term.select().where(Term.id == term_id).first().run()
    if row is None:
        raise NotFound(f"term {term_id} not found", field="term_id")
    breaks = (
        await TermBreak.select()
        .where(TermBreak.term == term_id)
        .order_by(TermBreak.starts_on)
        .run()
    )
    return TermOut(
        id=row["id"],
        name=row["name"],
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        breaks=[BreakIn(b["name"], b["starts_on"], b["ends_on"]) for b in breaks],
    )


class TermController(Controller):
    path = "/api/v1/terms"
    tags = ["terms"]

    @get("/")
    async def list_terms(self) -> list[TermOut]:
        """School terms with their breaks."""
        ids = await Term.select(Term.id).order_by(Term.starts_on).output(as_list=True).run()
        return [await term_out(i) for i in ids]

    @post("/", guards=[admin_only])
    async def create_term(self, data: TermIn) -> TermOut:
        """Define a term and its breaks (administrators)."""
        check_span(data.starts_on, data.ends_on, "ends_on")
        for i, b in enumerate(data.breaks):
            check_span(b.starts_on, b.ends_on, f"breaks[{i}].ends_on")
            if b.starts_on < data.starts_on or b.ends_on > data.ends_on:
                raise Invalid(
                    f"break {b.name!r} must lie inside the term ({data.starts_on} to "
                    f"{data.ends_on})",
                    field=f"breaks[{i}].starts_on",
                )
        async with db.write_transaction():  # the term with all its breaks, or nothing
            rows = await Term.insert(
                Term(name=data.name, starts_on=data.starts_on, ends_on=data.ends_on)
            ).run()
            term_id = rows[0]["id"]
            if data.breaks:
                breaks = [
                    TermBreak(term=term_id, name=b.name, starts_on=b.starts_on, ends_on=b.ends_on)
                    for b in data.breaks
                ]
                await TermBreak.insert(*breaks).run()
        return await term_out(term_id)

    @get("/{term_id:int}")
    async def get_term(self, term_id: PathId) -> TermOut:
        """One term."""
        return await term_out(term_id)


__all__: list[Any] = ["SeriesController", "TermController"]
