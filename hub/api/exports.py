"""Administrators' exports: attendance and view statistics as CSV (streamed) or XLSX.

A small XLSX is written at once; a large one (over ``LARGE_XLSX_ROWS`` rows) is made by the
worker: ``POST /api/v1/exports`` queues it, ``GET /api/v1/exports/files/{id}`` shows its
progress and, when done, the download link.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import Parameter
from litestar.response import Stream

from hub import exports
from hub.accounts import Principal
from hub.api.common import PathId, need
from hub.api.impact import FromParam, ToParam, period_of
from hub.auth import admin_only
from hub.errors import Conflict, NotFound
from hub.exports import CONTENT_TYPES, Dataset, ExportOut, Filters, Format
from hub.impact import Period
from hub.schedule import zone
from hub.settings import Settings
from hub.storage import storage_for

CHUNK = 256 * 1024
IdParam = Annotated[int | None, Parameter(ge=1, le=2**31 - 1)]
ProvinceParam = Annotated[str | None, Parameter(max_length=50, description="province name")]
NameParam = Annotated[
    str,
    Parameter(
        description="attendance, views or lessons (the lesson delivery record) .csv or .xlsx"
    ),
]
PositiveId = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class ExportIn(msgspec.Struct, forbid_unknown_fields=True, rename={"date_from": "from"}):
    dataset: Dataset
    format: Format = Format.xlsx
    date_from: date | None = None
    to: date | None = None
    province: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    center_id: PositiveId | None = None
    teacher_id: PositiveId | None = None
    tz: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    """IANA time zone of the days and of the times in the file (default: the hub's)."""


ExportTzParam = Annotated[
    str | None,
    Parameter(
        max_length=64,
        description="IANA time zone of the days and times in the file (default: the hub's); "
        "an unknown zone is a 400",
    ),
]


def _filters(
    settings: Settings,
    date_from: str | None,
    date_to: str | None,
    province: str | None,
    center_id: int | None,
    teacher_id: int | None,
    tz: str | None = None,
) -> Filters:
    return Filters(
        period=period_of(date_from, date_to, settings, tz),
        province=province or None,
        center_id=center_id,
        teacher_id=teacher_id,
    )


def _parse(name: str) -> tuple[Dataset, Format]:
    dataset, _, fmt = name.partition(".")
    try:
        return Dataset(dataset), Format(fmt)
    except ValueError:
        raise NotFound(
            f"no export {name!r}: attendance, views or lessons, .csv or .xlsx",
            field="name",
        ) from None


async def _xlsx_chunks(
    dataset: Dataset, filters: Filters, settings: Settings
) -> AsyncIterator[bytes]:
    async with exports.temporary_xlsx(dataset, filters, settings.data_dir / "tmp") as path:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


class ExportController(Controller):
    path = "/api/v1/exports"
    tags = ["exports"]
    guards = [admin_only]

    @get("/{name:str}")
    async def export(
        self,
        name: NameParam,
        settings: Settings,
        date_from: FromParam = None,
        date_to: ToParam = None,
        province: ProvinceParam = None,
        center_id: IdParam = None,
        teacher_id: IdParam = None,
        tz: ExportTzParam = None,
    ) -> Stream:
        """``attendance`` (one row per center per session) or ``views`` (per session per day)
        as ``csv`` (UTF-8 with BOM, streamed) or ``xlsx``; filtered by days (``from``, ``to``),
        ``province``, ``center_id``, ``teacher_id``. An XLSX of more than 50,000 rows is
        made in the background instead (409 says so: use ``POST /api/v1/exports``)."""
        dataset, fmt = _parse(name)
        filters = _filters(settings, date_from, date_to, province, center_id, teacher_id, tz)
        if fmt is Format.csv:
            body: AsyncIterator[bytes] = exports.csv_stream(dataset, filters)
        else:
            rows = await exports.count_rows(dataset, filters)
            if rows > exports.LARGE_XLSX_ROWS:
                raise Conflict(
                    f"{rows} rows: an XLSX this large is made in the background; "
                    "POST /api/v1/exports, or download the CSV",
                    field="format",
                    rows=rows,
                )
            body = _xlsx_chunks(dataset, filters, settings)
        return Stream(
            body,
            media_type=CONTENT_TYPES[fmt],
            headers=_attachment(exports.filename(dataset, filters, fmt)),
        )

    @post("", status_code=202)
    async def start(
        self, data: ExportIn, settings: Settings, principal: Principal | None
    ) -> ExportOut:
        """Queue an export for the worker (any size); follow it at ``files/{id}``."""
        period = Period.of(data.date_from, data.to, zone(data.tz or settings.timezone, "tz"))
        filters = Filters(period, data.province or None, data.center_id, data.teacher_id)
        return await exports.start_export(
            data.dataset, data.format, filters, user_id=need(principal).user_id
        )

    @get("/files/{export_id:int}")
    async def progress(self, export_id: PathId) -> ExportOut:
        """A background export: state, rows written of rows in all, the link when done."""
        return await exports.get_export(export_id)

    @get("/files/{export_id:int}/download")
    async def download(self, export_id: PathId, settings: Settings) -> Response[bytes]:
        """The finished file of a background export."""
        export = await exports.get_export(export_id)
        if export.state != "done":
            raise Conflict(f"export {export_id} is {export.state}", field="export_id")
        row = await exports.export_row(export_id)
        body = await storage_for(settings).get_bytes(row["storage_key"])
        return Response(
            body,
            media_type=CONTENT_TYPES[Format(export.format)],
            headers=_attachment(row["storage_key"].rsplit("/", 1)[-1]),
        )
