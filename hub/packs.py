"""Offline lesson packs: one share-center's week of classes, to carry where the network is poor.

A pack holds, for each class the center booked in the week (Monday to Sunday in the center's
time zone), the class's ready materials and its replay in the low rendition (one 360p MP4,
made by the worker's transcode job; audio only, one M4A, for a center of the ``low``
bandwidth class), plus ``manifest.json`` (every file's path, size and
SHA-256) and ``index.html``, a page that plays the replays and opens the materials from the
pack's own folder, with no network.

Building reads every file once, in 1 MiB chunks, to hash it: memory stays flat whatever the
pack's size, and no byte is copied (the pack's files are served from where they are stored;
only the manifest is kept, in the ``center_pack`` row). A center downloads a pack one file at
a time, each resumable with HTTP Range (``GET /api/v1/centers/{id}/packs/{week}/{path}``); the
bytes served are counted per center and week, and a monthly cap per center
(``SHAREHUB_PACK_MONTHLY_CAP_MB``) refuses downloads past it. ``sharehub pack CENTER --week W
-o DIR`` writes the same files.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hub import jobs
from hub.errors import Invalid, NotFound
from hub.settings import Settings
from hub.storage import LocalStorage, ObjectMissing, Storage
from hub.tables import (
    Bandwidth,
    Booking,
    CenterPack,
    Material,
    MaterialState,
    PackUsage,
    Recording,
    RecordingState,
    SessionStatus,
    ShareCenter,
)

BUILD_PACK = "build-pack"
CHUNK = 1024 * 1024
MiB = 1024 * 1024
MANIFEST = "manifest.json"
INDEX = "index.html"
_SAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def week_of(value: str) -> date:
    """The Monday of the week a date (``YYYY-MM-DD``) falls in; 400 naming ``week``."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Invalid("give the week as a date, YYYY-MM-DD (any day of it)", field="week") from None
    return day - timedelta(days=day.weekday())


# ------------------------------------------------------------------------------ what goes in


async def week_classes(center: dict[str, Any], week: date) -> list[dict[str, Any]]:
    """The center's booked, not cancelled classes that start in the week (its time zone)."""
    tz = ZoneInfo(center["timezone"])
    first = datetime.combine(week, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    rows = (
        await Booking.select(
            Booking.session.as_alias("session_id"),
            Booking.session.starts_at.as_alias("starts_at"),
            Booking.session.course.as_alias("course_id"),
            Booking.session.course.title.as_alias("title"),
            Booking.session.teacher.name.as_alias("teacher"),
        )
        .where(
            (Booking.center == center["id"])
            & (Booking.session.starts_at >= first)
            & (Booking.session.starts_at < first + timedelta(days=7))
            & (Booking.session.status != SessionStatus.cancelled)
        )
        .order_by(Booking.session.starts_at)
        .run()
    )
    return rows


def clean(name: str) -> str:
    return _SAFE.sub("_", name).strip() or "file"


async def pack_items(center: dict[str, Any], week: date) -> list[dict[str, Any]]:
    """Every file of the pack: its path in the pack, its storage key, what it is."""
    classes = await week_classes(center, week)
    tz = ZoneInfo(center["timezone"])
    items: list[dict[str, Any]] = []
    for c in classes:
        folder = f"classes/{c['session_id']}"
        local = c["starts_at"].astimezone(tz)
        about = {
            "session_id": c["session_id"],
            "class": c["title"],
            "teacher": c["teacher"],
            "starts": local.isoformat(),
        }
        recording = (
            await Recording.select(Recording.renditions, Recording.state)
            .where(Recording.session_id == c["session_id"])
            .first()
            .output(load_json=True)
            .run()
        )
        made = (recording or {}).get("renditions") or {}
        audio_only = center["bandwidth"] == Bandwidth.low.value and "audio_m4a" in made
        replay = made.get("audio_m4a" if audio_only else "low_mp4") or {}
        if recording and recording["state"] == RecordingState.ready and replay.get("key"):
            name = "replay-audio.m4a" if audio_only else "replay-low.mp4"
            items.append(
                {**about, "kind": "replay", "path": f"{folder}/{name}", "key": replay["key"]}
            )
        materials = (
            await Material.select()
            .where(
                (Material.course_id == c["course_id"])
                & (Material.state == MaterialState.ready)
                & (Material.session_id.is_null() | (Material.session_id == c["session_id"]))
            )
            .order_by(Material.id)
            .run()
        )
        for m in materials:
            items.append(
                {
                    **about,
                    "kind": "material",
                    "title": m["title"],
                    "use": m["use"],
                    "path": f"{folder}/materials/{m['id']}-{clean(m['filename'])}",
                    "key": m["storage_key"],
                }
            )
    return items


# -------------------------------------------------------------------------------- streaming


async def chunks(
    storage: Storage, key: str, first: int = 0, last: int | None = None
) -> AsyncIterator[bytes]:
    """The object's bytes ``first..last`` in 1 MiB chunks, read in a thread (flat memory)."""
    if isinstance(storage, LocalStorage):
        path = storage.path_for(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        try:
            await asyncio.to_thread(handle.seek, first)
            left = None if last is None else last - first + 1
            while left is None or left > 0:
                data = await asyncio.to_thread(
                    handle.read, CHUNK if left is None else min(CHUNK, left)
                )
                if not data:
                    break
                if left is not None:
                    left -= len(data)
                yield data
        finally:
            await asyncio.to_thread(handle.close)
        return
    client = storage.client  # type: ignore[attr-defined]
    wanted = f"bytes={first}-" + ("" if last is None else str(last))
    answer = await asyncio.to_thread(
        client.get_object,
        Bucket=storage.bucket,  # type: ignore[attr-defined]
        Key=key,
        Range=wanted,
    )
    body = answer["Body"]
    try:
        while data := await asyncio.to_thread(body.read, CHUNK):
            yield data
    finally:
        body.close()


async def digest(storage: Storage, key: str) -> tuple[int, str]:
    """(size, SHA-256 hex) of a stored object, read once in chunks."""
    sha = hashlib.sha256()
    size = 0
    async for data in chunks(storage, key):
        sha.update(data)
        size += len(data)
    return size, sha.hexdigest()


# ------------------------------------------------------------------------------- the build


async def get_center(center_id: int) -> dict[str, Any]:
    row = await ShareCenter.select().where(ShareCenter.id == center_id).first().run()
    if row is None:
        raise NotFound(f"share-center {center_id} not found", field="center_id")
    return row


async def build(center_id: int, week: date, storage: Storage) -> dict[str, Any]:
    """Hash the week's files and keep the manifest (the ``center_pack`` row, state ready)."""
    center = await get_center(center_id)
    files = []
    for item in await pack_items(center, week):
        try:
            size, sha = await digest(storage, item["key"])
        except ObjectMissing:
            continue  # removed since: not in the pack
        files.append({**item, "bytes": size, "sha256": sha})
    manifest = {
        "center": {"id": center["id"], "name": center["name"]},
        "week": week.isoformat(),
        "files": [{k: v for k, v in f.items() if k != "key"} for f in files],
    }
    keys = {f["path"]: f["key"] for f in files}
    total = sum(f["bytes"] for f in files)
    values = {
        CenterPack.state: "ready",
        CenterPack.manifest: manifest,
        CenterPack.keys: keys,
        CenterPack.bytes: total,
        CenterPack.files: len(files),
        CenterPack.built_at: datetime.now(UTC),
    }
    await ensure_row(center_id, week)
    await (
        CenterPack.update(values)
        .where((CenterPack.center_id == center_id) & (CenterPack.week == week.isoformat()))
        .run()
    )
    return await get_pack(center_id, week)


async def ensure_row(center_id: int, week: date) -> None:
    row = CenterPack(
        center_id=center_id, week=week.isoformat(), slot=f"{center_id}:{week}", state="queued"
    )
    await CenterPack.insert(row).on_conflict(target=CenterPack.slot, action="DO NOTHING").run()


async def request_build(center_id: int, week: date) -> dict[str, Any]:
    """Queue the build job (one per center and week at a time)."""
    await get_center(center_id)
    await ensure_row(center_id, week)
    await jobs.enqueue(
        BUILD_PACK,
        {"center_id": center_id, "week": week.isoformat()},
        dedupe_key=f"pack:{center_id}:{week.isoformat()}",
        reopen=(jobs.JobState.succeeded, jobs.JobState.failed),
    )
    return await get_pack(center_id, week)


async def get_pack(center_id: int, week: date) -> dict[str, Any]:
    row = (
        await CenterPack.select()
        .where((CenterPack.center_id == center_id) & (CenterPack.week == week.isoformat()))
        .first()
        .output(load_json=True)
        .run()
    )
    if row is None:
        raise NotFound(f"no pack of week {week} for center {center_id}", field="week")
    return row


async def packs_of(center_id: int) -> list[dict[str, Any]]:
    return (
        await CenterPack.select(
            CenterPack.week,
            CenterPack.state,
            CenterPack.bytes,
            CenterPack.files,
            CenterPack.built_at,
        )
        .where(CenterPack.center_id == center_id)
        .order_by(CenterPack.week, ascending=False)
        .run()
    )


async def queue_due(settings: Settings, now: datetime) -> list[tuple[int, str]]:
    """On the scheduled weekday (``SHAREHUB_PACK_BUILD_WEEKDAY``, 1 = Monday ... 7, 0 = off),
    queue next week's pack for each center with a booking then (once per center and week)."""
    if settings.pack_build_weekday == 0:
        return []
    queued = []
    for center in await ShareCenter.select().where(ShareCenter.active == True).run():  # noqa: E712
        local = now.astimezone(ZoneInfo(center["timezone"]))
        if local.isoweekday() != settings.pack_build_weekday:
            continue
        week = local.date() - timedelta(days=local.weekday()) + timedelta(days=7)
        if not await week_classes(center, week):
            continue
        if await CenterPack.exists().where(
            (CenterPack.center_id == center["id"]) & (CenterPack.week == week.isoformat())
        ):
            continue
        await request_build(center["id"], week)
        queued.append((center["id"], week.isoformat()))
    return queued


# ----------------------------------------------------------------------------- the files


def manifest_bytes(pack: dict[str, Any]) -> bytes:
    return json.dumps(pack["manifest"], ensure_ascii=False, indent=2, sort_keys=True).encode()


def index_html(pack: dict[str, Any]) -> bytes:
    """The pack's own page: plays each class's replay and opens its materials, all by
    relative paths (it works opened from the folder, with no network)."""
    manifest = pack["manifest"]
    classes: dict[int, list[dict[str, Any]]] = {}
    for f in manifest["files"]:
        classes.setdefault(f["session_id"], []).append(f)
    parts = [
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(manifest['center']['name'])} · {manifest['week']}</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:auto;padding:1em}"
        "video{width:100%;max-width:640px;background:#000}li{margin:.3em 0}</style>",
        "</head><body>",
        f"<h1>{html.escape(manifest['center']['name'])}</h1>",
        f"<p>离线课程包 · {manifest['week']} 起一周</p>",
    ]
    for files in classes.values():
        first = files[0]
        parts.append(
            f"<section><h2>{html.escape(first['class'])}</h2>"
            f"<p>{html.escape(first['starts'][:16].replace('T', ' '))} · "
            f"{html.escape(first['teacher'] or '')}</p>"
        )
        for f in files:
            if f["kind"] == "replay":
                tag = "audio" if f["path"].endswith(".m4a") else "video"
                parts.append(
                    f'<{tag} controls preload="metadata" src="{html.escape(f["path"])}"></{tag}>'
                )
        listed = [f for f in files if f["kind"] == "material"]
        if listed:
            parts.append("<ul>")
            for f in listed:
                use = "课前打印" if f["use"] == "print" else "课上展示"
                parts.append(
                    f'<li><a href="{html.escape(f["path"])}">{html.escape(f["title"])}</a> '
                    f"({use}, {f['bytes'] / MiB:.1f} MB)</li>"
                )
            parts.append("</ul>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts).encode()


def own_files(pack: dict[str, Any]) -> dict[str, bytes]:
    return {MANIFEST: manifest_bytes(pack), INDEX: index_html(pack)}


async def write_pack(pack: dict[str, Any], storage: Storage, folder: Path) -> int:
    """Write the pack's files into ``folder`` (streamed; each checked against the manifest)."""
    written = 0
    for name, data in own_files(pack).items():
        await asyncio.to_thread((folder / name).parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread((folder / name).write_bytes, data)
        written += len(data)
    for f in pack["manifest"]["files"]:
        target = folder / f["path"]
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        sha = hashlib.sha256()
        handle = await asyncio.to_thread(target.open, "wb")
        try:
            async for data in chunks(storage, pack["keys"][f["path"]]):
                sha.update(data)
                await asyncio.to_thread(handle.write, data)
                written += len(data)
        finally:
            await asyncio.to_thread(handle.close)
        if sha.hexdigest() != f["sha256"]:
            raise Invalid(
                f"{f['path']} changed since the pack was built: build it again", field="week"
            )
    return written


# ------------------------------------------------------------------------- bytes served


async def served_this_month(center_id: int, month: str) -> int:
    rows = await PackUsage.select(PackUsage.bytes).where(
        (PackUsage.center_id == center_id) & (PackUsage.month == month)
    )
    return sum(int(r["bytes"]) for r in rows)


async def count_served(center_id: int, week: date, size: int, now: datetime) -> None:
    """Add ``size`` bytes to the center's tally for the pack's week and this month."""
    month = now.strftime("%Y-%m")
    slot = f"{center_id}:{week}:{month}"
    row = PackUsage(center_id=center_id, week=week.isoformat(), month=month, slot=slot, bytes=0)
    await PackUsage.insert(row).on_conflict(target=PackUsage.slot, action="DO NOTHING").run()
    await (
        PackUsage.update({PackUsage.bytes: PackUsage.bytes + size})
        .where(PackUsage.slot == slot)
        .run()
    )


async def usage(month: str | None = None) -> list[dict[str, Any]]:
    query = PackUsage.select(
        PackUsage.center_id, PackUsage.week, PackUsage.month, PackUsage.bytes
    ).order_by(PackUsage.week)
    if month:
        query = query.where(PackUsage.month == month)
    return await query.run()
