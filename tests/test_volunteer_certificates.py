"""Volunteer certificates: issued by an administrator or asked for by the teacher, a PDF with
Noto Sans CJK embedded whose text (pypdf) and picture (pdftoppm) say who, how many hours and
who issued it, a QR code (zbarimg) to the public verification page, which shows no more than
the name, period, hours, issuer and state, and says so when the certificate is revoked or
superseded."""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from hub import live
from hub.settings import Settings
from tests.conftest import World, hub_settings
from tests.test_volunteer_ledger import Clock, a_class_day

ISSUER = "北京共享课堂志愿服务队"
CONTACT = "北京市海淀区中关村大街1号 010-12345678"
NOVEMBER = {"teacher_id": 0, "from": "2026-11-01", "to": "2026-11-30"}

pytestmark = pytest.mark.in_process("plays the class day on the hub's stream clock")


@pytest.fixture
def settings(tmp_path: Path, database: str) -> Settings:
    return replace(
        hub_settings(tmp_path, database),
        volunteer_issuer=ISSUER,
        volunteer_issuer_contact=CONTACT,
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()
    monkeypatch.setattr(live, "clock", c)
    yield c


def picture_and_qr(folder: Path) -> tuple[Path, str]:
    """certificate.pdf as a PNG (pdftoppm), and what the QR code on it says (zbarimg)."""
    subprocess.run(
        ["pdftoppm", "-png", "-r", "110", "-singlefile", "certificate.pdf", "certificate"],
        cwd=folder,
        check=True,
    )
    png = folder / "certificate.png"
    decoded = subprocess.run(
        ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(png)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return png, decoded


def november(world: World) -> dict[str, Any]:
    return {**NOVEMBER, "teacher_id": world.ids["teacher_id"]}


async def issue(world: World, who: str = "admin") -> dict[str, Any]:
    r = await world.post("/api/v1/volunteer/certificates", november(world), who)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def pdf_of(world: World, certificate_id: int, who: str = "teacher") -> bytes:
    r = await world.get(f"/api/v1/volunteer/certificates/{certificate_id}/pdf", who)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    return bytes(r.content)


async def verify(world: World, number: str) -> str:
    r = await world.get(f"/verify/{number}")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return str(r.text)


async def test_an_issued_certificate_states_who_how_long_and_who_issued_it(
    world: World, settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    want = await a_class_day(world, settings, clock)
    hours = round(sum(s.total_seconds() for s in want.values()) / 3600, 2)
    r = await world.patch(
        f"/api/v1/volunteer/teachers/{world.ids['teacher_id']}/profile",
        {"volunteer_number": "BJHD20260001"},
        "teacher",
    )
    assert r.status_code == 200, r.text

    cert = await issue(world)
    assert cert["state"] == "issued" and cert["hours"] == hours
    assert cert["number"].startswith("ZYFW-2026-")
    assert cert["figures"]["months"] == [
        {
            "month": "2026-11",
            "kind": "class",
            "content": "直播授课 Live classes",
            "entries": len(want),
            "hours": hours,
        }
    ]
    body = await pdf_of(world, cert["id"])
    reader = PdfReader(io.BytesIO(body))
    text = "".join(page.extract_text() for page in reader.pages)
    compact = "".join(text.split())
    for expected in (
        "teacher老师",
        cert["number"],
        f"{hours:.2f}",
        ISSUER,
        "BJHD20260001",
        "2026-11",
    ):
        assert expected in compact, (expected, text)
    assert "".join(CONTACT.split()) in compact
    # Noto Sans CJK is embedded (a font file in the PDF, not a name the reader must have)
    fonts = [f.get_object() for page in reader.pages for f in page["/Resources"]["/Font"].values()]
    cjk = [f for f in fonts if "Noto-Sans-CJK" in str(f["/BaseFont"])]
    assert cjk
    for font in cjk:
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))

    # the picture, and the QR code on it decodes to the verification page
    (tmp_path / "certificate.pdf").write_bytes(body)
    png, decoded = await asyncio.to_thread(picture_and_qr, tmp_path)
    assert png.stat().st_size > 10_000
    assert decoded == f"{settings.public_url}/verify/{cert['number']}"

    # the public page: name, period, hours, issuer, valid; nothing more
    page = await verify(world, cert["number"])
    for shown in ("teacher老师", "2026-11-01", "2026-11-30", f"{hours:.2f}", ISSUER, "有效"):
        assert shown in page, shown
    for hidden in ("BJHD20260001", "北京小学", "数学直播课", CONTACT, "直播授课"):
        assert hidden not in page, hidden

    # others may not have it
    assert (
        await world.get(f"/api/v1/volunteer/certificates/{cert['id']}/pdf", "teacher2")
    ).status_code == 403
    assert (await world.get(f"/api/v1/volunteer/certificates/{cert['id']}/pdf")).status_code == 401


async def test_revoked_and_superseded_certificates_say_so(world: World, settings: Settings) -> None:
    first = await issue(world)
    again = await world.post(f"/api/v1/volunteer/certificates/{first['id']}/reissue", None, "admin")
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["number"] != first["number"] and second["state"] == "issued"
    page = await verify(world, first["number"])
    assert "已被" in page and second["number"] in page and "有效" not in page.split("<main>")[1]

    r = await world.post(
        f"/api/v1/volunteer/certificates/{second['id']}/revoke", {"reason": "时长有误"}, "admin"
    )
    assert r.status_code == 201 and r.json()["state"] == "revoked", r.text
    page = await verify(world, second["number"])
    assert "已撤销" in page
    assert "时长有误" not in page  # the reason is not public
    english = await world.client.get(
        f"/verify/{second['number']}", headers={"Accept-Language": "en"}
    )
    assert "revoked" in english.text
    assert (await world.get("/verify/ZYFW-2026-00000000")).status_code == 404
    # a revoked certificate cannot be re-issued or revoked again
    r = await world.post(f"/api/v1/volunteer/certificates/{second['id']}/reissue", None, "admin")
    assert r.status_code == 409


async def test_a_teacher_asks_for_a_certificate_and_an_administrator_decides(
    world: World, settings: Settings
) -> None:
    asked = await issue(world, "teacher")
    assert asked["state"] == "requested"
    assert (await world.get(f"/verify/{asked['number']}")).status_code == 404
    r = await world.get(f"/api/v1/volunteer/certificates/{asked['id']}/pdf", "teacher")
    assert r.status_code == 409
    # another teacher cannot ask for it, nor decide
    r = await world.post("/api/v1/volunteer/certificates", november(world), "teacher2")
    assert r.status_code == 403
    decide = f"/api/v1/volunteer/certificates/{asked['id']}/decide"
    assert (await world.post(decide, {"approve": True}, "teacher")).status_code == 403
    r = await world.post(decide, {"approve": True}, "admin")
    assert r.status_code == 201 and r.json()["state"] == "issued", r.text
    assert "有效" in await verify(world, asked["number"])
    # a second request, refused with a reason
    other = await issue(world, "teacher")
    r = await world.post(
        f"/api/v1/volunteer/certificates/{other['id']}/decide",
        {"approve": False, "reason": "本月已出具"},
        "admin",
    )
    assert r.status_code == 201 and r.json()["state"] == "refused"
    listed = await world.get(
        f"/api/v1/volunteer/teachers/{world.ids['teacher_id']}/certificates", "teacher"
    )
    assert [(c["state"], c["reason"]) for c in listed.json()] == [
        ("issued", ""),
        ("refused", "本月已出具"),
    ]
    r = await world.get(
        f"/api/v1/volunteer/teachers/{world.ids['teacher_id']}/certificates", "teacher2"
    )
    assert r.status_code == 403
    # a period that has not passed, or the wrong way round, is refused naming the field
    for period in (
        {"from": "2026-11-30", "to": "2026-11-01"},
        {"from": "2026-11-01", "to": "2099-01-01"},
    ):
        r = await world.post(
            "/api/v1/volunteer/certificates", {**november(world), **period}, "admin"
        )
        assert r.status_code == 400 and r.json()["extra"][0]["key"] == "to", r.text
