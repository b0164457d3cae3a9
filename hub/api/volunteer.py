"""Volunteer service records (志愿服务记录): a teacher's ledger, entries, corrections, the
audit log, the volunteer profile, awards and evaluations (see ``hub.volunteer``)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, patch, post
from litestar.params import Parameter, QueryParameter

from hub.accounts import Principal
from hub.api.common import PathId, PositiveId, TzParam, need
from hub.api.impact import FromParam, ToParam, period_of
from hub.auth import admin_only, signed_in, teacher_or_admin
from hub.errors import Invalid
from hub.settings import Settings
from hub.volunteer import audit, certificates, exports, ledger, profile
from hub.volunteer.ledger import Ledger, LedgerLine
from hub.volunteer.tables import Decision, EntryKind, RecordKind

Hours = Annotated[float, msgspec.Meta(ge=0, le=24, description="hours served (no travel)")]
Content = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Note = Annotated[str, msgspec.Meta(max_length=2000)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class EntryIn(msgspec.Struct, forbid_unknown_fields=True):
    teacher_id: PositiveId
    kind: EntryKind
    day: date
    hours: Hours
    content: Content
    evidence: Note = ""


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    approve: bool
    reason: Note = ""


class CorrectionIn(msgspec.Struct, forbid_unknown_fields=True):
    hours: Hours
    reason: Reason
    session_id: PositiveId | None = None
    entry_id: PositiveId | None = None


class ProfilePatch(msgspec.Struct, forbid_unknown_fields=True):
    volunteer_number: Annotated[str, msgspec.Meta(max_length=40)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    organisation: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    organisation_contact: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = (
        msgspec.UNSET
    )


class RecordIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: RecordKind
    day: date
    title: Content
    issuer: Annotated[str, msgspec.Meta(max_length=200)] = ""


class CertificateIn(
    msgspec.Struct, forbid_unknown_fields=True, rename={"start": "from", "end": "to"}
):
    teacher_id: PositiveId
    start: date
    end: date


class ReasonIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class CertificateOut(msgspec.Struct):
    id: int
    number: str
    teacher_id: int
    start: date
    end: date
    state: str
    hours: float
    reason: str
    superseded_by: str
    figures: dict[str, Any]

    @classmethod
    def of(cls, row: dict[str, Any]) -> CertificateOut:
        return cls(
            id=row["id"],
            number=row["number"],
            teacher_id=row["teacher_id"],
            start=row["period_start"],
            end=row["period_end"],
            state=row["state"],
            hours=round(int(row["seconds"]) / 3600, 2),
            reason=row["reason"],
            superseded_by=row["superseded_by"],
            figures=row["figures"] or {},
        )


class LineOut(msgspec.Struct):
    kind: str
    day: date
    hours: float
    seconds: int
    content: str
    state: str
    session_id: int | None
    entry_id: int | None
    original_seconds: int | None
    course: str
    subject: str
    grades: str
    centers: int
    children: int
    evidence: str

    @classmethod
    def of(cls, line: LedgerLine) -> LineOut:
        return cls(
            kind=line.kind,
            day=line.day,
            hours=line.hours,
            seconds=line.seconds,
            content=line.content,
            state=line.state,
            session_id=line.session_id,
            entry_id=line.entry_id,
            original_seconds=line.original_seconds,
            course=line.course,
            subject=line.subject,
            grades=line.grades,
            centers=line.centers,
            children=line.children,
            evidence=line.evidence,
        )


class LedgerOut(msgspec.Struct):
    teacher_id: int
    start: date
    end: date
    hours: float
    seconds: int
    lines: list[LineOut]
    profile: dict[str, Any]
    records: list[dict[str, Any]]
    corrections: list[dict[str, Any]]


def grace_of(settings: Settings) -> timedelta:
    return timedelta(minutes=max(0, settings.volunteer_grace_minutes))


def plain_rows(rows: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [audit.plain({k: v for k, v in r.items() if k not in drop}) for r in rows]


class VolunteerController(Controller):
    path = "/api/v1/volunteer"
    tags = ["volunteer"]

    @get("/teachers/{teacher_id:int}/ledger", guards=[signed_in])
    async def teacher_ledger(
        self,
        teacher_id: PathId,
        principal: Principal | None,
        settings: Settings,
        date_from: FromParam = None,
        date_to: ToParam = None,
        tz: TzParam = None,
    ) -> LedgerOut:
        """A teacher's service ledger for a period (the teacher themself, or an administrator):
        held classes, approved entries, corrections and their state, profile, awards."""
        who = need(principal)
        await ledger.teacher_exists(teacher_id)
        ledger.may_see(who, teacher_id)
        period = period_of(date_from, date_to, settings, tz)
        found: Ledger = await ledger.ledger(teacher_id, period, grace_of(settings))
        return LedgerOut(
            teacher_id=teacher_id,
            start=period.start,
            end=period.end,
            hours=found.hours,
            seconds=found.seconds,
            lines=[LineOut.of(line) for line in found.lines],
            profile=await profile.profile(teacher_id),
            records=plain_rows(await profile.records(teacher_id)),
            corrections=plain_rows(await ledger.corrections(teacher_id)),
        )

    @patch("/teachers/{teacher_id:int}/profile", guards=[teacher_or_admin])
    async def change_profile(
        self, teacher_id: PathId, data: ProfilePatch, principal: Principal | None
    ) -> dict[str, Any]:
        """The volunteer number (never a national ID number) and the organisation."""
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        return await profile.change_profile(need(principal), teacher_id, changes)

    @post("/teachers/{teacher_id:int}/records", guards=[admin_only])
    async def add_record(
        self, teacher_id: PathId, data: RecordIn, principal: Principal | None
    ) -> dict[str, int]:
        """Record a dated award (表彰奖励) or evaluation (评价)."""
        record_id = await profile.add_record(
            need(principal), teacher_id, data.kind, data.day, data.title, data.issuer
        )
        return {"id": record_id}

    @post("/entries", guards=[admin_only])
    async def add_entry(
        self, data: EntryIn, principal: Principal | None, settings: Settings
    ) -> dict[str, Any]:
        """Add preparation, training or a teaching visit; pending until a second administrator
        approves when ``SHAREHUB_VOLUNTEER_SECOND_APPROVAL`` is on."""
        no_future(data.day, "day")
        entry_id = await ledger.add_entry(
            need(principal),
            data.teacher_id,
            data.kind,
            data.day,
            data.hours,
            data.content,
            data.evidence,
            settings.volunteer_second_approval,
        )
        row = await ledger.entry_row(entry_id)
        return {"id": entry_id, "state": row["state"]}

    @post("/entries/{entry_id:int}/decide", guards=[admin_only])
    async def decide_entry(
        self, entry_id: PathId, data: DecisionIn, principal: Principal | None
    ) -> dict[str, Any]:
        """A second administrator approves or refuses (with a reason) a pending entry."""
        state = await ledger.decide_entry(need(principal), entry_id, data.approve, data.reason)
        return {"id": entry_id, "state": state}

    @post("/corrections", guards=[teacher_or_admin])
    async def request_correction(
        self, data: CorrectionIn, principal: Principal | None
    ) -> dict[str, Any]:
        """Ask to correct one line of one's ledger (a class by session_id, or an entry)."""
        correction_id = await ledger.request_correction(
            need(principal), data.session_id, data.entry_id, data.hours, data.reason
        )
        return {"id": correction_id, "state": Decision.pending.value}

    @post("/corrections/{correction_id:int}/decide", guards=[admin_only])
    async def decide_correction(
        self, correction_id: PathId, data: DecisionIn, principal: Principal | None
    ) -> dict[str, Any]:
        """Approve or refuse a correction, with a reason."""
        state = await ledger.decide_correction(
            need(principal), correction_id, data.approve, data.reason
        )
        return {"id": correction_id, "state": state}

    @get("/corrections", guards=[admin_only])
    async def list_corrections(
        self,
        decision: Annotated[
            Decision | None,
            QueryParameter(name="state", description="pending, approved, refused"),
        ] = None,
        teacher_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
    ) -> list[dict[str, Any]]:
        """Corrections asked for (to decide the pending ones)."""
        return plain_rows(
            await ledger.corrections(teacher_id, decision.value if decision is not None else None)
        )

    @get("/audit", guards=[admin_only])
    async def audit_log(
        self, teacher_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None
    ) -> list[dict[str, Any]]:
        """The append-only log of every change (who, when, before, after), oldest first."""
        return plain_rows(await audit.lines(teacher_id))

    @post("/certificates", guards=[teacher_or_admin])
    async def create_certificate(
        self, data: CertificateIn, principal: Principal | None, settings: Settings
    ) -> CertificateOut:
        """An administrator issues a certificate for a period (the PDF is made and kept); a
        teacher asks for their own (``requested``, until an administrator decides)."""
        row = await certificates.create(
            need(principal), settings, data.teacher_id, data.start, data.end
        )
        return CertificateOut.of(row)

    @post("/certificates/{certificate_id:int}/decide", guards=[admin_only])
    async def decide_certificate(
        self,
        certificate_id: PathId,
        data: DecisionIn,
        principal: Principal | None,
        settings: Settings,
    ) -> CertificateOut:
        """Issue a requested certificate, or refuse it with a reason."""
        row = await certificates.decide(
            need(principal), settings, certificate_id, data.approve, data.reason
        )
        return CertificateOut.of(row)

    @post("/certificates/{certificate_id:int}/revoke", guards=[admin_only])
    async def revoke_certificate(
        self, certificate_id: PathId, data: ReasonIn, principal: Principal | None
    ) -> CertificateOut:
        """Revoke a certificate: its verification page says so from now on."""
        return CertificateOut.of(
            await certificates.revoke(need(principal), certificate_id, data.reason)
        )

    @post("/certificates/{certificate_id:int}/reissue", guards=[admin_only])
    async def reissue_certificate(
        self, certificate_id: PathId, principal: Principal | None, settings: Settings
    ) -> CertificateOut:
        """A new certificate with a new number for the same period; the old one superseded."""
        return CertificateOut.of(
            await certificates.reissue(need(principal), settings, certificate_id)
        )

    @get("/certificates/{certificate_id:int}/pdf", guards=[signed_in])
    async def certificate_pdf(
        self, certificate_id: PathId, principal: Principal | None, settings: Settings
    ) -> Response[bytes]:
        """The certificate's PDF (its teacher, or an administrator)."""
        number, body = await certificates.pdf(need(principal), settings, certificate_id)
        return Response(
            body,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{number}.pdf"',
                "Cache-Control": "private, no-store",
            },
        )

    @get("/teachers/{teacher_id:int}/certificates", guards=[signed_in])
    async def teacher_certificates(
        self, teacher_id: PathId, principal: Principal | None
    ) -> list[CertificateOut]:
        """A teacher's certificates and requests (the teacher, or an administrator)."""
        await ledger.teacher_exists(teacher_id)
        ledger.may_see(need(principal), teacher_id)
        return [CertificateOut.of(r) for r in await certificates.of_teacher(teacher_id)]

    @get("/ledger.csv", guards=[admin_only])
    async def ledger_csv(
        self,
        settings: Settings,
        date_from: FromParam = None,
        date_to: ToParam = None,
        teacher_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
        tz: TzParam = None,
    ) -> Response[bytes]:
        """The volunteer record (approved service and training, awards, evaluations) as CSV,
        for the national or a city volunteer system; by period and teacher."""
        data = await export_rows(settings, date_from, date_to, teacher_id, tz)
        return Response(
            exports.as_csv(data),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="volunteer-record.csv"'},
        )

    @get("/ledger.xlsx", guards=[admin_only])
    async def ledger_xlsx(
        self,
        settings: Settings,
        date_from: FromParam = None,
        date_to: ToParam = None,
        teacher_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
        tz: TzParam = None,
    ) -> Response[bytes]:
        """The same as XLSX (text cells stay text)."""
        data = await export_rows(settings, date_from, date_to, teacher_id, tz)
        return Response(
            exports.as_xlsx(data),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": 'attachment; filename="volunteer-record.xlsx"'},
        )


async def export_rows(
    settings: Settings,
    date_from: str | None,
    date_to: str | None,
    teacher_id: int | None,
    tz: str | None,
) -> list[list[Any]]:
    if teacher_id is not None:
        await ledger.teacher_exists(teacher_id)
    period = period_of(date_from, date_to, settings, tz)
    return await exports.rows(teacher_id, period, grace_of(settings))


def no_future(day: date, field_name: str) -> None:
    if day > date.today() + timedelta(days=1):
        raise Invalid("service cannot be recorded ahead of time", field=field_name)
