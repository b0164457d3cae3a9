"""Share-center pages: upcoming classes in the center's time zone, book/unbook, the big
check-in, replays with downloads. The schedule and the check-in work offline (service worker
``/center/sw.js``; a check-in made offline is queued in the browser with its idempotency key
and sent when the connection returns, so it counts once)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter

from hub import materials, packs, schedule
from hub.api.common import PathId
from hub.api.sessions import list_rows, one_row
from hub.auth import center_or_admin
from hub.errors import Conflict, Invalid, NotFound
from hub.pages import replays_view, schedule_view
from hub.pages.forms import form_of, int_field, see_other
from hub.pages.i18n import Lang
from hub.pages.render import lang_of, page, principal_of, settings_of
from hub.tables import SessionStatus, ShareCenter

N_ = str
NOTICES = {
    "booked": N_("Booked. It is now under Our booked classes."),
    "unbooked": N_("The booking has been cancelled."),
    "checked-in": N_("Checked in. Thank you!"),
}

OptionalId = Annotated[int | None, Parameter(ge=1, le=2**31 - 1, description="a center id")]


async def center_of(request: Request[Any, Any, Any], center_id: int | None = None) -> dict:
    """The operator's center; an administrator names one (``?center=``, else the first)."""
    who = principal_of(request)
    assert who is not None
    wanted = who.center_id if not who.is_admin else center_id
    if wanted is None and who.is_admin:
        first = await ShareCenter.select(ShareCenter.id).order_by(ShareCenter.id).first().run()
        wanted = first["id"] if first else None
    if wanted is None:
        raise NotFound("this account has no share-center", field="center_id")
    schedule.may_act_for_center(who, wanted)
    return await schedule.get_center(wanted)


def center_lang(request: Request[Any, Any, Any], center: dict) -> Lang:
    return lang_of(request, tz=center["timezone"])


def checkin_open(row: dict[str, Any], now: datetime) -> bool:
    return row["starts_at"] - schedule.CHECKIN_EARLY <= now < row["ends_at"] + timedelta(hours=2)


Text = Annotated[str | None, Parameter(max_length=50)]


def blocked_by(row: dict[str, Any], booked: list[dict[str, Any]], rooms: int) -> dict | None:
    """The first of the center's booked classes in the way of booking ``row`` when every room
    is taken at that time (the same rule ``schedule.book`` enforces), else None."""
    overlapping = [
        b for b in booked if b["starts_at"] < row["ends_at"] and row["starts_at"] < b["ends_at"]
    ]
    return overlapping[0] if len(overlapping) >= rooms else None


async def center_context(
    request: Request[Any, Any, Any],
    place: dict,
    lang: Lang,
    *,
    q: str = "",
    subject: str = "",
    grade: int | None = None,
) -> dict[str, Any]:
    """The center page: booked classes and classes to book, each grouped by day (today first),
    filtered by a search and by subject and grade; classes it cannot book are marked."""
    now = datetime.now(UTC)
    today = now.astimezone(lang.tz).date()
    booked = await schedule_view.upcoming_for_center(place["id"], now)
    for row in booked:
        row["checkin_open"] = checkin_open(row, now)
    attached = await materials.ready_for_classes([(r["id"], r["course_id"]) for r in booked])
    offer = await schedule_view.bookable(
        place["id"], schedule_view.week_start(today, "this"), lang.tz, now
    )
    for row in offer:
        row["blocked_by"] = blocked_by(row, booked, place["rooms"])

    def wanted(row: dict[str, Any]) -> bool:
        return (
            (not q or schedule_view.matches(row, q))
            and (not subject or row["subject"] == subject)
            and (not grade or row["grade_min"] <= grade <= row["grade_max"])
        )

    admin = principal_of(request).is_admin  # type: ignore[union-attr]
    return {
        "center": place,
        "booked_days": schedule_view.by_day([r for r in booked if wanted(r)], lang.tz),
        "offer_days": schedule_view.by_day([r for r in offer if wanted(r)], lang.tz),
        "booked_count": len(booked),
        "materials": attached,
        "packs": await packs.packs_of(place["id"]),
        "today": today,
        "q": q,
        "subject": subject,
        "grade": grade,
        "subjects": sorted({r["subject"] for r in [*booked, *offer] if r["subject"]}),
        "admin_suffix": f"?center={place['id']}" if admin else "",
        "answers": {},
    }


@get("/center", guards=[center_or_admin], name="pages:center")
async def center_home(
    request: Request[Any, Any, Any],
    center: OptionalId = None,
    q: Text = None,
    subject: Text = None,
    grade: Annotated[str | None, Parameter(max_length=3)] = None,
) -> Response[Any]:
    """My center's booked classes (in its time zone) with check-in, and classes to book, by
    day with today first; a search and filters by subject and grade."""
    place = await center_of(request, center)
    lang = center_lang(request, place)
    digits = bool(grade) and grade.isascii() and grade.isdigit()  # type: ignore[union-attr]
    grade_n = int(grade) if digits and 1 <= int(grade) <= 12 else None  # type: ignore[arg-type]
    ctx = await center_context(
        request, place, lang, q=(q or "").strip(), subject=subject or "", grade=grade_n
    )
    ok = request.query_params.get("ok")
    ctx["notice"] = lang.gettext(NOTICES[ok]) if ok in NOTICES else None
    return page(request, "center/home.html", ctx, lang=lang)


def refusal(exc: Conflict, place: dict, lang: Lang) -> str:
    """Why a booking was refused, in the reader's language, naming the class in the way."""
    clashes = exc.extra.get("clashes") or []
    if clashes:
        first = clashes[0]
        starts = datetime.fromisoformat(first["starts_at"])
        ends = datetime.fromisoformat(first["ends_at"])
        return lang.ngettext(
            "The room is taken at that time: it is booked for “%(title)s” (%(when)s).",
            "All %(num)s rooms are taken at that time; one is booked for “%(title)s” (%(when)s).",
            place["rooms"],
        ) % {
            "num": place["rooms"],
            "title": first["title"],
            "when": f"{lang.day(starts)} {lang.time(starts)}–{lang.time(ends)}",
        }
    if exc.extra.get("booking_id"):
        return lang.gettext(N_("This class is booked already."))
    return lang.gettext(N_("This class can no longer be booked (it has ended or was cancelled)."))


@post("/center/sessions/{session_id:int}/book", guards=[center_or_admin], name="pages:book")
async def book(
    request: Request[Any, Any, Any], session_id: PathId, center: OptionalId = None
) -> Response[Any]:
    """Book a class for my center. Answered in place: to the page's script (``X-Inline: 1``)
    a short JSON answer; else the center page again, with the answer next to the class (a
    refusal names the class in the way when the rooms are full)."""
    await form_of(request)
    place = await center_of(request, center)
    who = principal_of(request)
    assert who is not None
    lang = center_lang(request, place)
    inline = request.headers.get("x-inline") == "1"
    try:
        await schedule.book(who, session_id, place["id"])
    except Conflict as exc:
        message = refusal(exc, place, lang)
        if inline:
            return Response({"ok": False, "message": message}, status_code=409)
        ctx = await center_context(request, place, lang)
        ctx["answers"] = {session_id: message}
        return page(request, "center/home.html", ctx, lang=lang, status_code=409)
    if inline:
        return Response({"ok": True, "message": lang.gettext(NOTICES["booked"])}, status_code=200)
    suffix = f"&center={place['id']}" if who.is_admin else ""
    return see_other(f"/center?ok=booked{suffix}#booked")


@post("/center/bookings/{booking_id:int}/unbook", guards=[center_or_admin], name="pages:unbook")
async def unbook(request: Request[Any, Any, Any], booking_id: PathId) -> Response[Any]:
    """Cancel a booking (not after check-in)."""
    await form_of(request)
    who = principal_of(request)
    assert who is not None
    booking = await schedule.get_booking(booking_id)
    await schedule.unbook(who, booking_id)
    suffix = f"&center={booking['center']}" if who.is_admin else ""
    return see_other("/center?ok=unbooked" + suffix)


async def booking_context(request: Request[Any, Any, Any], booking_id: int) -> dict[str, Any]:
    who = principal_of(request)
    assert who is not None
    booking = await schedule.get_booking(booking_id)
    schedule.may_act_for_center(who, booking["center"])
    place = await schedule.get_center(booking["center"])
    row = await one_row(booking["session"])
    assert row is not None  # a booking's session stays (deleting it deletes its bookings)
    return {"booking": booking, "center": place, "s": row, "key": secrets.token_urlsafe(18)}


@get("/center/bookings/{booking_id:int}", guards=[center_or_admin], name="pages:checkin")
async def checkin_page(request: Request[Any, Any, Any], booking_id: PathId) -> Response[Any]:
    """The check-in page: one number, one big button; works offline."""
    ctx = await booking_context(request, booking_id)
    lang = center_lang(request, ctx["center"])
    ctx["open"] = checkin_open(ctx["s"], datetime.now(UTC))
    ok = request.query_params.get("ok")
    if ok in NOTICES:
        ctx["notice"] = lang.gettext(NOTICES[ok])
    return page(request, "center/checkin.html", ctx, lang=lang)


@post(
    "/center/bookings/{booking_id:int}/check-in",
    guards=[center_or_admin],
    name="pages:checkin-post",
)
async def check_in(request: Request[Any, Any, Any], booking_id: PathId) -> Response[Any]:
    """Record the children in the room (the form's key makes a repeated post count once)."""
    form = await form_of(request)
    who = principal_of(request)
    assert who is not None
    children = int_field(form, "children", 0, 2000)
    key = form.get("key", "").strip()[:64] or None
    error = ""
    if children is None:
        error = N_("Give the number of children in the room (0 to 2000).")
    else:
        try:
            await schedule.check_in(who, booking_id, children, key)
            return see_other(f"/center/bookings/{booking_id}?ok=checked-in")
        except (Invalid, Conflict) as exc:
            error = exc.detail
    ctx = await booking_context(request, booking_id)
    lang = center_lang(request, ctx["center"])
    ctx.update(open=checkin_open(ctx["s"], datetime.now(UTC)), error=error)
    return page(request, "center/checkin.html", ctx, lang=lang, status_code=400)


@get("/center/replays", guards=[center_or_admin], name="pages:replays")
async def replays(request: Request[Any, Any, Any], center: OptionalId = None) -> Response[Any]:
    """Classes my center booked that have ended (last 90 days), to watch or download."""
    place = await center_of(request, center)
    lang = center_lang(request, place)
    now = datetime.now(UTC)
    rows = await list_rows(
        "s.ends_at <= ? AND s.ends_at > ? AND s.status <> ?",
        [place["id"], now, now - timedelta(days=90), SessionStatus.cancelled.value],
        limit=200,
        joins="JOIN booking b ON b.session = s.id AND b.center = ?",
    )
    rows.reverse()
    settings = settings_of(request)
    for row in rows:
        recording = await replays_view.recording_of(request, settings, row["id"])
        row["files"] = replays_view.downloads(recording)
        row["replay"] = bool(replays_view.sources(recording))
    return page(request, "center/replays.html", {"center": place, "rows": rows}, lang=lang)


HANDLERS = [center_home, book, unbook, checkin_page, check_in, replays]
