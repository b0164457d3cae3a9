"""Course materials over HTTP: attach (ask for an upload, send the bytes, finish), list,
download, remove. See ``hub.materials`` for the checks and who sees what."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.response import File, Redirect

from hub import materials
from hub.accounts import Principal
from hub.api.common import PathId, PositiveId, need
from hub.auth import teacher_or_admin
from hub.errors import Conflict, NotFound
from hub.settings import Settings
from hub.storage import LocalStorage, ObjectMissing, Storage
from hub.tables import MaterialUse

Title = Annotated[str, msgspec.Meta(max_length=200)]
FileName = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Size = Annotated[int, msgspec.Meta(ge=1, le=2**53)]


class MaterialIn(msgspec.Struct, forbid_unknown_fields=True):
    filename: FileName
    size: Size
    title: Title = ""
    use: MaterialUse = MaterialUse.show
    session_id: PositiveId | None = None


class MaterialOut(msgspec.Struct):
    id: int
    course_id: int
    session_id: int | None
    title: str
    filename: str
    use: str
    content_type: str
    size: int
    state: str
    attached_at: datetime | None
    download_url: str
    preview_url: str | None


class UploadOut(msgspec.Struct):
    method: str
    url: str
    fields: dict[str, str]


class MaterialUpload(msgspec.Struct):
    material: MaterialOut
    upload: UploadOut


def material_out(row: dict[str, Any]) -> MaterialOut:
    return MaterialOut(
        id=row["id"],
        course_id=row["course_id"],
        session_id=row["session_id"],
        title=row["title"],
        filename=row["filename"],
        use=row["use"],
        content_type=row["content_type"],
        size=row["size"] or row["declared_size"],
        state=row["state"],
        attached_at=row["attached_at"],
        download_url=f"/api/v1/materials/{row['id']}/file",
        preview_url=f"/api/v1/materials/{row['id']}/preview" if row["preview_key"] else None,
    )


def store_of(request: Request[Any, Any, Any]) -> Storage:
    return request.app.state["storage"]  # type: ignore[no-any-return]


class MaterialController(Controller):
    path = "/api/v1"
    tags = ["materials"]

    @post("/courses/{course_id:int}/materials", guards=[teacher_or_admin], status_code=201)
    async def attach(
        self,
        request: Request[Any, Any, Any],
        course_id: PathId,
        data: MaterialIn,
        settings: Settings,
        principal: Principal | None,
    ) -> MaterialUpload:
        """Start attaching a file to a course (or one class of it): the answer says where to
        send the bytes (a presigned POST to the bucket on S3, a PUT to the hub otherwise)."""
        row = await materials.begin(
            need(principal),
            course_id,
            title=data.title,
            filename=data.filename,
            size=data.size,
            use=data.use.value,
            session_id=data.session_id,
            settings=settings,
        )
        form = materials.upload_form(row, store_of(request), settings)
        return MaterialUpload(material_out(row), UploadOut(form.method, form.url, form.fields))

    @put(
        "/materials/{material_id:int}/content",
        guards=[teacher_or_admin],
        status_code=204,
        request_max_body_size=None,  # cut off at the size announced (hub.materials.receive)
    )
    async def content(
        self,
        request: Request[Any, Any, Any],
        material_id: PathId,
        settings: Settings,
        principal: Principal | None,
    ) -> None:
        """The bytes of a pending material, streamed through the hub (local storage only)."""
        row = await materials.owned_pending(need(principal), material_id)
        storage = store_of(request)
        if not isinstance(storage, LocalStorage):
            raise Conflict("on S3, send the file with the presigned POST", field="material_id")
        await materials.receive(
            row, request.stream(), storage, Path(settings.data_dir) / "spool" / "materials"
        )

    @post("/materials/{material_id:int}/complete", guards=[teacher_or_admin], status_code=200)
    async def complete(
        self,
        request: Request[Any, Any, Any],
        material_id: PathId,
        settings: Settings,
        principal: Principal | None,
    ) -> MaterialOut:
        """Check the stored file (size, type by its content) and attach it."""
        row = await materials.finish(need(principal), material_id, store_of(request), settings)
        return material_out(row)

    @delete("/materials/{material_id:int}", guards=[teacher_or_admin], status_code=204)
    async def remove(
        self, request: Request[Any, Any, Any], material_id: PathId, principal: Principal | None
    ) -> None:
        """Remove a material and its file (the course's teacher, administrators)."""
        await materials.remove(need(principal), material_id, store_of(request))

    @get("/courses/{course_id:int}/materials")
    async def of_course(self, course_id: PathId, principal: Principal | None) -> list[MaterialOut]:
        """A course's materials the caller may see (centers-only courses: not anonymously)."""
        return [material_out(r) for r in await materials.of_course(principal, course_id)]

    @get("/sessions/{session_id:int}/materials")
    async def of_session(
        self, session_id: PathId, principal: Principal | None
    ) -> list[MaterialOut]:
        """A class's materials: the course's and the class's own that the caller may see."""
        return [material_out(r) for r in await materials.of_session(principal, session_id)]

    @get("/materials/{material_id:int}/file")
    async def file(
        self,
        request: Request[Any, Any, Any],
        material_id: PathId,
        settings: Settings,
        principal: Principal | None,
    ) -> Response[Any]:
        """Download a material: from the bucket (a short-lived link) or from the hub. Only
        PDFs, images and audio are shown inline; the rest are attachments."""
        row = await materials.readable_one(principal, material_id)
        storage = store_of(request)
        private = "private, max-age=300"
        url = materials.download_url(row, storage, settings)
        if url is not None:
            return Redirect(url, status_code=302, headers={"Cache-Control": "no-store"})
        assert isinstance(storage, LocalStorage)
        kind = materials.KINDS[Path(row["filename"]).suffix.lower()]
        return File(
            storage.path_for(row["storage_key"]),
            media_type=row["content_type"],
            headers={
                "content-disposition": materials.content_disposition(row["filename"], kind.inline),
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": private,
            },
        )

    @get("/materials/{material_id:int}/preview")
    async def preview(
        self, request: Request[Any, Any, Any], material_id: PathId, principal: Principal | None
    ) -> Response[bytes]:
        """A PDF's first page or an image, small (PNG), once the worker has drawn it."""
        row = await materials.readable_one(principal, material_id)
        if not row["preview_key"]:
            raise NotFound(f"material {material_id} has no preview (yet)", field="material_id")
        try:
            data = await store_of(request).get_bytes(row["preview_key"])
        except ObjectMissing:
            raise NotFound(f"material {material_id} has no preview", field="material_id") from None
        return Response(
            data,
            media_type="image/png",
            headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )
