"""Offline lesson packs over HTTP: list a center's packs, ask for one to be built, download its
files one at a time (resumable with Range), and the administrators' tally of bytes served.
See ``hub.packs``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import PurePosixPath
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Stream

from hub import packs
from hub.accounts import Principal
from hub.api.common import PathId, need
from hub.api.media_files import _byte_range
from hub.auth import admin_only, center_or_admin
from hub.errors import DomainError, NotFound
from hub.materials import content_disposition
from hub.schedule import may_act_for_center
from hub.settings import Settings
from hub.storage import Storage, content_type_for

Week = Annotated[str, msgspec.Meta(min_length=10, max_length=10, description="YYYY-MM-DD")]
MiB = 1024 * 1024


class OverCap(DomainError):
    status_code = 429


class PackIn(msgspec.Struct, forbid_unknown_fields=True):
    week: Week
    """Any day of the week (Monday to Sunday, the center's time zone)."""


class PackOut(msgspec.Struct):
    center_id: int
    week: str
    state: str
    bytes: int
    files: int
    built_at: datetime | None
    index_url: str
    manifest_url: str


class UsageOut(msgspec.Struct):
    center_id: int
    week: str
    month: str
    bytes: int


def pack_out(center_id: int, row: dict[str, Any]) -> PackOut:
    base = f"/api/v1/centers/{center_id}/packs/{row['week']}"
    return PackOut(
        center_id=center_id,
        week=row["week"],
        state=row["state"],
        bytes=int(row["bytes"] or 0),
        files=int(row["files"] or 0),
        built_at=row["built_at"],
        index_url=f"{base}/{packs.INDEX}",
        manifest_url=f"{base}/{packs.MANIFEST}",
    )


class PackController(Controller):
    path = "/api/v1"
    tags = ["packs"]

    @get("/centers/{center_id:int}/packs", guards=[center_or_admin])
    async def list_packs(self, center_id: PathId, principal: Principal | None) -> list[PackOut]:
        """The center's lesson packs, newest week first, with their sizes."""
        may_act_for_center(need(principal), center_id)
        return [pack_out(center_id, r) for r in await packs.packs_of(center_id)]

    @post("/centers/{center_id:int}/packs", guards=[center_or_admin], status_code=202)
    async def request(
        self, center_id: PathId, data: PackIn, principal: Principal | None
    ) -> PackOut:
        """Build (or build again) the center's pack of a week: a worker job."""
        await packs.get_center(center_id)  # 404 for a center that does not exist
        may_act_for_center(need(principal), center_id)
        row = await packs.request_build(center_id, packs.week_of(data.week))
        return pack_out(center_id, row)

    @get("/centers/{center_id:int}/packs/{week:str}/{path:path}", guards=[center_or_admin])
    async def pack_file(
        self,
        request: Request[Any, Any, Any],
        center_id: PathId,
        week: str,
        path: str,
        settings: Settings,
        principal: Principal | None,
    ) -> Response[Any]:
        """One file of a pack (``index.html``, ``manifest.json`` or a listed file); a cut
        download resumes with ``Range``. Counted toward the center's monthly cap."""
        may_act_for_center(need(principal), center_id)
        monday = packs.week_of(week)
        pack = await packs.get_pack(center_id, monday)
        if pack["state"] != "ready":
            raise NotFound(f"the pack of week {monday} is not built yet", field="week")
        path = path.lstrip("/")
        own = packs.own_files(pack)
        listed = {f["path"]: f for f in pack["manifest"]["files"]}
        if path in own:
            size = len(own[path])
        elif path in listed:
            size = int(listed[path]["bytes"])
        else:
            raise NotFound(f"no file {path!r} in the pack", field="path")
        now = datetime.now(UTC)
        cap = settings.pack_monthly_cap_mb * MiB
        if cap and await packs.served_this_month(center_id, now.strftime("%Y-%m")) >= cap:
            raise OverCap(
                f"this center has downloaded its {settings.pack_monthly_cap_mb} MB of lesson "
                "packs for this month",
                field="center_id",
            )
        first, last, status = 0, size - 1, 200
        wanted = request.headers.get("range")
        if wanted:
            span = _byte_range(wanted, size)
            if span is None:
                return Response(b"", status_code=416, headers={"Content-Range": f"bytes */{size}"})
            first, last = span
            status = 206
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Length": str(last - first + 1),
            "Cache-Control": "private, no-transform",
        }
        if status == 206:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        if path not in own:
            headers["Content-Disposition"] = content_disposition(
                PurePosixPath(path).name, inline=path.endswith((".mp4", ".m4a"))
            )
        storage: Storage = request.app.state["storage"]
        if path in own:
            body = own[path][first : last + 1]
            await packs.count_served(center_id, monday, len(body), now)
            media = "text/html; charset=utf-8" if path == packs.INDEX else "application/json"
            return Response(body, status_code=status, media_type=media, headers=headers)
        stream = counted(
            packs.chunks(storage, pack["keys"][path], first, last), center_id, monday, now
        )
        return Stream(
            stream, status_code=status, media_type=content_type_for(path), headers=headers
        )

    @get("/packs/usage", guards=[admin_only])
    async def usage(
        self,
        month: Annotated[
            str | None, Parameter(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")
        ] = None,
    ) -> list[UsageOut]:
        """Bytes of lesson packs served, per center, week of pack and month of serving."""
        return [
            UsageOut(r["center_id"], r["week"], r["month"], int(r["bytes"]))
            for r in await packs.usage(month)
        ]


async def counted(
    chunks: AsyncIterator[bytes], center_id: int, week: date, now: datetime
) -> AsyncIterator[bytes]:
    """The chunks, adding what was sent to the center's tally when the response ends (or the
    download is cut off)."""
    sent = 0
    try:
        async for data in chunks:
            sent += len(data)
            yield data
    finally:
        await packs.count_served(center_id, week, sent, now)
