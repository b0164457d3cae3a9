"""``/teacher/volunteer``: a teacher's volunteer record (志愿服务记录) — hours by class and
entry, corrections and their answers, certificates to download; administrators choose the
teacher. From the page a teacher asks for a correction of a line (hours and why) and for a
certificate of a period; an administrator who opens a teacher's record issues one at once.
The forms are checked by the API's shapes and saved by ``hub.volunteer``'s functions, so the
page and ``/api/v1/volunteer`` refuse the same things."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter, QueryParameter

from hub.accounts import Principal
from hub.api.impact import parse_day
from hub.api.volunteer import CorrectionIn
from hub.auth import teacher_or_admin
from hub.errors import DomainError, Invalid
from hub.impact import Period
from hub.pages.forms import checked, error_into, form_of, int_field, see_other
from hub.pages.render import lang_of, page, principal_of, settings_of
from hub.tables import Teacher
from hub.volunteer import certificates, ledger, profile

N_ = str  # marks a message id for extraction; the template translates it
KIND_LABELS = {
    "class": N_("Live class"),
    "preparation": N_("Lesson preparation"),
    "training": N_("Training"),
    "visit": N_("Teaching visit"),
}
HINTS = {
    "hours": N_("Give the hours served, from 0 to 24 (travel does not count)."),
    "reason": N_("Say what is wrong and why."),
    "session_id": N_("Choose a line of the record."),
    "entry_id": N_("Choose a line of the record."),
    "from": N_("Give the first day of the period."),
    "to": N_("The period ends on a day that has passed, and not before it starts."),
    "teacher_id": N_("Choose a teacher."),
    "state": N_("This was decided meanwhile; reload the page."),
}
NOTICES = {
    "correction": N_("Your correction was sent; an administrator will decide."),
    "requested": N_("Your certificate request was sent; an administrator will decide."),
    "issued": N_("The certificate was issued."),
}


def local_today(request: Request[Any, Any, Any]) -> date:
    return datetime.now(UTC).astimezone(lang_of(request).tz).date()


async def ledger_context(
    request: Request[Any, Any, Any], teacher_id: int, start: date, end: date
) -> dict[str, Any]:
    """What the record page shows for one teacher and period."""
    lang = lang_of(request)
    settings = settings_of(request)
    found = await ledger.ledger(
        teacher_id,
        Period.of(start, end, lang.tz),
        timedelta(minutes=max(0, settings.volunteer_grace_minutes)),
    )
    teacher = await Teacher.select(Teacher.name).where(Teacher.id == teacher_id).first().run()
    asked = await ledger.corrections(teacher_id)
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for c in asked:  # oldest first: the newest request about a line wins
        if c["session_id"] is not None:
            latest[("s", c["session_id"])] = c
        elif c["entry_id"] is not None:
            latest[("e", c["entry_id"])] = c
    query = f"teacher_id={teacher_id}&from={start.isoformat()}&to={end.isoformat()}"
    return {
        "teacher_id": teacher_id,
        "teacher_name": teacher["name"] if teacher else "",
        "start": start,
        "end": end,
        "found": found,
        "kinds": KIND_LABELS,
        "profile": await profile.profile(teacher_id),
        "records": await profile.records(teacher_id),
        "corrections": asked,
        "latest": latest,
        "certificates": await certificates.of_teacher(teacher_id),
        "back": f"/teacher/volunteer?{query}",
        "form": {},
        "errors": {},
        "failed": "",
    }


@get("/teacher/volunteer", guards=[teacher_or_admin], name="pages:volunteer-ledger")
async def volunteer_ledger(
    request: Request[Any, Any, Any],
    teacher_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
    date_from: Annotated[str | None, QueryParameter(name="from", max_length=10)] = None,
    date_to: Annotated[str | None, QueryParameter(name="to", max_length=10)] = None,
    ok: Annotated[str | None, QueryParameter(max_length=20)] = None,
) -> Response[Any]:
    """The record of the signed-in teacher (an administrator picks a teacher)."""
    who = principal_of(request)
    assert who is not None
    lang = lang_of(request)
    if not who.is_admin:
        teacher_id = who.teacher_id
    if teacher_id is None:
        teachers = await Teacher.select(Teacher.id, Teacher.name).order_by(Teacher.id).run()
        return page(request, "volunteer/ledger.html", {"teachers": teachers}, lang=lang)
    await ledger.teacher_exists(teacher_id)
    ledger.may_see(who, teacher_id)
    today = local_today(request)
    start = parse_day(date_from, "from") or date(today.year, 1, 1)
    end = parse_day(date_to, "to") or today
    if end < start:
        raise Invalid("from is after to", field="from")
    ctx = await ledger_context(request, teacher_id, start, end)
    if ok in NOTICES:
        ctx["notice"] = lang.gettext(NOTICES[ok])
    return page(request, "volunteer/ledger.html", ctx, lang=lang)


def back_to(form: dict[str, str], teacher_id: int, ok: str) -> str:
    """The record page the form was on (its period kept), with a notice."""
    query = f"teacher_id={teacher_id}"
    for name in ("period_from", "period_to"):
        value = form.get(name, "")
        if len(value) == 10 and value[4] == "-" and value.replace("-", "").isdigit():
            query += f"&{name.removeprefix('period_')}={value}"
    return f"/teacher/volunteer?{query}&ok={ok}"


async def refused_form(
    request: Request[Any, Any, Any],
    teacher_id: int,
    failed: str,
    form: dict[str, str],
    errors: dict[str, str],
) -> Response[Any]:
    """The record page again with the refused form, its values and what each field needs."""
    today = local_today(request)
    start = parse_day(form.get("period_from"), "from") if form.get("period_from") else None
    end = parse_day(form.get("period_to"), "to") if form.get("period_to") else None
    end = end or today
    start = start if start and start <= end else date(end.year, 1, 1)
    ctx = await ledger_context(request, teacher_id, start, end)
    ctx.update(form=form, errors=errors, failed=failed)
    return page(request, "volunteer/ledger.html", ctx, status_code=400)


def teacher_of(who: Principal, form: dict[str, str]) -> int:
    """The teacher a form is about: the signed-in teacher, or the one an administrator named."""
    if not who.is_admin:
        if who.teacher_id is None:
            raise Invalid("this account is no teacher's", field="teacher_id")
        return who.teacher_id
    teacher_id = int_field(form, "teacher_id", 1, 2**31 - 1)
    if teacher_id is None:
        raise Invalid("choose a teacher", field="teacher_id")
    return teacher_id


@post(
    "/teacher/volunteer/corrections",
    guards=[teacher_or_admin],
    name="pages:volunteer-correction",
)
async def ask_correction(request: Request[Any, Any, Any]) -> Response[Any]:
    """Ask to correct one line of one's record (a class or an entry): the hours and why."""
    form = await form_of(request)
    who = principal_of(request)
    assert who is not None
    teacher_id = teacher_of(who, form)
    await ledger.teacher_exists(teacher_id)
    ledger.may_see(who, teacher_id)
    values = {
        "hours": form.get("hours", "").strip(),
        "reason": form.get("reason", "").strip(),
        "session_id": form.get("session_id") or None,
        "entry_id": form.get("entry_id") or None,
    }
    data, errors = checked(CorrectionIn, values, HINTS)
    if data is not None:
        try:
            await ledger.request_correction(
                who, data.session_id, data.entry_id, data.hours, data.reason
            )
            return see_other(back_to(form, teacher_id, "correction") + "#corrections")
        except DomainError as exc:
            error_into(errors, exc, HINTS)
    line = f"s{form.get('session_id')}" if form.get("session_id") else f"e{form.get('entry_id')}"
    return await refused_form(request, teacher_id, line, form, errors)


def period_fields(form: dict[str, str], errors: dict[str, str]) -> tuple[date, date] | None:
    """A certificate's period from the form's ``from`` and ``to``."""
    found: dict[str, date] = {}
    for name in ("from", "to"):
        try:
            day = parse_day(form.get(name, "").strip(), name)
        except Invalid:
            day = None
        if day is None:
            errors[name] = HINTS[name]
        else:
            found[name] = day
    if errors:
        return None
    return found["from"], found["to"]


async def certificate_from_form(
    who: Principal, request: Request[Any, Any, Any], teacher_id: int, form: dict[str, str]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Ask for (a teacher) or issue (an administrator) a certificate for the form's period."""
    errors: dict[str, str] = {}
    period = period_fields(form, errors)
    if period is None:
        return None, errors
    try:
        row = await certificates.create(who, settings_of(request), teacher_id, *period)
        return row, errors
    except DomainError as exc:
        error_into(errors, exc, HINTS)
        return None, errors


@post(
    "/teacher/volunteer/certificates",
    guards=[teacher_or_admin],
    name="pages:volunteer-certificate",
)
async def ask_certificate(request: Request[Any, Any, Any]) -> Response[Any]:
    """A teacher asks for a certificate of a period (an administrator decides); an
    administrator on a teacher's record issues it at once."""
    form = await form_of(request)
    who = principal_of(request)
    assert who is not None
    teacher_id = teacher_of(who, form)
    await ledger.teacher_exists(teacher_id)
    ledger.may_see(who, teacher_id)
    row, errors = await certificate_from_form(who, request, teacher_id, form)
    if row is not None:
        ok = "issued" if row["state"] == "issued" else "requested"
        return see_other(back_to(form, teacher_id, ok) + "#certificates")
    return await refused_form(request, teacher_id, "certificate", form, errors)


HANDLERS = [volunteer_ledger, ask_correction, ask_certificate]
