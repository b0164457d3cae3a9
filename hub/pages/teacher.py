"""Teacher pages: my classes, scheduling with inline clash feedback, the go-live panel."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import segno
from litestar import Request, Response, get, post
from markupsafe import Markup

from hub import live, recordings, schedule, series
from hub.api.common import PathId
from hub.api.sessions import list_rows, one_row
from hub.api.streams import check_provider_choice, ingest_out, teacher_session
from hub.auth import teacher_or_admin
from hub.errors import Conflict, DomainError
from hub.pages import i18n
from hub.pages.forms import form_of, int_field, see_other
from hub.pages.render import lang_of, page, principal_of, settings_of
from hub.plugin_host import PluginHost
from hub.recordings import hls_path
from hub.tables import Booking, Course, SessionStatus, ShareCenter

N_ = str
WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


async def my_courses(request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    who = principal_of(request)
    assert who is not None
    query = Course.select(
        Course.id, Course.title, Course.subject, Course.teacher.name.as_alias("teacher_name")
    ).order_by(Course.title)
    if not who.is_admin:
        query = query.where(Course.teacher == (who.teacher_id or 0))
    return await query.run()


def provider_label(plugins: PluginHost, name: str, lang: str) -> str:
    """A provider's label in the page's language (``i18n.label_in``)."""
    try:
        label = str(plugins.provider(name).label)
    except DomainError:
        return name
    return i18n.label_in(label, lang)


def ready_providers(plugins: PluginHost) -> list[str]:
    names = []
    for name, provider in sorted(plugins.providers.items()):
        if not provider.problem(plugins.provider_options[name]):
            names.append(name)
    return names


async def classes_context(request: Request[Any, Any, Any], plugins: PluginHost) -> dict[str, Any]:
    who = principal_of(request)
    assert who is not None
    now = datetime.now(UTC)
    where = "s.ends_at > ?"
    args: list[Any] = [now - timedelta(days=28)]
    if not who.is_admin:
        where += " AND s.teacher = ?"
        args.append(who.teacher_id or 0)
    rows = await list_rows(where, args, limit=300)
    coming = [r for r in rows if r["ends_at"] > now]
    held = [r for r in reversed(rows) if r["ends_at"] <= now]
    counts = await schedule.booking_counts([r["id"] for r in rows])
    providers = ready_providers(plugins)
    lang = lang_of(request).locale
    return {
        "provider_labels": {p: provider_label(plugins, p, lang) for p in providers},
        "coming": coming,
        "held": held,
        "replays": sorted(await recordings.replayable([r["id"] for r in held])),
        "counts": counts,
        "courses": await my_courses(request),
        "providers": providers,
        "form": {
            "date": (now + timedelta(days=1)).astimezone(lang_of(request).tz).date().isoformat(),
            "start": "09:00",
            "duration": "45",
            "weeks": "1",
            "provider": default
            if (default := plugins.default_provider()) in providers
            else (providers[0] if providers else ""),
        },
    }


@get("/teacher", guards=[teacher_or_admin], name="pages:teacher")
async def my_classes(request: Request[Any, Any, Any], plugins: PluginHost) -> Response[Any]:
    """My classes to come and held in the last four weeks; the form to schedule one."""
    ok = request.query_params.get("ok")
    notice = {
        "scheduled": N_("The class has been scheduled."),
        "cancelled": N_("Cancelled."),
        "course-added": N_("The course has been added."),
    }
    ctx = await classes_context(request, plugins)
    lang = lang_of(request)
    if ok in notice:
        ctx["notice"] = lang.gettext(notice[ok])
    return page(request, "teacher/classes.html", ctx, lang=lang)


def link_option(plugins: PluginHost, provider: str, form: dict[str, str]) -> dict[str, str]:
    """The form's meeting link, for a provider whose session options take one."""
    link = form.get("meeting_url", "").strip()
    model = getattr(plugins.providers.get(provider), "session_model", None)
    if link and "meeting_url" in getattr(model, "__struct_fields__", ()):
        return {"meeting_url": link}
    return {}


def parse_start(form: dict[str, str]) -> tuple[datetime | None, dict[str, str]]:
    errors: dict[str, str] = {}
    try:
        day = date.fromisoformat(form.get("date", "").strip())
    except ValueError:
        errors["date"] = N_("Give the day as YYYY-MM-DD.")
        day = None
    try:
        hh, mm = form.get("start", "").strip().split(":")[:2]
        start_time = dtime(int(hh), int(mm))
    except ValueError:
        errors["start"] = N_("Give the start time as HH:MM.")
        start_time = None
    if day and start_time:
        return datetime.combine(day, start_time), errors
    return None, errors


@post("/teacher/sessions", guards=[teacher_or_admin], name="pages:teacher-schedule")
async def schedule_class(request: Request[Any, Any, Any], plugins: PluginHost) -> Response[Any]:
    """Schedule one class or a weekly series; a clash is shown in the form, naming the class."""
    form = await form_of(request)
    who = principal_of(request)
    assert who is not None
    lang = lang_of(request)
    start, errors = parse_start(form)
    course_id = int_field(form, "course_id", 1, 2**31 - 1)
    duration = int_field(form, "duration", 10, 720)
    weeks = int_field(form, "weeks", 1, 52)
    provider = plugins.chosen_provider(form.get("provider", ""))
    if course_id is None:
        errors["course_id"] = N_("Choose a course.")
    if duration is None:
        errors["duration"] = N_("A class lasts 10 to 720 minutes.")
    if weeks is None:
        errors["weeks"] = N_("Repeat for 1 to 52 weeks.")
    clash: dict[str, Any] | None = None
    problem = ""
    if not errors and start and course_id and duration and weeks:
        try:
            options = check_provider_choice(plugins, provider, link_option(plugins, provider, form))
            if weeks == 1:
                starts = start.replace(tzinfo=lang.tz).astimezone(UTC)
                await schedule.create_session(
                    who,
                    course_id,
                    starts,
                    starts + timedelta(minutes=duration),
                    provider=provider,
                    provider_settings=options,
                    tz=lang.tz,
                )
            else:
                await series.create_series(
                    who,
                    course_id=course_id,
                    first_start_local=start,
                    duration_minutes=duration,
                    timezone=lang.tz.key,
                    rrule=f"FREQ=WEEKLY;BYDAY={WEEKDAY_CODES[start.weekday()]};COUNT={weeks}",
                    skip_holidays=form.get("skip_holidays") == "on",
                    provider=provider,
                    provider_settings=options,
                )
            return see_other("/teacher?ok=scheduled")
        except Conflict as exc:
            clashes = exc.extra.get("clashes") or []
            if clashes:
                clash = clashes[0]
                clash["starts"] = datetime.fromisoformat(clash["starts_at"])
                clash["ends"] = datetime.fromisoformat(clash["ends_at"])
            else:
                problem = exc.detail
        except DomainError as exc:
            if exc.status_code == 403:
                raise
            problem = exc.detail
            if exc.field in {"starts_at", "first_start"} and "in the past" in exc.detail:
                errors["start"] = N_("This time has passed. Choose a time to come.")
                problem = ""
            elif exc.field in {"starts_at", "ends_at", "duration_minutes"}:
                errors["duration" if exc.field != "starts_at" else "start"] = exc.detail
    ctx = await classes_context(request, plugins)
    ctx.update(form=form, errors=errors, clash=clash, problem=problem)
    return page(request, "teacher/classes.html", ctx, lang=lang, status_code=409 if clash else 400)


async def joined(session_id: int) -> list[dict[str, Any]]:
    return (
        await Booking.select(
            Booking.id,
            Booking.center.name.as_alias("center_name"),
            Booking.center.province.as_alias("province"),
            Booking.checked_in_at,
            Booking.children_present,
        )
        .where(Booking.session == session_id)
        .order_by(Booking.center.name)
        .run()
    )


async def view_figures(session_id: int) -> dict[str, Any] | None:
    try:
        from hub.views import session_views
    except ImportError:  # pragma: no cover
        return None
    return await session_views(session_id)


@get("/teacher/sessions/{session_id:int}", guards=[teacher_or_admin], name="pages:go-live")
async def go_live_panel(
    request: Request[Any, Any, Any], session_id: PathId, plugins: PluginHost
) -> Response[Any]:
    """The go-live panel: push URL, key or passphrase, copy buttons, QR code, stream state;
    after class, who joined and the views."""
    who = principal_of(request)
    assert who is not None
    row = await live.session_row(session_id)
    schedule.may_teach(who, row["teacher"])
    info = await one_row(session_id)
    assert info is not None  # live.session_row found it
    ingest = None
    problem = ""
    qr: dict[str, Markup] = {}
    if row["status"] in (SessionStatus.scheduled.value, SessionStatus.live.value):
        try:
            ingest = (await ingest_out(row, plugins, settings_of(request))).content
        except DomainError as exc:
            problem = exc.detail
        for endpoint in ingest.endpoints if ingest else ():
            svg = segno.make(endpoint.url, error="m").svg_inline(scale=3, omitsize=True)
            qr[endpoint.protocol] = Markup(svg)  # segno's own SVG; the URL is escaped in it
    bookings = await joined(session_id)
    children = sum(b["children_present"] or 0 for b in bookings)
    lang = lang_of(request)
    rehearsing = live.rehearsing(row)
    preview = None
    if ingest is not None and ingest.endpoints and (rehearsing or row["status"] == "live"):
        preview = hls_path(session_id)  # the hub's own recording of the push
    centers_total = await ShareCenter.count().run()
    return page(
        request,
        "teacher/session.html",
        {
            "s": info,
            "row": row,
            "rehearsing": rehearsing,
            "segment_seconds": settings_of(request).segment_seconds,
            "preview": preview,
            "early_minutes": max(1, round(live.LIVE_EARLY.total_seconds() / 60)),
            "provider_label": provider_label(plugins, row["provider"], lang.locale),
            "ingest": ingest,
            "qr": qr,
            "problem": problem,
            "bookings": bookings,
            "children": children,
            "centers_total": centers_total,
            "views": await view_figures(session_id),
            "recording": await recordings.get(session_id),
            "notice": lang_of(request).gettext(N_("A new key has been made."))
            if request.query_params.get("ok") == "rotated"
            else None,
        },
        headers={"Cache-Control": "no-store"},
    )


@post(
    "/teacher/sessions/{session_id:int}/rotate",
    guards=[teacher_or_admin],
    name="pages:rotate-key",
)
async def rotate_key(request: Request[Any, Any, Any], session_id: PathId) -> Response[Any]:
    """A new stream key; the addresses handed out before stop working."""
    await form_of(request)
    who = principal_of(request)
    assert who is not None
    row = await live.session_row(session_id)
    schedule.may_teach(who, row["teacher"])
    if row["status"] not in (SessionStatus.scheduled.value, SessionStatus.live.value):
        raise Conflict(f"session {session_id} is {row['status']}", field="status")
    await live.rotate_stream_key(session_id)
    return see_other(f"/teacher/sessions/{session_id}?ok=rotated")


@post(
    "/teacher/sessions/{session_id:int}/cancel",
    guards=[teacher_or_admin],
    name="pages:cancel-class",
)
async def cancel_class(request: Request[Any, Any, Any], session_id: PathId) -> Response[Any]:
    """Cancel one class."""
    await form_of(request)
    who = principal_of(request)
    assert who is not None
    await schedule.cancel_session(who, session_id)
    return see_other("/teacher?ok=cancelled")


@post(
    "/teacher/sessions/{session_id:int}/start",
    guards=[teacher_or_admin],
    name="pages:start-class",
)
async def start_class(request: Request[Any, Any, Any], session_id: PathId) -> Response[Any]:
    """开始上课: the class is live now (after a rehearsal, or for a meeting-app class)."""
    await form_of(request)
    await teacher_session(session_id, principal_of(request))
    await live.start_class(session_id)
    return see_other(f"/teacher/sessions/{session_id}")


@post(
    "/teacher/sessions/{session_id:int}/end",
    guards=[teacher_or_admin],
    name="pages:end-class",
)
async def end_class(request: Request[Any, Any, Any], session_id: PathId) -> Response[Any]:
    """下课: the live class ends now."""
    await form_of(request)
    await teacher_session(session_id, principal_of(request))
    await live.end_class(session_id)
    return see_other(f"/teacher/sessions/{session_id}")


HANDLERS = [
    my_classes,
    schedule_class,
    go_live_panel,
    rotate_key,
    cancel_class,
    start_class,
    end_class,
]
