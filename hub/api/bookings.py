"""Bookings and attendance: a center books a session, checks in with its children, checks out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post
from litestar.params import Parameter

from hub import schedule
from hub.accounts import Principal
from hub.api.common import PageNo, PathId, PerPage, need
from hub.auth import center_or_admin, signed_in
from hub.errors import Forbidden
from hub.tables import Booking

Id = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class BookingIn(msgspec.Struct, forbid_unknown_fields=True):
    center_id: Id


class CheckIn(msgspec.Struct, forbid_unknown_fields=True):
    children: Annotated[int, msgspec.Meta(ge=0, le=2000)]
    key: Annotated[str, msgspec.Meta(min_length=8, max_length=64)] | None = None


class BookingOut(msgspec.Struct):
    id: int
    session_id: int
    center_id: int
    created_at: datetime
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    children_present: int | None


def booking_out(r: dict[str, Any]) -> BookingOut:
    return BookingOut(
        id=r["id"],
        session_id=r["session"],
        center_id=r["center"],
        created_at=r["created_at"],
        checked_in_at=r["checked_in_at"],
        checked_out_at=r["checked_out_at"],
        children_present=r["children_present"],
    )


class BookingController(Controller):
    path = "/api/v1"
    tags = ["bookings"]

    @post("/sessions/{session_id:int}/bookings", guards=[center_or_admin])
    async def book(
        self, session_id: PathId, data: BookingIn, principal: Principal | None
    ) -> BookingOut:
        """Book a session for a center; 409 when the center's rooms are all taken then."""
        booking_id = await schedule.book(need(principal), session_id, data.center_id)
        return booking_out(await schedule.get_booking(booking_id))

    @get("/sessions/{session_id:int}/bookings", guards=[signed_in])
    async def session_bookings(
        self, session_id: PathId, principal: Principal | None
    ) -> list[BookingOut]:
        """Who booked a session (its teacher, administrators; a center sees its own)."""
        who = need(principal)
        session = await schedule.get_session(session_id)
        query = Booking.select().where(Booking.session == session_id)
        if not (who.is_admin or who.teacher_id == session["teacher"]):
            if who.center_id is None:
                raise Forbidden("only the teacher, administrators and centers see bookings")
            query = query.where(Booking.center == who.center_id)
        return [booking_out(r) for r in await query.order_by(Booking.id).run()]

    @get("/bookings", guards=[signed_in])
    async def list_bookings(
        self,
        principal: Principal | None,
        center_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
        page: PageNo = 1,
        per_page: PerPage = 50,
    ) -> list[BookingOut]:
        """Bookings of a center (an operator sees only their own center's)."""
        who = need(principal)
        if not who.is_admin:
            if who.center_id is None:
                raise Forbidden("only centers and administrators list bookings")
            center_id = who.center_id
        query = Booking.select()
        if center_id:
            query = query.where(Booking.center == center_id)
        rows = await query.order_by(Booking.id).limit(per_page).offset((page - 1) * per_page).run()
        return [booking_out(r) for r in rows]

    @delete("/bookings/{booking_id:int}", guards=[center_or_admin], status_code=204)
    async def unbook(self, booking_id: PathId, principal: Principal | None) -> None:
        """Cancel a booking (not once the center has checked in)."""
        await schedule.unbook(need(principal), booking_id)

    @post("/bookings/{booking_id:int}/check-in", guards=[center_or_admin], status_code=200)
    async def check_in(
        self, booking_id: PathId, data: CheckIn, principal: Principal | None
    ) -> BookingOut:
        """Check in with the number of children in the room; the same key twice counts once."""
        row = await schedule.check_in(need(principal), booking_id, data.children, data.key)
        return booking_out(row)

    @post("/bookings/{booking_id:int}/check-out", guards=[center_or_admin], status_code=200)
    async def check_out(self, booking_id: PathId, principal: Principal | None) -> BookingOut:
        """Check out when the class is over."""
        return booking_out(await schedule.check_out(need(principal), booking_id))
