"""Share-center pages: upcoming classes in the center's time zone, book/unbook, the big
check-in, replays with downloads. The schedule and the check-in work offline (service worker
``/center/sw.js``; a check-in made offline is queued in the browser with its idempotency key
and sent when the connection returns, so it counts once)."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter
from markupsafe import Markup

from hub import schedule
from hub.api.common import PathId
from hub.api.sessions import list_rows, one_row
from hub.auth import center_or_admin
from hub.cache import ResponseCache
from hub.errors import Conflict, Invalid, NotFound
from hub.pages import replays_view, schedule_view
from hub.pages.forms import form_of, int_field, see_other
from hub.pages.i18n import Lang
from hub.pages.render import CSRF_MARK, environment, lang_of, page, principal_of, settings_of
from hub.tables import SessionStatus, ShareCenter

N_ = str
NOTICES = {
    "booked": N_("Booked."),
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


@get("/center", guards=[center_or_admin], name="pages:center")
async def center_home(request: Request[Any, Any, Any], center: OptionalId = None) -> Response[Any]:
    """My center's booked classes (in its time zone) with check-in, and classes to book."""
    place = await center_of(request, center)
    lang = center_lang(request, place)
    now = datetime.now(UTC)
    today = now.astimezone(lang.tz).date()
    booked = await schedule_view.upcoming_for_center(place["id"], now)
    for row in booked:
        row["checkin_open"] = checkin_open(row, now)
    admin_suffix = f"?center={place['id']}" if principal_of(request).is_admin else ""  # type: ignore[union-attr]
    offer = await offer_for(request, place["id"], lang, today, now, admin_suffix)
    ok = request.query_params.get("ok")
    return page(
        request,
        "center/home.html",
        {
            "center": place,
            "booked": booked,
            "offer": offer,
            "csrf_mark": CSRF_MARK,
            "today": today,
            "notice": lang.gettext(NOTICES[ok]) if ok in NOTICES else None,
            "admin_suffix": admin_suffix,
        },
        lang=lang,
    )


OFFER_LIMIT = 200
SHARED_OFFER = 1000
"""Classes to book read for every center at once; a center that booked so many of them that
fewer than ``OFFER_LIMIT`` are left has its own list read."""


async def offer_for(
    request: Request[Any, Any, Any],
    center_id: int,
    lang: Lang,
    today: date,
    now: datetime,
    admin_suffix: str,
) -> Markup:
    """This week's and next week's classes to book, without the center's own bookings, as
    the page's list items (the CSRF mark where the viewer's token goes). The items are
    rendered once for every center, per language, time zone and week, and shared as long as
    the schedule's shared answers (``SHAREHUB_PUBLIC_CACHE_SECONDS``; a write clears them);
    only the center's bookings are read for each request."""
    lo, hi = schedule_view.bounds(schedule_view.week_start(today, "this"), 14, lang.tz)
    macro = (
        environment()
        .get_template("center/offer.html")
        .make_module({"lang": lang, "csrf_token": CSRF_MARK, "admin_suffix": admin_suffix})
        .offer_item  # type: ignore[attr-defined]
    )

    def rendered(rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
        return [(row["id"], str(macro(row))) for row in rows]

    async def shared() -> bytes:
        rows = await schedule_view.to_book(max(lo, now), hi, SHARED_OFFER)
        return msgspec.msgpack.encode(rendered(rows))

    cache: ResponseCache = request.app.state.read_cache
    key = f"center-offer:{lang.locale}:{lang.zone_name()}:{lo.isoformat()}:{admin_suffix}"
    items = msgspec.msgpack.decode(await cache.shared(key, shared), type=list[tuple[int, str]])
    mine = await schedule_view.booked_between(center_id, max(lo, now), hi)
    kept = [html for session_id, html in items if session_id not in mine]
    if len(kept) < OFFER_LIMIT and len(items) == SHARED_OFFER:  # the shared list fell short
        rows = await schedule_view.to_book(max(lo, now), hi, SHARED_OFFER + len(mine))
        kept = [html for session_id, html in rendered(rows) if session_id not in mine]
    return Markup("".join(kept[:OFFER_LIMIT]))


@post("/center/sessions/{session_id:int}/book", guards=[center_or_admin], name="pages:book")
async def book(
    request: Request[Any, Any, Any], session_id: PathId, center: OptionalId = None
) -> Response[Any]:
    """Book a class for my center (409 page naming the class in the way when rooms are full)."""
    await form_of(request)
    place = await center_of(request, center)
    who = principal_of(request)
    assert who is not None
    await schedule.book(who, session_id, place["id"])
    return see_other("/center?ok=booked" + (f"&center={place['id']}" if who.is_admin else ""))


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
