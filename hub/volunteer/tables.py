"""Piccolo tables of the volunteer records (see ``hub.volunteer``). Times are UTC."""

from __future__ import annotations

from enum import StrEnum

from piccolo.columns import JSON, Date, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class EntryKind(StrEnum):
    """What an administrator enters besides the classes (which come from the streams)."""

    preparation = "preparation"
    training = "training"
    visit = "visit"


class Decision(StrEnum):
    pending = "pending"
    approved = "approved"
    refused = "refused"


class VolunteerEntry(Table, tablename="volunteer_entry"):
    """A service entry an administrator adds: lesson preparation, training, a teaching visit.

    Counts once ``state`` is approved (at once, or by a second administrator when
    ``SHAREHUB_VOLUNTEER_SECOND_APPROVAL`` is on)."""

    teacher_id = Integer(index=True)
    kind = Varchar(length=16)
    day = Date()
    seconds = Integer(default=0)
    content = Text(default="")
    evidence = Text(default="")
    state = Varchar(length=10, default=Decision.pending.value)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    decided_by = Integer(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    decision_reason = Text(default="")


class VolunteerCorrection(Table, tablename="volunteer_correction"):
    """A teacher's request to correct one ledger entry (a class: ``session_id``; an entry:
    ``entry_id``) to ``seconds``; approved or refused with a reason. An approved correction
    replaces the entry's hours in the ledger (the original stays visible)."""

    teacher_id = Integer(index=True)
    session_id = Integer(null=True, default=None)
    entry_id = Integer(null=True, default=None)
    seconds = Integer(default=0)
    reason = Text(default="")
    state = Varchar(length=10, default=Decision.pending.value)
    requested_by = Integer(null=True, default=None)
    requested_at = Timestamptz(default=TimestamptzNow())
    decided_by = Integer(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    decision_reason = Text(default="")


class VolunteerAudit(Table, tablename="volunteer_audit"):
    """Every change of a volunteer record: who, when, what, before and after. Append-only: the
    hub has no path that updates or deletes a row, and the database refuses one (triggers)."""

    at = Timestamptz(default=TimestamptzNow())
    actor = Integer(null=True, default=None)
    action = Varchar(length=40)
    subject = Varchar(length=20)
    subject_id = Integer(null=True, default=None)
    teacher_id = Integer(null=True, default=None, index=True)
    before = JSON(default={})
    after = JSON(default={})


class VolunteerProfile(Table, tablename="volunteer_profile"):
    """A teacher's basic volunteer information: the volunteer number of the national or city
    system (never a national ID number) and the organisation they serve with."""

    teacher_id = Integer(unique=True)
    volunteer_number = Varchar(length=40, default="")
    organisation = Varchar(length=200, default="")
    organisation_contact = Varchar(length=200, default="")
    updated_at = Timestamptz(default=TimestamptzNow())


class RecordKind(StrEnum):
    award = "award"
    evaluation = "evaluation"


class VolunteerRecord(Table, tablename="volunteer_record"):
    """A dated award (表彰奖励) or evaluation (评价) of a teacher."""

    teacher_id = Integer(index=True)
    kind = Varchar(length=12)
    day = Date()
    title = Text(default="")
    issuer = Varchar(length=200, default="")
    recorded_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class CertificateState(StrEnum):
    requested = "requested"
    issued = "issued"
    refused = "refused"
    superseded = "superseded"
    revoked = "revoked"


class VolunteerCertificate(Table, tablename="volunteer_certificate"):
    """A certificate of service (志愿服务记录证明) for a period: its number, the figures it
    states, where its PDF is kept, and its state."""

    number = Varchar(length=40, unique=True)
    teacher_id = Integer(index=True)
    period_start = Date()
    period_end = Date()
    seconds = Integer(default=0)
    figures = JSON(default={})
    state = Varchar(length=12, default=CertificateState.requested.value)
    storage_key = Varchar(length=300, default="")
    requested_by = Integer(null=True, default=None)
    issued_by = Integer(null=True, default=None)
    issued_at = Timestamptz(null=True, default=None)
    superseded_by = Varchar(length=40, default="")
    reason = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())


VOLUNTEER_TABLES: list[type[Table]] = [
    VolunteerEntry,
    VolunteerCorrection,
    VolunteerAudit,
    VolunteerProfile,
    VolunteerRecord,
    VolunteerCertificate,
]
