"""Share-centers: the rural classrooms and mobile kits that join live classes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import Parameter

from hub import schedule
from hub.accounts import Principal
from hub.api.common import (
    Name,
    Page,
    PageNo,
    PathId,
    PerPage,
    ShortText,
    changes_of,
    local_iso,
    need,
)
from hub.api.sessions import SessionOut, list_out
from hub.auth import admin_only, center_or_admin
from hub.tables import Bandwidth, CenterKind, SessionStatus, ShareCenter

Rooms = Annotated[int, msgspec.Meta(ge=1, le=50)]
Region = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
TzName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class CenterIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    province: Region
    city: Region
    county: Region
    kind: CenterKind = CenterKind.fixed
    rooms: Rooms = 1
    timezone: TzName = "Asia/Shanghai"
    bandwidth: Bandwidth = Bandwidth.medium
    contact_name: ShortText = ""
    contact_phone: Annotated[str, msgspec.Meta(max_length=40)] = ""
    active: bool = True


class CenterPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    province: Region | msgspec.UnsetType = msgspec.UNSET
    city: Region | msgspec.UnsetType = msgspec.UNSET
    county: Region | msgspec.UnsetType = msgspec.UNSET
    kind: CenterKind | msgspec.UnsetType = msgspec.UNSET
    rooms: Rooms | msgspec.UnsetType = msgspec.UNSET
    timezone: TzName | msgspec.UnsetType = msgspec.UNSET
    bandwidth: Bandwidth | msgspec.UnsetType = msgspec.UNSET
    contact_name: ShortText | msgspec.UnsetType = msgspec.UNSET
    contact_phone: Annotated[str, msgspec.Meta(max_length=40)] | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class CenterOut(msgspec.Struct):
    id: int
    name: str
    province: str
    city: str
    county: str
    kind: str
    rooms: int
    timezone: str
    bandwidth: str
    active: bool
    contact_name: str | None = None
    contact_phone: str | None = None


def center_out(row: dict[str, Any], principal: Principal | None) -> CenterOut:
    private = principal is not None and (principal.is_admin or principal.center_id == row["id"])
    return CenterOut(
        id=row["id"],
        name=row["name"],
        province=row["province"],
        city=row["city"],
        county=row["county"],
        kind=row["kind"],
        rooms=row["rooms"],
        timezone=row["timezone"],
        bandwidth=row["bandwidth"],
        active=row["active"],
        contact_name=row["contact_name"] if private else None,
        contact_phone=row["contact_phone"] if private else None,
    )


async def add_center(data: CenterIn) -> int:
    """Register a share-center (the API and the administrator's page); its id."""
    schedule.zone(data.timezone, field="timezone")
    values = msgspec.structs.asdict(data)
    values["kind"] = data.kind.value
    values["bandwidth"] = data.bandwidth.value
    rows = await ShareCenter.insert(ShareCenter(**values)).run()
    return int(rows[0]["id"])


async def change_center(who: Principal, center_id: int, data: CenterPatch) -> None:
    """Change a center (the API and the administrator's page)."""
    await schedule.get_center(center_id)
    schedule.may_act_for_center(who, center_id)
    changes = changes_of(data)
    if "timezone" in changes:
        schedule.zone(changes["timezone"], field="timezone")
    if "active" in changes and not who.is_admin:
        raise schedule.Forbidden("only an administrator activates or retires a center")
    if changes:
        await ShareCenter.update(changes).where(ShareCenter.id == center_id).run()


class CenterController(Controller):
    path = "/api/v1/centers"
    tags = ["centers"]

    @get("/")
    async def list_centers(
        self,
        principal: Principal | None,
        page: PageNo = 1,
        per_page: PerPage = 50,
        province: Annotated[str | None, Parameter(max_length=50)] = None,
        city: Annotated[str | None, Parameter(max_length=50)] = None,
        county: Annotated[str | None, Parameter(max_length=50)] = None,
        kind: CenterKind | None = None,
        active: bool | None = None,
    ) -> Page[CenterOut]:
        """Share-centers, filtered by region, kind and whether active."""
        query = ShareCenter.select()
        count = ShareCenter.count()
        for column, value in (
            (ShareCenter.province, province),
            (ShareCenter.city, city),
            (ShareCenter.county, county),
            (ShareCenter.kind, kind.value if kind else None),
            (ShareCenter.active, active),
        ):
            if value is not None:
                query = query.where(column == value)
                count = count.where(column == value)
        rows = (
            await query.order_by(ShareCenter.id).limit(per_page).offset((page - 1) * per_page).run()
        )
        return Page(
            items=[center_out(r, principal) for r in rows],
            page=page,
            per_page=per_page,
            total=await count.run(),
        )

    @post("/", guards=[admin_only])
    async def create_center(self, data: CenterIn, principal: Principal | None) -> CenterOut:
        """Register a share-center (administrators)."""
        return center_out(await schedule.get_center(await add_center(data)), principal)

    @get("/{center_id:int}")
    async def get_center(self, center_id: PathId, principal: Principal | None) -> CenterOut:
        """One share-center."""
        return center_out(await schedule.get_center(center_id), principal)

    @patch("/{center_id:int}", guards=[center_or_admin])
    async def update_center(
        self, center_id: PathId, data: CenterPatch, principal: Principal | None
    ) -> CenterOut:
        """Change a center (administrators; an operator for their own center)."""
        await change_center(need(principal), center_id, data)
        return center_out(await schedule.get_center(center_id), principal)

    @get("/{center_id:int}/upcoming")
    async def upcoming(
        self, center_id: PathId, principal: Principal | None, limit: PerPage = 50
    ) -> list[SessionOut]:
        """Sessions this center has booked that have not ended, in the center's time zone."""
        who = need(principal)
        center = await schedule.get_center(center_id)
        schedule.may_act_for_center(who, center_id)
        tz = schedule.zone(center["timezone"])
        return await list_out(
            "s.ends_at > ? AND s.status <> ?",
            [center_id, datetime.now(UTC), SessionStatus.cancelled.value],
            tz,
            limit=limit,
            joins="JOIN booking b ON b.session = s.id AND b.center = ?",
        )


__all__ = ["CenterController", "local_iso"]
