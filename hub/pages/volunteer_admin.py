"""``/admin/volunteer``: the administrators' page of the volunteer records. It lists what waits
for a decision — entries another administrator added (with
``SHAREHUB_VOLUNTEER_SECOND_APPROVAL``; their author cannot approve them), teachers'
corrections and certificate requests — with approve and refuse (a reason) buttons; forms to
add an entry (preparation, training, teaching visit) or an award or evaluation for a teacher
and to issue a certificate; the issued certificates to revoke or re-issue; and the CSV and
XLSX exports by period and teacher. Values are checked by the API's shapes and saved by
``hub.volunteer``'s functions."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import Parameter, QueryParameter

from hub.accounts import Principal
from hub.api.common import PathId
from hub.api.impact import parse_day
from hub.api.volunteer import EntryIn, RecordIn, no_future
from hub.auth import admin_only
from hub.errors import DomainError, Invalid
from hub.pages.forms import NOT_ACCEPTED, checked, error_into, form_of, int_field, see_other
from hub.pages.render import lang_of, page, principal_of, settings_of
from hub.pages.volunteer_ledger import HINTS as LEDGER_HINTS
from hub.pages.volunteer_ledger import KIND_LABELS, certificate_from_form, local_today
from hub.tables import LiveSession, Teacher, User
from hub.volunteer import certificates, ledger, profile
from hub.volunteer.tables import (
    CertificateState,
    Decision,
    VolunteerCertificate,
    VolunteerEntry,
)

N_ = str
HINTS = {
    **LEDGER_HINTS,
    "kind": N_("Choose a kind."),
    "day": N_("Give the day of the service; not a day to come."),
    "content": N_("Say what the service was."),
    "evidence": NOT_ACCEPTED,
    "title": N_("Say what the award or evaluation is (never an ID number)."),
    "issuer": NOT_ACCEPTED,
    "reason": N_("Give a reason."),
}
NOTICES = {
    "added": N_("Entry added."),
    "pending": N_("Entry added; it counts once another administrator approves it."),
    "recorded": N_("Award or evaluation recorded."),
    "approved": N_("Approved."),
    "refused": N_("Refused."),
    "issued": N_("The certificate was issued."),
    "revoked": N_("The certificate was revoked."),
    "reissued": N_("A new certificate was issued; the old one is marked replaced."),
}
RECORD_LABELS = {"award": N_("Award"), "evaluation": N_("Evaluation")}
BACK = "/admin/volunteer"


async def names_of(model: Any, column: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await model.select(model.id, column).where(model.id.is_in(list(ids))).run()
    return {r["id"]: r[column._meta.name] for r in rows}


async def admin_context(
    request: Request[Any, Any, Any], who: Principal, teacher_id: int | None = None
) -> dict[str, Any]:
    """What waits for a decision, the forms' choices, and the issued certificates."""
    entries = list(
        await VolunteerEntry.select()
        .where(VolunteerEntry.state == Decision.pending.value)
        .order_by(VolunteerEntry.id)
        .run()
    )
    asked = await ledger.corrections(None, Decision.pending.value)
    requests = list(
        await VolunteerCertificate.select()
        .where(VolunteerCertificate.state == CertificateState.requested.value)
        .order_by(VolunteerCertificate.id)
        .run()
    )
    issued_query = (
        VolunteerCertificate.select()
        .where(VolunteerCertificate.state == CertificateState.issued.value)
        .order_by(VolunteerCertificate.id, ascending=False)
        .limit(100)
    )
    if teacher_id is not None:
        issued_query = issued_query.where(VolunteerCertificate.teacher_id == teacher_id)
    issued = list(await issued_query.run())
    teachers = await Teacher.select(Teacher.id, Teacher.name).order_by(Teacher.name).run()
    authors = await names_of(
        User, User.display_name, {e["created_by"] for e in entries if e["created_by"]}
    )
    sessions = {c["session_id"] for c in asked if c["session_id"] is not None}
    lines: dict[str, str] = {}
    if sessions:
        for s in await LiveSession.select(
            LiveSession.id, LiveSession.starts_at, LiveSession.course.title.as_alias("title")
        ).where(LiveSession.id.is_in(list(sessions))):
            lines[f"s{s['id']}"] = f"{lang_of(request).date(s['starts_at'])} · {s['title']}"
    entry_ids = {c["entry_id"] for c in asked if c["entry_id"] is not None}
    if entry_ids:
        for e in await VolunteerEntry.select(
            VolunteerEntry.id, VolunteerEntry.day, VolunteerEntry.content
        ).where(VolunteerEntry.id.is_in(list(entry_ids))):
            lines[f"e{e['id']}"] = f"{lang_of(request).date(e['day'])} · {e['content']}"
    today = local_today(request)
    return {
        "entries": entries,
        "corrections": asked,
        "requests": requests,
        "issued": issued,
        "teachers": teachers,
        "teacher_names": {t["id"]: t["name"] for t in teachers},
        "authors": authors,
        "lines": lines,
        "kinds": {k: v for k, v in KIND_LABELS.items() if k != "class"},
        "record_kinds": RECORD_LABELS,
        "teacher_id": teacher_id,
        "export_from": f"{today.year}-01-01",
        "export_to": today.isoformat(),
        "second_approval": settings_of(request).volunteer_second_approval,
        "form": {},
        "errors": {},
        "failed": "",
    }


@get("/admin/volunteer", guards=[admin_only], name="pages:volunteer-admin")
async def volunteer_admin(
    request: Request[Any, Any, Any],
    teacher_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
    ok: Annotated[str | None, Parameter(max_length=20)] = None,
) -> Response[Any]:
    """Decisions waiting, forms to add entries and records, certificates, exports."""
    who = principal_of(request)
    assert who is not None
    lang = lang_of(request)
    ctx = await admin_context(request, who, teacher_id)
    if ok in NOTICES:
        ctx["notice"] = lang.gettext(NOTICES[ok])
    return page(request, "volunteer/admin.html", ctx, lang=lang)


async def refused(
    request: Request[Any, Any, Any],
    who: Principal,
    failed: str,
    form: dict[str, str],
    errors: dict[str, str],
) -> Response[Any]:
    ctx = await admin_context(request, who)
    ctx.update(form=form, errors=errors, failed=failed)
    return page(request, "volunteer/admin.html", ctx, status_code=400)


def admin_of(request: Request[Any, Any, Any]) -> Principal:
    who = principal_of(request)
    assert who is not None
    return who


@get("/admin/volunteer/export", guards=[admin_only], name="pages:volunteer-export")
async def export(
    request: Request[Any, Any, Any],
    kind: Annotated[Literal["csv", "xlsx"], QueryParameter(name="format")] = "csv",
    date_from: Annotated[str, QueryParameter(name="from", max_length=10)] = "",
    date_to: Annotated[str, QueryParameter(name="to", max_length=10)] = "",
    teacher: Annotated[str, QueryParameter(name="teacher_id", max_length=10)] = "",
) -> Response[Any]:
    """The export form's target: on to ``/api/v1/volunteer/ledger.{csv,xlsx}`` with the
    filters given (a form sends "every teacher" as an empty value, which the API has not)."""
    query = {"from": parse_day(date_from, "from"), "to": parse_day(date_to, "to")}
    if teacher:
        if not teacher.isdigit() or not 1 <= int(teacher) < 2**31:
            raise Invalid("choose a teacher", field="teacher_id")
        query["teacher_id"] = int(teacher)
    given = urlencode({k: str(v) for k, v in query.items() if v})
    return see_other(f"/api/v1/volunteer/ledger.{kind}" + (f"?{given}" if given else ""))


@post("/admin/volunteer/entries", guards=[admin_only], name="pages:volunteer-add-entry")
async def add_entry(request: Request[Any, Any, Any]) -> Response[Any]:
    """Add lesson preparation, training or a teaching visit for a teacher."""
    form = await form_of(request)
    who = admin_of(request)
    values = {k: form.get(k, "").strip() for k in ("teacher_id", "kind", "day", "hours", "content")}
    values["evidence"] = form.get("evidence", "").strip()
    data, errors = checked(EntryIn, values, HINTS)
    if data is not None:
        try:
            no_future(data.day, "day")
            entry_id = await ledger.add_entry(
                who,
                data.teacher_id,
                data.kind,
                data.day,
                data.hours,
                data.content,
                data.evidence,
                settings_of(request).volunteer_second_approval,
            )
            state = (await ledger.entry_row(entry_id))["state"]
            return see_other(f"{BACK}?ok={'pending' if state == 'pending' else 'added'}")
        except DomainError as exc:
            error_into(errors, exc, HINTS)
    return await refused(request, who, "entry", form, errors)


@post("/admin/volunteer/records", guards=[admin_only], name="pages:volunteer-add-record")
async def add_record(request: Request[Any, Any, Any]) -> Response[Any]:
    """Record a dated award or evaluation of a teacher."""
    form = await form_of(request)
    who = admin_of(request)
    errors: dict[str, str] = {}
    teacher_id = int_field(form, "teacher_id", 1, 2**31 - 1)
    if teacher_id is None:
        errors["teacher_id"] = HINTS["teacher_id"]
    values = {k: form.get(k, "").strip() for k in ("kind", "day", "title", "issuer")}
    data, found = checked(RecordIn, values, HINTS)
    errors.update(found)
    if data is not None and teacher_id is not None:
        try:
            no_future(data.day, "day")
            await profile.add_record(who, teacher_id, data.kind, data.day, data.title, data.issuer)
            return see_other(f"{BACK}?ok=recorded")
        except DomainError as exc:
            error_into(errors, exc, HINTS)
    return await refused(request, who, "record", form, errors)


@post(
    "/admin/volunteer/certificates", guards=[admin_only], name="pages:volunteer-issue-certificate"
)
async def issue_certificate(request: Request[Any, Any, Any]) -> Response[Any]:
    """Issue a certificate of a period for a teacher."""
    form = await form_of(request)
    who = admin_of(request)
    teacher_id = int_field(form, "teacher_id", 1, 2**31 - 1)
    if teacher_id is None:
        return await refused(request, who, "certificate", form, {"teacher_id": HINTS["teacher_id"]})
    row, errors = await certificate_from_form(who, request, teacher_id, form)
    if row is not None:
        return see_other(f"{BACK}?ok=issued")
    return await refused(request, who, "certificate", form, errors)


def approving(form: dict[str, str]) -> bool:
    return form.get("approve") == "1"


async def decided(
    request: Request[Any, Any, Any],
    failed: str,
    form: dict[str, str],
    act: Any,
) -> Response[Any]:
    """Run one decision; back to the page with a notice, or the page with the refusal."""
    who = admin_of(request)
    errors: dict[str, str] = {}
    try:
        ok = await act(who)
        return see_other(f"{BACK}?ok={ok}")
    except DomainError as exc:
        if exc.status_code == 404:  # nothing to decide on: not a matter of the form
            raise
        error_into(errors, exc, HINTS)
    return await refused(request, who, failed, form, errors)


@post(
    "/admin/volunteer/entries/{entry_id:int}/decide",
    guards=[admin_only],
    name="pages:volunteer-decide-entry",
)
async def decide_entry(request: Request[Any, Any, Any], entry_id: PathId) -> Response[Any]:
    """Approve an entry another administrator added, or refuse it with a reason."""
    form = await form_of(request)

    async def act(who: Principal) -> str:
        return await ledger.decide_entry(
            who, entry_id, approving(form), form.get("reason", "").strip()
        )

    return await decided(request, f"entry-{entry_id}", form, act)


@post(
    "/admin/volunteer/corrections/{correction_id:int}/decide",
    guards=[admin_only],
    name="pages:volunteer-decide-correction",
)
async def decide_correction(
    request: Request[Any, Any, Any], correction_id: PathId
) -> Response[Any]:
    """Approve or refuse a teacher's correction, with a reason."""
    form = await form_of(request)

    async def act(who: Principal) -> str:
        return await ledger.decide_correction(
            who, correction_id, approving(form), form.get("reason", "").strip()
        )

    return await decided(request, f"correction-{correction_id}", form, act)


@post(
    "/admin/volunteer/certificates/{certificate_id:int}/decide",
    guards=[admin_only],
    name="pages:volunteer-decide-certificate",
)
async def decide_certificate(
    request: Request[Any, Any, Any], certificate_id: PathId
) -> Response[Any]:
    """Issue a requested certificate, or refuse the request with a reason."""
    form = await form_of(request)

    async def act(who: Principal) -> str:
        row = await certificates.decide(
            who,
            settings_of(request),
            certificate_id,
            approving(form),
            form.get("reason", "").strip(),
        )
        return "issued" if row["state"] == CertificateState.issued.value else "refused"

    return await decided(request, f"request-{certificate_id}", form, act)


@post(
    "/admin/volunteer/certificates/{certificate_id:int}/revoke",
    guards=[admin_only],
    name="pages:volunteer-revoke-certificate",
)
async def revoke_certificate(
    request: Request[Any, Any, Any], certificate_id: PathId
) -> Response[Any]:
    """Revoke a certificate (its verification page says so), with a reason."""
    form = await form_of(request)

    async def act(who: Principal) -> str:
        await certificates.revoke(who, certificate_id, form.get("reason", "").strip())
        return "revoked"

    return await decided(request, f"issued-{certificate_id}", form, act)


@post(
    "/admin/volunteer/certificates/{certificate_id:int}/reissue",
    guards=[admin_only],
    name="pages:volunteer-reissue-certificate",
)
async def reissue_certificate(
    request: Request[Any, Any, Any], certificate_id: PathId
) -> Response[Any]:
    """A new certificate (new number) for the same period; the old one is marked replaced."""
    form = await form_of(request)

    async def act(who: Principal) -> str:
        await certificates.reissue(who, settings_of(request), certificate_id)
        return "reissued"

    return await decided(request, f"issued-{certificate_id}", form, act)


HANDLERS = [
    volunteer_admin,
    export,
    add_entry,
    add_record,
    issue_certificate,
    decide_entry,
    decide_correction,
    decide_certificate,
    revoke_certificate,
    reissue_certificate,
]
