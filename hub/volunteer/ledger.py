"""A teacher's service ledger (志愿服务情况): held classes from the streams, entries added by
administrators (preparation, training, teaching visits), and approved corrections.

A held class (status ended or archived, with ``live_at`` and ``ended_at`` set by the stream or
by 开始上课 / 下课) gives its on-air time: from going live to the end, counted from at most
``grace`` before the scheduled start to at most ``grace`` after the scheduled end
(``SHAREHUB_VOLUNTEER_GRACE_MINUTES``). Hence:

- a rehearsal (彩排: a push before the live window) never sets ``live_at``: not counted;
- a class ended early counts until it ended;
- a class over its slot counts until the scheduled end plus the grace;
- a class whose stream dropped and restarted within the grace stays one session (hub.live
  keeps the first ``live_at`` and the last ``ended_at``): it counts once, its drop included
  (the teacher was there, reconnecting), never twice;
- a class still live, scheduled or cancelled counts nothing (yet).

Travel is never service time: a teaching visit is entered with the hours served on site.
An approved correction replaces an entry's seconds; the original stays in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.accounts import Principal
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.impact import Period
from hub.settings import Settings
from hub.tables import Booking, LiveSession, SessionStatus, Teacher
from hub.volunteer import audit
from hub.volunteer.tables import Decision, EntryKind, VolunteerCorrection, VolunteerEntry

HELD = (SessionStatus.ended.value, SessionStatus.archived.value)
GRACE = timedelta(minutes=10)
"""``SHAREHUB_VOLUNTEER_GRACE_MINUTES`` for callers without the settings (the impact figures)."""


def configure(settings: Settings) -> None:
    """Take ``SHAREHUB_VOLUNTEER_GRACE_MINUTES`` (called with ``hub.live.configure``)."""
    global GRACE
    GRACE = timedelta(minutes=max(0, settings.volunteer_grace_minutes))


def class_seconds(
    starts_at: datetime,
    ends_at: datetime,
    live_at: datetime | None,
    ended_at: datetime | None,
    grace: timedelta,
) -> int:
    """On-air seconds of one class within its slot and the grace (0 if it was not held)."""
    if live_at is None or ended_at is None:
        return 0
    begin = max(live_at, starts_at - grace)
    end = min(ended_at, ends_at + grace)
    return max(0, int((end - begin).total_seconds()))


@dataclass
class LedgerLine:
    """One line of the ledger: a held class (``session_id``) or an entry (``entry_id``)."""

    kind: str
    day: date
    seconds: int
    content: str
    teacher_id: int
    session_id: int | None = None
    entry_id: int | None = None
    original_seconds: int | None = None
    """Before an approved correction (None when not corrected)."""
    state: str = Decision.approved.value
    course: str = ""
    subject: str = ""
    grades: str = ""
    centers: int = 0
    children: int = 0
    evidence: str = ""
    live_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def counts(self) -> bool:
        return self.state == Decision.approved.value

    @property
    def hours(self) -> float:
        return round(self.seconds / 3600, 2)


@dataclass
class Ledger:
    lines: list[LedgerLine] = field(default_factory=list)

    @property
    def seconds(self) -> int:
        return sum(line.seconds for line in self.lines if line.counts)

    @property
    def hours(self) -> float:
        return round(self.seconds / 3600, 2)

    def by_teacher(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for line in self.lines:
            if line.counts:
                out[line.teacher_id] = out.get(line.teacher_id, 0) + line.seconds
        return out


async def held_classes(
    teacher_id: int | None,
    lo: datetime,
    hi: datetime,
    tz: ZoneInfo,
    grace: timedelta,
    with_reach: bool = True,
) -> list[LedgerLine]:
    """The held classes that started in [lo, hi) (of one teacher, or all), as ledger lines;
    ``with_reach``: with the centers checked in and their child visits."""
    where = (
        LiveSession.status.is_in(list(HELD))
        & LiveSession.live_at.is_not_null()
        & LiveSession.ended_at.is_not_null()
        & (LiveSession.starts_at >= lo)
        & (LiveSession.starts_at < hi)
    )
    if teacher_id is not None:
        where &= LiveSession.teacher == teacher_id
    rows = await (
        LiveSession.select(
            LiveSession.id,
            LiveSession.teacher,
            LiveSession.starts_at,
            LiveSession.ends_at,
            LiveSession.live_at,
            LiveSession.ended_at,
            LiveSession.course.title.as_alias("course"),
            LiveSession.course.subject.as_alias("subject"),
            LiveSession.course.grade_min.as_alias("grade_min"),
            LiveSession.course.grade_max.as_alias("grade_max"),
        )
        .where(where)
        .order_by(LiveSession.starts_at)
        .run()
    )
    reach: dict[int, tuple[int, int]] = {}
    if rows and with_reach:
        booked = (
            Booking.checked_in_at.is_not_null()
            & Booking.session.status.is_in(list(HELD))
            & (Booking.session.starts_at >= lo)
            & (Booking.session.starts_at < hi)
        )
        if teacher_id is not None:
            booked &= Booking.session.teacher == teacher_id
        for b in (
            await Booking.select(Booking.session, Booking.children_present).where(booked).run()
        ):
            centers, children = reach.get(b["session"], (0, 0))
            reach[b["session"]] = (centers + 1, children + int(b["children_present"] or 0))
    lines = []
    for r in rows:
        centers, children = reach.get(r["id"], (0, 0))
        grades = (
            str(r["grade_min"])
            if r["grade_min"] == r["grade_max"]
            else f"{r['grade_min']}-{r['grade_max']}"
        )
        lines.append(
            LedgerLine(
                kind="class",
                day=r["starts_at"].astimezone(tz).date(),
                seconds=class_seconds(
                    r["starts_at"], r["ends_at"], r["live_at"], r["ended_at"], grace
                ),
                content=f"{r['course']}（{r['subject']}，{grades}年级）",
                teacher_id=r["teacher"],
                session_id=r["id"],
                course=r["course"],
                subject=r["subject"],
                grades=grades,
                centers=centers,
                children=children,
                live_at=r["live_at"],
                ended_at=r["ended_at"],
            )
        )
    return lines


async def entries(teacher_id: int | None, start: date, end: date) -> list[LedgerLine]:
    where = (VolunteerEntry.day >= start) & (VolunteerEntry.day <= end)
    if teacher_id is not None:
        where &= VolunteerEntry.teacher_id == teacher_id
    rows = await VolunteerEntry.select().where(where).order_by(VolunteerEntry.day).run()
    return [
        LedgerLine(
            kind=r["kind"],
            day=r["day"],
            seconds=r["seconds"],
            content=r["content"],
            teacher_id=r["teacher_id"],
            entry_id=r["id"],
            state=r["state"],
            evidence=r["evidence"],
        )
        for r in rows
    ]


async def apply_corrections(lines: list[LedgerLine], teacher_id: int | None) -> None:
    """Approved corrections replace the seconds of the lines they are about (the latest
    decided one wins). Corrections are few: all approved ones of the teacher (or all) are read."""
    if not lines:
        return
    query = (
        VolunteerCorrection.select(
            VolunteerCorrection.session_id,
            VolunteerCorrection.entry_id,
            VolunteerCorrection.seconds,
        )
        .where(VolunteerCorrection.state == Decision.approved.value)
        .order_by(VolunteerCorrection.decided_at)
        .order_by(VolunteerCorrection.id)
    )
    if teacher_id is not None:
        query = query.where(VolunteerCorrection.teacher_id == teacher_id)
    rows = await query.run()
    if not rows:
        return
    by_session = {r["session_id"]: r["seconds"] for r in rows if r["session_id"] is not None}
    by_entry_id = {r["entry_id"]: r["seconds"] for r in rows if r["entry_id"] is not None}
    for line in lines:
        found = (
            by_session.get(line.session_id)
            if line.session_id is not None
            else by_entry_id.get(line.entry_id)
        )
        if found is not None:
            line.original_seconds = line.seconds
            line.seconds = int(found)


async def ledger(
    teacher_id: int | None, period: Period, grace: timedelta, with_reach: bool = True
) -> Ledger:
    """The ledger of one teacher (or all) for the period's local days."""
    lines = await held_classes(
        teacher_id, period.utc_start, period.utc_end, period.tz, grace, with_reach
    ) + await entries(teacher_id, period.start, period.end)
    await apply_corrections(lines, teacher_id)
    lines.sort(key=lambda line: (line.day, line.session_id or 0, line.entry_id or 0))
    return Ledger(lines)


# ----------------------------------------------------------------------- changes


async def teacher_exists(teacher_id: int, field_name: str = "teacher_id") -> None:
    if not await Teacher.exists().where(Teacher.id == teacher_id).run():
        raise NotFound(f"teacher {teacher_id} not found", field=field_name)


def may_see(who: Principal, teacher_id: int) -> None:
    """A teacher sees only their own ledger; administrators every one."""
    if not who.is_admin and who.teacher_id != teacher_id:
        raise Forbidden("a teacher sees only their own volunteer record", field="teacher_id")


def admin_needed(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("only an administrator may do this")


def seconds_of(hours: float, field_name: str = "hours") -> int:
    if not 0 <= hours <= 24:
        raise Invalid("hours must be between 0 and 24", field=field_name)
    return round(hours * 3600)


async def add_entry(
    who: Principal,
    teacher_id: int,
    kind: EntryKind,
    day: date,
    hours: float,
    content: str,
    evidence: str,
    second_approval: bool,
) -> int:
    """An administrator adds an entry; approved at once unless a second approval is asked."""
    admin_needed(who)
    await teacher_exists(teacher_id)
    if not content.strip():
        raise Invalid("say what the service was", field="content")
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "teacher_id": teacher_id,
        "kind": kind.value,
        "day": day,
        "seconds": seconds_of(hours),
        "content": content.strip(),
        "evidence": evidence.strip(),
        "state": Decision.pending.value if second_approval else Decision.approved.value,
        "created_by": who.user_id,
        "decided_by": None if second_approval else who.user_id,
        "decided_at": None if second_approval else now,
    }
    rows = await VolunteerEntry.insert(VolunteerEntry(**values)).run()
    entry_id = int(rows[0]["id"])
    await audit.append(who.user_id, "entry.add", "entry", entry_id, teacher_id, None, values)
    return entry_id


async def entry_row(entry_id: int) -> dict[str, Any]:
    row = await VolunteerEntry.select().where(VolunteerEntry.id == entry_id).first().run()
    if row is None:
        raise NotFound(f"volunteer entry {entry_id} not found", field="entry_id")
    return row


async def decide_entry(who: Principal, entry_id: int, approve: bool, reason: str) -> str:
    """A second administrator (not its author) approves or refuses a pending entry; any
    administrator may withdraw an approved one (refused, with a reason: entries are never
    deleted)."""
    admin_needed(who)
    row = await entry_row(entry_id)
    pending = row["state"] == Decision.pending.value
    withdrawing = row["state"] == Decision.approved.value and not approve
    if not (pending or withdrawing):
        raise Conflict(f"entry {entry_id} is {row['state']}", field="state")
    if pending and row["created_by"] == who.user_id:
        raise Forbidden("another administrator approves this entry", field="entry_id")
    if not approve and not reason.strip():
        raise Invalid("say why the entry is refused", field="reason")
    state = Decision.approved.value if approve else Decision.refused.value
    after = {
        "state": state,
        "decided_by": who.user_id,
        "decided_at": datetime.now(UTC),
        "decision_reason": reason.strip(),
    }
    changed = await (
        VolunteerEntry.update(after)
        .where((VolunteerEntry.id == entry_id) & (VolunteerEntry.state == row["state"]))
        .returning(VolunteerEntry.id)
        .run()
    )
    if not changed:
        raise Conflict(f"entry {entry_id} was decided meanwhile", field="state")
    before = {k: row[k] for k in after}
    await audit.append(
        who.user_id, f"entry.{state}", "entry", entry_id, row["teacher_id"], before, after
    )
    return state


async def request_correction(
    who: Principal,
    session_id: int | None,
    entry_id: int | None,
    hours: float,
    reason: str,
) -> int:
    """A teacher (or an administrator for them) asks to correct one line of the ledger."""
    if (session_id is None) == (entry_id is None):
        raise Invalid("name either session_id or entry_id", field="session_id")
    if not reason.strip():
        raise Invalid("say what is wrong and why", field="reason")
    if session_id is not None:
        row = (
            await LiveSession.select(LiveSession.teacher, LiveSession.status)
            .where(LiveSession.id == session_id)
            .first()
            .run()
        )
        if row is None:
            raise NotFound(f"session {session_id} not found", field="session_id")
        if row["status"] not in HELD:
            raise Conflict(f"session {session_id} was not held", field="session_id")
        teacher_id = int(row["teacher"])
    else:
        assert entry_id is not None
        entry = await entry_row(entry_id)
        teacher_id = int(entry["teacher_id"])
    may_see(who, teacher_id)
    values: dict[str, Any] = {
        "teacher_id": teacher_id,
        "session_id": session_id,
        "entry_id": entry_id,
        "seconds": seconds_of(hours),
        "reason": reason.strip(),
        "state": Decision.pending.value,
        "requested_by": who.user_id,
    }
    rows = await VolunteerCorrection.insert(VolunteerCorrection(**values)).run()
    correction_id = int(rows[0]["id"])
    await audit.append(
        who.user_id, "correction.request", "correction", correction_id, teacher_id, None, values
    )
    return correction_id


async def decide_correction(who: Principal, correction_id: int, approve: bool, reason: str) -> str:
    """An administrator approves or refuses a correction, with a reason."""
    admin_needed(who)
    row = (
        await VolunteerCorrection.select()
        .where(VolunteerCorrection.id == correction_id)
        .first()
        .run()
    )
    if row is None:
        raise NotFound(f"correction {correction_id} not found", field="correction_id")
    if row["state"] != Decision.pending.value:
        raise Conflict(f"correction {correction_id} is {row['state']}", field="state")
    if not reason.strip():
        raise Invalid("say why", field="reason")
    state = Decision.approved.value if approve else Decision.refused.value
    after = {
        "state": state,
        "decided_by": who.user_id,
        "decided_at": datetime.now(UTC),
        "decision_reason": reason.strip(),
    }
    changed = await (
        VolunteerCorrection.update(after)
        .where(
            (VolunteerCorrection.id == correction_id)
            & (VolunteerCorrection.state == Decision.pending.value)
        )
        .returning(VolunteerCorrection.id)
        .run()
    )
    if not changed:
        raise Conflict(f"correction {correction_id} was decided meanwhile", field="state")
    before = {k: row[k] for k in after}
    await audit.append(
        who.user_id,
        f"correction.{state}",
        "correction",
        correction_id,
        row["teacher_id"],
        before,
        after,
    )
    return state


async def corrections(
    teacher_id: int | None = None, state: str | None = None
) -> list[dict[str, Any]]:
    query = VolunteerCorrection.select().order_by(VolunteerCorrection.id)
    if teacher_id is not None:
        query = query.where(VolunteerCorrection.teacher_id == teacher_id)
    if state is not None:
        query = query.where(VolunteerCorrection.state == state)
    return list(await query.run())
