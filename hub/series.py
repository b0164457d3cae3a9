"""Weekly series: expand an iCalendar RRULE into sessions, within a term, around its breaks and
mainland China's public holidays, with make-up classes on swapped working days (调休).

Holiday data comes from the maintained ``holidays`` package (China: public holidays, and the
official 调休 swaps once the State Council publishes them), never a typed-in list.
Wall-clock times stay fixed across daylight-saving changes: 09:00 in Europe/Berlin is 09:00
in summer and in winter, so its UTC time moves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from dateutil.rrule import DAILY, WEEKLY, rrule, rrulestr

from hub import db, schedule
from hub.accounts import Principal
from hub.errors import Invalid, NotFound
from hub.notify.outbox import safely_raise
from hub.tables import Booking, LiveSession, Series, SessionStatus, Term, TermBreak

MAX_OCCURRENCES = 400


@dataclass(frozen=True)
class Occurrence:
    local_start: datetime
    starts_at: datetime
    ends_at: datetime
    makeup_for: str = ""


@dataclass
class Plan:
    occurrences: list[Occurrence] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def parse_rrule(text: str, dtstart: datetime, tz: ZoneInfo) -> Any:
    """One RRULE line. UNTIL may be local time or UTC ('...Z', as RFC 5545 asks)."""
    text = text.strip().removeprefix("RRULE:")
    if "\n" in text or ":" in text:
        raise Invalid("give one RRULE line (no RDATE, EXDATE or DTSTART)", field="rrule")
    aware = "UNTIL=" in text.upper() and text.upper().split("UNTIL=")[1].split(";")[0].endswith("Z")
    try:
        rule = rrulestr(text, dtstart=dtstart.replace(tzinfo=tz) if aware else dtstart)
    except (ValueError, TypeError, OverflowError) as exc:
        raise Invalid(f"not an iCalendar RRULE: {exc}", field="rrule") from exc
    if not isinstance(rule, rrule):
        raise Invalid("give one RRULE line", field="rrule")
    if rule._freq not in (WEEKLY, DAILY):
        raise Invalid("a series repeats weekly (FREQ=WEEKLY) or daily", field="rrule")
    if rule._until is None and rule._count is None:
        raise Invalid("a series needs an end: add UNTIL=... or COUNT=...", field="rrule")
    return rule


@dataclass(frozen=True)
class Calendar:
    """The days a class may fall on: a term's span and breaks, and public holidays."""

    term_start: date | None = None
    term_end: date | None = None
    breaks: tuple[tuple[date, date, str], ...] = ()
    skip_holidays: bool = True

    def blocked(self, day: date) -> str:
        """Why no class is held on ``day`` ('' when one may be)."""
        if self.term_start and day < self.term_start:
            return "before term"
        if self.term_end and day > self.term_end:
            return "after term"
        for start, end, name in self.breaks:
            if start <= day <= end:
                return f"break: {name}"
        if self.skip_holidays:
            name = holiday_name(day)
            if name:
                return f"holiday: {name}"
        return ""


_CHINA = holidays.China(language="en_US")
_SUBSTITUTED = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")


def holiday_name(day: date) -> str:
    """The public holiday on ``day`` in mainland China ('' on a school day)."""
    return _CHINA.get(day) or ""


def makeup_day(day: date) -> date | None:
    """For a day off moved by 调休, the weekend day worked instead (it takes this day's classes)."""
    found = _SUBSTITUTED.search(holiday_name(day))
    if not found:
        return None
    month, dom, year = (int(x) for x in found.groups())
    return date(year, month, dom)


def plan_series(
    rrule_text: str,
    first_start_local: datetime,
    duration: timedelta,
    tz: ZoneInfo,
    calendar: Calendar,
    makeup_days: bool = False,
) -> Plan:
    """Pure: the occurrences of a series, what was skipped and why, and make-up days."""
    if not schedule.FIRST_YEAR <= first_start_local.year <= schedule.LAST_YEAR:
        raise Invalid(  # checked before any zone arithmetic, which overflows at year 1 or 9999
            f"a series starts between {schedule.FIRST_YEAR} and {schedule.LAST_YEAR}",
            field="first_start",
        )
    if first_start_local.tzinfo is not None:
        first_start_local = first_start_local.astimezone(tz).replace(tzinfo=None)
    rule = parse_rrule(rrule_text, first_start_local, tz)
    plan = Plan()
    makeups: list[tuple[date, str]] = []
    for n, when in enumerate(rule):
        local = when.replace(tzinfo=None)
        if n >= MAX_OCCURRENCES:
            raise Invalid(f"a series has at most {MAX_OCCURRENCES} occurrences", field="rrule")
        if local.year > schedule.LAST_YEAR:
            raise Invalid(f"a series ends by {schedule.LAST_YEAR}", field="rrule")
        reason = calendar.blocked(local.date())
        if not reason:
            plan.occurrences.append(_occurrence(local, duration, tz))
            continue
        plan.skipped.append({"date": local.date().isoformat(), "reason": reason})
        swapped = makeup_day(local.date()) if reason.startswith("holiday: ") else None
        if makeup_days and swapped and not calendar.blocked(swapped):
            makeups.append((swapped, local.date().isoformat()))
    for day, lost in makeups:
        local = datetime.combine(day, first_start_local.time())
        extra = _occurrence(local, duration, tz, makeup_for=lost)
        if not any(overlaps(extra, o) for o in plan.occurrences):  # the rule has a class then
            plan.occurrences.append(extra)
    plan.occurrences.sort(key=lambda o: o.starts_at)
    for before, after in zip(plan.occurrences, plan.occurrences[1:], strict=False):
        if overlaps(before, after):
            raise Invalid(
                f"classes of this series overlap each other ({before.local_start:%Y-%m-%d %H:%M} "
                f"and {after.local_start:%Y-%m-%d %H:%M})",
                field="rrule",
            )
    return plan


def overlaps(a: Occurrence, b: Occurrence) -> bool:
    return a.starts_at < b.ends_at and b.starts_at < a.ends_at


def _occurrence(
    local: datetime, duration: timedelta, tz: ZoneInfo, makeup_for: str = ""
) -> Occurrence:
    start_local = local.replace(tzinfo=tz)
    # a wall-clock time skipped by a DST jump resolves forward, as calendar clients do
    starts_at = start_local.astimezone(UTC)
    return Occurrence(local, starts_at, starts_at + duration, makeup_for)


async def term_calendar(term_id: int | None, skip_holidays: bool) -> Calendar:
    if term_id is None:
        return Calendar(skip_holidays=skip_holidays)
    term = await Term.select().where(Term.id == term_id).first().run()
    if term is None:
        raise NotFound(f"term {term_id} not found", field="term_id")
    breaks = await TermBreak.select().where(TermBreak.term == term_id).run()
    return Calendar(
        term_start=term["starts_on"],
        term_end=term["ends_on"],
        breaks=tuple((b["starts_on"], b["ends_on"], b["name"]) for b in breaks),
        skip_holidays=skip_holidays,
    )


async def create_series(
    principal: Principal,
    *,
    course_id: int,
    first_start_local: datetime,
    duration_minutes: int,
    timezone: str,
    rrule: str,
    term_id: int | None = None,
    skip_holidays: bool = True,
    makeup_days: bool = False,
    provider: str,
    provider_settings: dict[str, Any] | None = None,
) -> tuple[int, Plan, list[int]]:
    """Create the series and all its sessions, or none of them if any would clash."""
    tz = schedule.zone(timezone, field="timezone")
    if not 10 <= duration_minutes <= 12 * 60:
        raise Invalid("a class lasts 10 minutes to 12 hours", field="duration_minutes")
    course = await schedule.get_course(course_id)
    schedule.may_teach(principal, course["teacher"])
    calendar = await term_calendar(term_id, skip_holidays)
    plan = plan_series(
        rrule, first_start_local, timedelta(minutes=duration_minutes), tz, calendar, makeup_days
    )
    if not plan.occurrences:
        raise Invalid("the rule gives no class days inside the term", field="rrule")
    if not principal.is_admin:
        today = datetime.now(UTC).astimezone(tz).date()
        if plan.occurrences[0].local_start.date() < today:
            raise Invalid(
                f"the series starts on {plan.occurrences[0].local_start:%Y-%m-%d}, in the past;"
                " a series may start today at the earliest",
                field="first_start",
            )
    teacher = course["teacher"]
    async with db.write_transaction():
        await schedule.lock(schedule.LOCK_TEACHER, teacher)
        for occ in plan.occurrences:
            clashes = await schedule.teacher_clashes(teacher, occ.starts_at, occ.ends_at)
            if clashes:
                raise schedule.clash_error(
                    f"the series' class on {occ.local_start:%Y-%m-%d}", clashes, tz
                )
        rows = await Series.insert(
            Series(
                course=course_id,
                teacher=teacher,
                rrule=rrule.strip().removeprefix("RRULE:"),
                first_start_local=(
                    first_start_local.astimezone(tz)
                    if first_start_local.tzinfo
                    else first_start_local
                )
                .replace(tzinfo=None)
                .isoformat(),
                duration_minutes=duration_minutes,
                timezone=timezone,
                term=term_id,
                skip_holidays=skip_holidays,
                makeup_days=makeup_days,
            )
        ).run()
        series_id = int(rows[0]["id"])
        inserted = await LiveSession.insert(
            *[
                LiveSession(
                    course=course_id,
                    teacher=teacher,
                    starts_at=o.starts_at,
                    ends_at=o.ends_at,
                    series=series_id,
                    provider=provider,
                    provider_settings=provider_settings or {},
                )
                for o in plan.occurrences
            ]
        ).run()
    return series_id, plan, [int(r["id"]) for r in inserted]


async def get_series(series_id: int) -> dict[str, Any]:
    row = await Series.select().where(Series.id == series_id).first().run()
    if row is None:
        raise NotFound(f"series {series_id} not found", field="series_id")
    return row


async def cancel_from(principal: Principal, series_id: int, from_date: date) -> int:
    """Cancel every class of the series on or after ``from_date`` (series' time zone)."""
    series = await get_series(series_id)
    schedule.may_teach(principal, series["teacher"])
    if not schedule.FIRST_YEAR <= from_date.year <= schedule.LAST_YEAR:
        raise Invalid(
            f"dates run from {schedule.FIRST_YEAR} to {schedule.LAST_YEAR}", field="from_date"
        )
    tz = schedule.zone(series["timezone"])
    cutoff = datetime.combine(from_date, time.min, tzinfo=tz).astimezone(UTC)
    where = (
        (LiveSession.series == series_id)
        & (LiveSession.starts_at >= cutoff)
        & (LiveSession.status == SessionStatus.scheduled.value)
    )
    count = await LiveSession.count().where(where).run()
    ids = [r["id"] for r in await LiveSession.select(LiveSession.id).where(where)]
    booked = await Booking.select(Booking.session).where(Booking.session.is_in(ids)) if ids else []
    await (
        LiveSession.update(
            {
                LiveSession.status: SessionStatus.cancelled.value,
                LiveSession.updated_at: datetime.now(UTC),
            }
        )
        .where(where)
        .run()
    )
    for session_id in sorted({b["session"] for b in booked}):  # the booked centers hear of it
        await safely_raise("class_cancelled", f"cancelled:{session_id}", session_id=session_id)
    return int(count)
