"""Course materials: files a teacher attaches to a course or to one class of it.

A material is a PDF, an image (PNG, JPEG, GIF, WebP), a slide deck or document (PPTX, DOCX)
or audio (MP3, M4A, WAV, OGG), with a title and a use: print before class or show in class.

Attaching is three steps, the same on both stores:

1. ``begin``: the teacher names the file, its size and what it is for; the hub checks the
   name (no folders, a known extension), the size against the per-file and per-course limits,
   and keeps a ``pending`` row with a fresh storage key.
2. The bytes go to the store: on S3 the browser posts them straight to the bucket with a
   presigned POST whose conditions fix the key, the content type and the largest size; on
   local storage they stream through the hub (``PUT .../content``) into a spool file, and
   past the declared size the upload is cut off.
3. ``finish``: the hub checks the stored object, its size and its type by its first bytes
   (a ``.pdf`` that is really a program is refused and deleted), and the row turns ``ready``.

Who sees what: a public course's ready materials anyone; a centers-only course's the
administrators, the course's teacher and the centers that booked one of its classes (a
class's own materials: the centers that booked that class), never anonymous viewers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hub import jobs
from hub.accounts import Principal
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.schedule import get_course, get_session
from hub.settings import Settings
from hub.storage import LocalStorage, ObjectMissing, Storage
from hub.tables import Booking, LiveSession, Material, MaterialState, Visibility

MiB = 1024 * 1024
HEAD_BYTES = 64 * 1024
"""How much of a stored file is read to tell its type."""
MATERIAL_PREVIEW = "material-preview"
"""The job kind that draws a material's preview (``hub.previews``)."""
PREVIEW_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"})


def wants_preview(content_type: str) -> bool:
    """PDFs (their first page) and images get a preview."""
    return content_type in PREVIEW_TYPES


@dataclass(frozen=True)
class FileKind:
    """What an extension promises: the content type stored and served, and whether a browser
    may show it inline (anything else is served as an attachment)."""

    content_type: str
    inline: bool


KINDS: dict[str, FileKind] = {
    ".pdf": FileKind("application/pdf", True),
    ".png": FileKind("image/png", True),
    ".jpg": FileKind("image/jpeg", True),
    ".jpeg": FileKind("image/jpeg", True),
    ".gif": FileKind("image/gif", True),
    ".webp": FileKind("image/webp", True),
    ".pptx": FileKind(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation", False
    ),
    ".docx": FileKind(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", False
    ),
    ".mp3": FileKind("audio/mpeg", True),
    ".m4a": FileKind("audio/mp4", True),
    ".wav": FileKind("audio/wav", True),
    ".ogg": FileKind("audio/ogg", True),
}
OFFICE_PARTS = {".pptx": b"ppt/", ".docx": b"word/"}


def sniff(head: bytes, extension: str) -> bool:
    """Whether the first bytes of a file are what ``extension`` says (magic numbers)."""
    if extension == ".pdf":
        return head.startswith(b"%PDF-")
    if extension == ".png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if extension in (".jpg", ".jpeg"):
        return head.startswith(b"\xff\xd8\xff")
    if extension == ".gif":
        return head[:6] in (b"GIF87a", b"GIF89a")
    if extension == ".webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if extension in OFFICE_PARTS:  # a ZIP (OOXML) holding the document's own part
        return head.startswith(b"PK\x03\x04") and OFFICE_PARTS[extension] in head
    if extension == ".mp3":
        return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] >= 0xE0)
    if extension == ".m4a":
        return head[4:8] == b"ftyp"
    if extension == ".wav":
        return head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    if extension == ".ogg":
        return head.startswith(b"OggS")
    return False


_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>:\"|?*]")


def clean_filename(name: str) -> tuple[str, str]:
    """(cleaned name, extension) of a file name a browser sends; 400 for a name with a
    folder in it, a hidden or empty name, or a type materials cannot be."""
    name = unicodedata.normalize("NFC", name).strip()
    if "/" in name or "\\" in name or name in (".", ".."):
        raise Invalid("give the file's name only, without folders", field="filename")
    name = _UNSAFE.sub("_", name)
    if not name or name.startswith("."):
        raise Invalid("the file needs a name", field="filename")
    extension = Path(name).suffix.lower()
    if extension not in KINDS:
        allowed = ", ".join(sorted(KINDS))
        raise Invalid(f"materials are {allowed} files, not {extension or 'this'}", field="filename")
    if len(name) > 200:
        stem = Path(name).stem[: 200 - len(extension)]
        name = stem + extension
    return name, extension


def content_disposition(filename: str, inline: bool) -> str:
    """A Content-Disposition header: an ASCII fallback name and RFC 6266 ``filename*`` for
    the UTF-8 one."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in filename)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def limits(settings: Settings) -> tuple[int, int]:
    """(largest file, largest course total) in bytes."""
    return settings.material_max_mb * MiB, settings.course_materials_max_mb * MiB


async def course_bytes(course_id: int) -> int:
    """Bytes the course's materials take or have been promised (pending ones count)."""
    rows = await Material.select(Material.size, Material.declared_size, Material.state).where(
        Material.course_id == course_id
    )
    return sum(r["size"] if r["state"] == MaterialState.ready else r["declared_size"] for r in rows)


async def get(material_id: int) -> dict[str, Any]:
    row = await Material.select().where(Material.id == material_id).first().run()
    if row is None:
        raise NotFound(f"material {material_id} not found", field="material_id")
    return row


async def teachable(principal: Principal, course_id: int) -> dict[str, Any]:
    """The course, when ``principal`` is its teacher or an administrator (403 otherwise)."""
    course = await get_course(course_id)
    if not (principal.is_admin or principal.teacher_id == course["teacher"]):
        raise Forbidden("only the course's teacher or an administrator attaches materials")
    return course


async def begin(
    principal: Principal,
    course_id: int,
    *,
    title: str,
    filename: str,
    size: int,
    use: str,
    session_id: int | None,
    settings: Settings,
) -> dict[str, Any]:
    """Check what the teacher is about to upload and keep a pending row for it."""
    await teachable(principal, course_id)
    name, extension = clean_filename(filename)
    if session_id is not None:
        session = await get_session(session_id)
        if session["course"] != course_id:
            raise Invalid(f"class {session_id} is not a class of this course", field="session_id")
    largest, course_cap = limits(settings)
    if size > largest:
        raise Invalid(
            f"the file is {size} bytes; a material may be at most {settings.material_max_mb} MB",
            field="size",
        )
    used = await course_bytes(course_id)
    if used + size > course_cap:
        raise Invalid(
            f"the course's materials would take {used + size} bytes; at most "
            f"{settings.course_materials_max_mb} MB in all",
            field="size",
        )
    token = secrets.token_hex(8)
    inserted = await Material.insert(
        Material(
            course_id=course_id,
            session_id=session_id,
            title=title.strip() or name,
            filename=name,
            use=use,
            content_type=KINDS[extension].content_type,
            declared_size=size,
            created_by=principal.user_id,
        )
    ).run()
    material_id = int(inserted[0]["id"])
    key = f"materials/{course_id}/{material_id}/{token}{extension}"
    await Material.update({Material.storage_key: key}).where(Material.id == material_id).run()
    return await get(material_id)


async def owned_pending(principal: Principal, material_id: int) -> dict[str, Any]:
    row = await get(material_id)
    await teachable(principal, row["course_id"])
    if row["state"] != MaterialState.pending:
        raise Conflict(f"material {material_id} is already attached", field="material_id")
    return row


async def receive(
    row: dict[str, Any], chunks: AsyncIterator[bytes], storage: Storage, spool_dir: Path
) -> int:
    """Stream an upload into a spool file (cut off past the declared size), then store it."""
    limit = int(row["declared_size"])
    await asyncio.to_thread(spool_dir.mkdir, parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=spool_dir, prefix="material-", suffix=".part")
    path = Path(name)
    try:
        written = 0
        with os.fdopen(handle, "wb") as out:
            async for chunk in chunks:
                written += len(chunk)
                if written > limit:
                    raise Invalid(
                        f"the upload is longer than the {limit} bytes announced", field="size"
                    )
                await asyncio.to_thread(out.write, chunk)
        return await storage.put_file(row["storage_key"], path)
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


async def read_head(storage: Storage, key: str) -> bytes:
    """The first ``HEAD_BYTES`` of a stored object (a ranged GET on S3)."""
    if isinstance(storage, LocalStorage):

        def first() -> bytes:
            with storage.path_for(key).open("rb") as handle:
                return handle.read(HEAD_BYTES)

        try:
            return await asyncio.to_thread(first)
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
    client = storage.reader  # type: ignore[attr-defined]

    def ranged() -> bytes:
        answer = client.get_object(
            Bucket=storage.bucket,  # type: ignore[attr-defined]
            Key=key,
            Range=f"bytes=0-{HEAD_BYTES - 1}",
        )
        return bytes(answer["Body"].read())

    return await asyncio.to_thread(ranged)


async def finish(
    principal: Principal, material_id: int, storage: Storage, settings: Settings
) -> dict[str, Any]:
    """Check the stored object (size, type by content) and attach the material; a file that
    fails a check is deleted and the answer says why (400 naming ``file``)."""
    row = await owned_pending(principal, material_id)
    key = row["storage_key"]
    size = await storage.size(key)
    if size is None:
        raise Conflict("nothing has been uploaded for this material yet", field="file")
    largest, _ = limits(settings)
    problem = ""
    if size > min(largest, int(row["declared_size"])):
        problem = f"the stored file is {size} bytes, more than the {row['declared_size']} allowed"
    elif size == 0:
        problem = "the stored file is empty"
    else:
        extension = Path(row["filename"]).suffix.lower()
        if not sniff(await read_head(storage, key), extension):
            problem = f"the file's content is not a {extension} file"
    if problem:
        with contextlib.suppress(ObjectMissing):
            await storage.delete(key)
        await Material.delete().where(Material.id == material_id).run()
        raise Invalid(problem + "; it has been refused", field="file")
    await (
        Material.update(
            {
                Material.size: size,
                Material.state: MaterialState.ready,
                Material.attached_at: datetime.now(UTC),
            }
        )
        .where(Material.id == material_id)
        .run()
    )
    if wants_preview(row["content_type"]):
        await jobs.enqueue(
            MATERIAL_PREVIEW, {"material_id": material_id}, dedupe_key=f"preview:{material_id}"
        )
    return await get(material_id)


async def remove(principal: Principal, material_id: int, storage: Storage) -> None:
    row = await get(material_id)
    await teachable(principal, row["course_id"])
    for key in (row["storage_key"], row["preview_key"]):
        if key:
            with contextlib.suppress(ObjectMissing):
                await storage.delete(key)
    await Material.delete().where(Material.id == material_id).run()


# ----------------------------------------------------------------------------- who sees what


async def booked_sessions(center_id: int, course_id: int) -> set[int]:
    rows = await Booking.select(Booking.session).where(
        (Booking.center == center_id) & (Booking.session.course == course_id)
    )
    return {int(r["session"]) for r in rows}


async def readable(
    principal: Principal | None, course: dict[str, Any]
) -> tuple[bool, set[int] | None]:
    """(sees pending ones too, the classes whose materials the caller sees: None for all)."""
    if principal is not None and (principal.is_admin or principal.teacher_id == course["teacher"]):
        return True, None
    if course["visibility"] == Visibility.public.value:
        return False, None
    if principal is None or principal.center_id is None:
        return False, set()
    return False, await booked_sessions(principal.center_id, int(course["id"]))


def may_see(row: dict[str, Any], all_states: bool, sessions: set[int] | None) -> bool:
    if row["state"] != MaterialState.ready and not all_states:
        return False
    if sessions is None:
        return True
    if row["session_id"] is None:
        return bool(sessions)
    return int(row["session_id"]) in sessions


async def of_course(
    principal: Principal | None, course_id: int, session_id: int | None = None
) -> list[dict[str, Any]]:
    """The materials of a course the caller may see (of one class: its own and the course's);
    404 when the caller may not see the course at all."""
    course = await get_course(course_id)
    all_states, sessions = await readable(principal, course)
    if sessions is not None and not sessions and principal is None:
        raise NotFound(f"course {course_id} not found", field="course_id")
    query = Material.select().where(Material.course_id == course_id)
    if session_id is not None:
        query = query.where(Material.session_id.is_null() | (Material.session_id == session_id))
    rows = await query.order_by(Material.id).run()
    if session_id is not None and sessions is not None:
        sessions = sessions & {session_id}
    return [r for r in rows if may_see(r, all_states, sessions)]


async def of_session(principal: Principal | None, session_id: int) -> list[dict[str, Any]]:
    row = await LiveSession.select(LiveSession.course).where(LiveSession.id == session_id).first()
    if row is None:
        raise NotFound(f"session {session_id} not found", field="session_id")
    try:
        return await of_course(principal, int(row["course"]), session_id)
    except NotFound:
        raise NotFound(f"session {session_id} not found", field="session_id") from None


async def readable_one(principal: Principal | None, material_id: int) -> dict[str, Any]:
    """A material the caller may download (404 otherwise: its existence is not told)."""
    row = await get(material_id)
    try:
        course = await get_course(int(row["course_id"]))
    except NotFound:
        raise NotFound(f"material {material_id} not found", field="material_id") from None
    all_states, sessions = await readable(principal, course)
    if not may_see(row, all_states, sessions) or row["state"] != MaterialState.ready:
        raise NotFound(f"material {material_id} not found", field="material_id")
    return row


# ----------------------------------------------------------------------------- the upload


@dataclass(frozen=True)
class UploadForm:
    """Where and how the browser sends a pending material's bytes."""

    method: str
    url: str
    fields: dict[str, str]


def upload_form(row: dict[str, Any], storage: Storage, settings: Settings) -> UploadForm:
    """On S3 a presigned POST straight to the bucket (its conditions fix the key, the content
    type and the size range); on local storage a PUT to the hub."""
    if isinstance(storage, LocalStorage):
        return UploadForm("PUT", f"/api/v1/materials/{row['id']}/content", {})
    client = storage.client  # type: ignore[attr-defined]
    content_type = str(row["content_type"])
    signed = client.generate_presigned_post(
        Bucket=storage.bucket,  # type: ignore[attr-defined]
        Key=row["storage_key"],
        Fields={"Content-Type": content_type},
        Conditions=[
            {"Content-Type": content_type},
            ["content-length-range", 1, int(row["declared_size"])],
        ],
        ExpiresIn=settings.material_upload_seconds,
    )
    return UploadForm("POST", str(signed["url"]), {k: str(v) for k, v in signed["fields"].items()})


def download_url(row: dict[str, Any], storage: Storage, settings: Settings) -> str | None:
    """On S3 a presigned GET that makes the store answer with the material's own type and
    Content-Disposition; None on local storage (the hub serves the file)."""
    if isinstance(storage, LocalStorage):
        return None
    extension = Path(row["filename"]).suffix.lower()
    return str(
        storage.client.generate_presigned_url(  # type: ignore[attr-defined]
            "get_object",
            Params={
                "Bucket": storage.bucket,  # type: ignore[attr-defined]
                "Key": row["storage_key"],
                "ResponseContentType": row["content_type"],
                "ResponseContentDisposition": content_disposition(
                    row["filename"], KINDS[extension].inline
                ),
            },
            ExpiresIn=settings.media_url_seconds,
        )
    )


async def ready_for_classes(classes: list[tuple[int, int]]) -> dict[int, list[dict[str, Any]]]:
    """Per class (``(session id, course id)`` pairs), its ready materials: the course's and
    its own, in the order attached (one query; for a center's booked classes)."""
    courses = {course for _, course in classes}
    found: dict[int, list[dict[str, Any]]] = {session: [] for session, _ in classes}
    if not courses:
        return found
    rows = (
        await Material.select()
        .where(Material.course_id.is_in(list(courses)) & (Material.state == MaterialState.ready))
        .order_by(Material.id)
        .run()
    )
    for session, course in classes:
        found[session] = [
            r for r in rows if r["course_id"] == course and r["session_id"] in (None, session)
        ]
    return found


async def shown_on_watch_page(principal: Principal | None, session_id: int) -> list[dict[str, Any]]:
    """The class's ready materials the viewer may see (for the watch page)."""
    try:
        rows = await of_session(principal, session_id)
    except NotFound:
        return []
    return [r for r in rows if r["state"] == MaterialState.ready]
