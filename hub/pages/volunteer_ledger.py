"""``/teacher/volunteer``: a teacher's volunteer record (志愿服务记录) — hours by class and
entry, corrections and their answers, certificates to download; administrators choose the
teacher. Corrections and certificates are asked for through the API (``/api/v1/volunteer``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter, QueryParameter
from litestar.response import Template

from hub.api.impact import parse_day
from hub.auth import teacher_or_admin
from hub.errors import Invalid
from hub.impact import Period
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


@get("/teacher/volunteer", guards=[teacher_or_admin], name="pages:volunteer-ledger")
async def volunteer_ledger(
    request: Request[Any, Any, Any],
    teacher_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
    date_from: Annotated[str | None, QueryParameter(name="from", max_length=10)] = None,
    date_to: Annotated[str | None, QueryParameter(name="to", max_length=10)] = None,
) -> Template:
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
    today = datetime.now(UTC).astimezone(lang.tz).date()
    start = parse_day(date_from, "from") or date(today.year, 1, 1)
    end = parse_day(date_to, "to") or today
    if end < start:
        raise Invalid("from is after to", field="from")
    settings = settings_of(request)
    found = await ledger.ledger(
        teacher_id,
        Period.of(start, end, lang.tz),
        timedelta(minutes=max(0, settings.volunteer_grace_minutes)),
    )
    teacher = await Teacher.select(Teacher.name).where(Teacher.id == teacher_id).first().run()
    return page(
        request,
        "volunteer/ledger.html",
        {
            "teacher_id": teacher_id,
            "teacher_name": teacher["name"] if teacher else "",
            "start": start,
            "end": end,
            "found": found,
            "kinds": KIND_LABELS,
            "profile": await profile.profile(teacher_id),
            "records": await profile.records(teacher_id),
            "corrections": await ledger.corrections(teacher_id),
            "certificates": await certificates.of_teacher(teacher_id),
        },
        lang=lang,
    )


HANDLERS = [volunteer_ledger]
