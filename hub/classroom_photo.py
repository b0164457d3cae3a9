"""A room's photo for the teacher (a worksheet, the children's answers): checked and
re-encoded on the server.

The photo is decoded by its content (never by its name or declared type), turned upright,
scaled down to ``classroom_photo_max_side`` and written again as a plain JPEG. The re-encoding
keeps pixels only: no EXIF, no GPS position, no camera data (these are children).
"""

from __future__ import annotations

import io
import secrets
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from hub.errors import DomainError, Invalid

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "MPO", "HEIF"})
MAX_PIXELS = 50_000_000
"""Decoding a larger image would take too much memory (a "decompression bomb")."""
JPEG_QUALITY = 82


class PhotoTooLarge(DomainError):
    status_code = 413


def reencode(raw: bytes, max_bytes: int, max_side: int) -> bytes:
    """A clean JPEG of ``raw``; 413 above ``max_bytes``, 400 when it is no image."""
    if not raw:
        raise Invalid("the photo is empty", field="photo")
    if len(raw) > max_bytes:
        raise PhotoTooLarge(
            f"the photo is {len(raw)} bytes; at most {max_bytes} bytes", field="photo"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
            if fmt not in ACCEPTED_FORMATS:
                raise Invalid(f"not a photo ({fmt or 'unknown'} data)", field="photo")
            if width * height > MAX_PIXELS:
                raise PhotoTooLarge(
                    f"the photo is {width}x{height} pixels; at most {MAX_PIXELS} pixels",
                    field="photo",
                )
            with Image.open(io.BytesIO(raw)) as image:
                image.load()
                upright = ImageOps.exif_transpose(image) or image
                rgb = upright.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Invalid("not an image this hub can read (JPEG, PNG, WebP)", field="photo") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Invalid(f"the image is damaged: {exc}", field="photo") from None
    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)  # no exif= argument: none kept
    return out.getvalue()


def photo_key(session_id: int) -> str:
    """Where a session's photo is kept: next to the class, not under ``sessions/`` (whose files
    follow the class's visibility); only the teacher's API serves it."""
    return f"classroom/{session_id}/{secrets.token_hex(12)}.jpg"
