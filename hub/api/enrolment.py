"""A share-center's enrolment (children it serves) with its history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post

from hub import enrolment, schedule
from hub.accounts import Principal
from hub.api.common import PathId, need
from hub.auth import center_or_admin


class EnrolmentIn(msgspec.Struct, forbid_unknown_fields=True):
    children: Annotated[int, msgspec.Meta(ge=0, le=100_000)]
    """Children the center serves (enrolled, distinct), from ``effective_from`` on."""
    effective_from: date | None = None
    """The first day it holds (default: today in the center's zone)."""


class EnrolmentOut(msgspec.Struct):
    id: int
    center_id: int
    children: int
    effective_from: date
    recorded_at: datetime
    recorded_by: int | None


def _out(row: dict[str, object]) -> EnrolmentOut:
    return EnrolmentOut(
        id=int(row["id"]),  # type: ignore[call-overload]
        center_id=int(row["center"]),  # type: ignore[call-overload]
        children=int(row["children"]),  # type: ignore[call-overload]
        effective_from=row["effective_from"],  # type: ignore[arg-type]
        recorded_at=row["recorded_at"],  # type: ignore[arg-type]
        recorded_by=row["recorded_by"],  # type: ignore[arg-type]
    )


class EnrolmentController(Controller):
    path = "/api/v1/centers/{center_id:int}/enrolment"
    tags = ["centers"]
    guards = [center_or_admin]

    @get("")
    async def history(self, center_id: PathId, principal: Principal | None) -> list[EnrolmentOut]:
        """The center's enrolment records, newest first (its operator, administrators)."""
        await schedule.get_center(center_id)
        schedule.may_act_for_center(need(principal), center_id)
        return [_out(r) for r in await enrolment.history(center_id)]

    @post("", status_code=201)
    async def record(
        self, center_id: PathId, data: EnrolmentIn, principal: Principal | None
    ) -> EnrolmentOut:
        """Record how many children the center serves from a day on (the history is kept;
        "children reached" in the impact figures uses the one in effect)."""
        who = need(principal)
        center = await schedule.get_center(center_id)
        schedule.may_act_for_center(who, center_id)
        day = data.effective_from or datetime.now(schedule.zone(center["timezone"])).date()
        return _out(await enrolment.record(center_id, data.children, day, who.user_id))
