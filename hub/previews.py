"""Previews of course materials, made by a worker job (``material-preview``).

A PDF's first page is drawn by ``pdftoppm`` (poppler-utils); an image is scaled down with
Pillow. Either way the preview is a PNG at most ``PREVIEW_PIXELS`` wide and high, stored next
to the material (``materials/{course}/{id}/preview.png``). Other kinds get none.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import msgspec
from PIL import Image

from hub.job_runner import JobContext, PermanentError
from hub.materials import wants_preview
from hub.storage import ObjectMissing
from hub.tables import Material, MaterialState

PREVIEW_PIXELS = 480
PDFTOPPM_SECONDS = 60


class PreviewPayload(msgspec.Struct):
    material_id: int


def thumbnail(source: Path, target: Path) -> None:
    """Scale an image down to fit ``PREVIEW_PIXELS`` square and write it as PNG."""
    with Image.open(source) as image:
        image.seek(0)
        picture = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
        picture.thumbnail((PREVIEW_PIXELS, PREVIEW_PIXELS))
        picture.save(target, "PNG", optimize=True)


async def first_page(pdf: Path, target: Path) -> None:
    """Draw a PDF's first page as PNG with pdftoppm."""
    binary = shutil.which("pdftoppm")
    if binary is None:
        raise PermanentError("pdftoppm is not installed (Debian: apt-get install poppler-utils)")
    stem = target.with_suffix("")
    process = await asyncio.create_subprocess_exec(
        binary,
        "-png",
        "-f",
        "1",
        "-l",
        "1",
        "-singlefile",
        "-scale-to",
        str(PREVIEW_PIXELS),
        str(pdf),
        str(stem),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), PDFTOPPM_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise PermanentError(f"pdftoppm took longer than {PDFTOPPM_SECONDS} s") from None
    if process.returncode != 0:
        raise PermanentError(f"pdftoppm could not draw the PDF: {err.decode(errors='replace')}")


async def make_preview(ctx: JobContext) -> None:
    payload: PreviewPayload = ctx.payload
    row = await Material.select().where(Material.id == payload.material_id).first().run()
    if row is None or row["state"] != MaterialState.ready:
        return  # removed since (or never attached): nothing to preview
    if not wants_preview(row["content_type"]):
        return
    key = row["storage_key"].rsplit("/", 1)[0] + "/preview.png"
    with tempfile.TemporaryDirectory(prefix="preview-") as folder:
        source = Path(folder) / ("source" + Path(row["storage_key"]).suffix)
        target = Path(folder) / "preview.png"
        try:
            await ctx.storage.get_file(row["storage_key"], source)
        except ObjectMissing:
            return
        if row["content_type"] == "application/pdf":
            await first_page(source, target)
        else:
            try:
                await asyncio.to_thread(thumbnail, source, target)
            except (OSError, ValueError) as exc:
                raise PermanentError(f"the image cannot be read: {exc}") from exc
        await ctx.storage.put_file(key, target)
    await Material.update({Material.preview_key: key}).where(Material.id == row["id"]).run()
