"""Small real files of the kinds a teacher attaches (made here, no fixtures on disk)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Any

import httpx


def pdf(text: str = "Lesson 1") -> bytes:
    """A one-page PDF that poppler and browsers open (offsets computed, not guessed)."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def png(width: int = 64, height: int = 48) -> bytes:
    """A real RGB PNG (a gradient)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 128)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def docx() -> bytes:
    """A minimal Word document (OOXML zip)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def exe() -> bytes:
    """The start of a Windows program (MZ header), as a file pretending to be a PDF would be."""
    return b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56 + b"This program cannot be run in DOS mode"


async def attach(world: Any, course_id: int, data: bytes, filename: str, who: str) -> Any:
    """Attach a file as a teacher would, on either store: ask, send the bytes (a PUT to the
    hub, or the presigned POST to the bucket), finish. Returns the finishing answer."""
    r = await world.post(
        f"/api/v1/courses/{course_id}/materials",
        {"filename": filename, "size": len(data), "title": filename},
        who,
    )
    assert r.status_code == 201, r.text
    upload = r.json()["upload"]
    if upload["method"] == "PUT":
        sent = await world.client.put(upload["url"], content=data, headers=world.auth(who))
    else:
        fields = dict(upload["fields"])
        async with httpx.AsyncClient() as browser:
            sent = await browser.post(
                upload["url"], data=fields, files={"file": (filename, data, fields["Content-Type"])}
            )
    assert sent.status_code < 300, sent.text
    material_id = r.json()["material"]["id"]
    return await world.post(f"/api/v1/materials/{material_id}/complete", None, who)
