"""Certificates of volunteer service (志愿服务记录证明) as PDF, and their public verification.

A certificate states the volunteer's identity (name, school, volunteer number: never a
national ID number), the period, the total hours, a table of service by month and content,
the issuing organisation with its contact (``SHAREHUB_VOLUNTEER_ISSUER``,
``SHAREHUB_VOLUNTEER_ISSUER_CONTACT``), a number, a date, and a QR code to
``/verify/{number}``: the public page that shows only the name, the period, the hours, the
issuer and whether the certificate still stands (revoked, superseded).

The PDF is made with **WeasyPrint** (HTML and CSS through Pango and HarfBuzz), not reportlab:
Debian's ``fonts-noto-cjk`` ships Noto Sans CJK as OpenType collections with CFF (PostScript)
outlines, which reportlab's ``TTFont`` cannot embed (it takes TrueType outlines only), while
WeasyPrint embeds a subset of any OpenType font, so the certificate prints the same on a
machine without Chinese fonts; it also breaks and lays out Chinese text properly, and the
certificate is a Jinja2 template like the hub's pages.

Numbers are random (``ZYFW-YYYY-XXXXXXXX``), not sequential, so that the public page cannot be
walked to list the programme's volunteers. The PDF and its figures are kept in the hub's
storage (``volunteer/certificates/{number}.pdf`` and ``.json``); re-issuing makes a new
number and marks the old certificate superseded.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import secrets
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import segno

from hub.accounts import Principal
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.impact import Period
from hub.pages.render import render_string
from hub.settings import Settings
from hub.storage import storage_for
from hub.tables import Teacher
from hub.volunteer import audit, ledger, profile
from hub.volunteer.tables import CertificateState, VolunteerCertificate

KIND_NAMES = {
    "class": "直播授课 Live classes",
    "preparation": "备课 Lesson preparation",
    "training": "培训 Training",
    "visit": "送教走访 Teaching visits",
}
SHOWN = (
    CertificateState.issued.value,
    CertificateState.superseded.value,
    CertificateState.revoked.value,
)
"""States with a PDF and a public verification page."""


def new_number(today: date) -> str:
    return f"ZYFW-{today:%Y}-{secrets.token_hex(4).upper()}"


def verify_url(settings: Settings, number: str) -> str:
    return f"{settings.public_url.rstrip('/')}/verify/{number}"


def issuer_of(settings: Settings) -> tuple[str, str]:
    return settings.volunteer_issuer or settings.programme_name, settings.volunteer_issuer_contact


def qr_data_uri(url: str) -> str:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=4, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


async def figures_of(
    teacher_id: int, start: date, end: date, settings: Settings, number: str, today: date
) -> dict[str, Any]:
    """What the certificate states, from the ledger (approved lines only)."""
    tz = ledger_zone(settings)
    found = await ledger.ledger(
        teacher_id,
        Period.of(start, end, tz),
        timedelta(minutes=max(0, settings.volunteer_grace_minutes)),
    )
    teacher = (
        await Teacher.select(Teacher.name, Teacher.school)
        .where(Teacher.id == teacher_id)
        .first()
        .run()
    )
    assert teacher is not None
    rows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for line in found.lines:
        if line.counts:
            cell = rows[(f"{line.day:%Y-%m}", line.kind)]
            cell[0] += line.seconds
            cell[1] += 1
    issuer, contact = issuer_of(settings)
    return {
        "number": number,
        "name": teacher["name"],
        "school": teacher["school"],
        "volunteer_number": (await profile.profile(teacher_id))["volunteer_number"],
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "seconds": found.seconds,
        "hours": found.hours,
        "months": [
            {
                "month": month,
                "kind": kind,
                "content": KIND_NAMES.get(kind, kind),
                "entries": count,
                "hours": round(seconds / 3600, 2),
            }
            for (month, kind), (seconds, count) in sorted(rows.items())
        ],
        "issuer": issuer,
        "issuer_contact": contact,
        "issued_on": today.isoformat(),
        "verify_url": verify_url(settings, number),
    }


def ledger_zone(settings: Settings) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(settings.timezone)


def render_pdf(figures: dict[str, Any]) -> bytes:
    """The certificate as PDF (Noto Sans CJK embedded)."""
    from weasyprint import HTML

    html = render_string(
        "reports/volunteer_certificate.html",
        {"c": figures, "qr": qr_data_uri(figures["verify_url"])},
    )
    return HTML(string=html).write_pdf()  # type: ignore[no-any-return]


def keys_of(number: str) -> tuple[str, str]:
    base = f"volunteer/certificates/{number}"
    return base + ".pdf", base + ".json"


async def make(settings: Settings, row: dict[str, Any], who: Principal) -> dict[str, Any]:
    """Compute the figures, render and store the PDF, and mark the certificate issued."""
    today = datetime.now(UTC).astimezone(ledger_zone(settings)).date()
    figures = await figures_of(
        row["teacher_id"], row["period_start"], row["period_end"], settings, row["number"], today
    )
    pdf = await asyncio.to_thread(render_pdf, figures)
    pdf_key, figures_key = keys_of(row["number"])
    store = storage_for(settings)
    await store.put_bytes(pdf_key, pdf)
    await store.put_bytes(figures_key, json.dumps(figures, ensure_ascii=False).encode())
    after = {
        "state": CertificateState.issued.value,
        "seconds": figures["seconds"],
        "figures": figures,
        "storage_key": pdf_key,
        "issued_by": who.user_id,
        "issued_at": datetime.now(UTC),
    }
    await VolunteerCertificate.update(after).where(VolunteerCertificate.id == row["id"]).run()
    await audit.append(
        who.user_id,
        "certificate.issued",
        "certificate",
        row["id"],
        row["teacher_id"],
        {"state": row["state"]},
        {k: v for k, v in after.items() if k != "figures"} | {"number": row["number"]},
    )
    return await certificate(row["id"])


async def certificate(certificate_id: int) -> dict[str, Any]:
    row = (
        await VolunteerCertificate.select()
        .where(VolunteerCertificate.id == certificate_id)
        .first()
        .output(load_json=True)
        .run()
    )
    if row is None:
        raise NotFound(f"certificate {certificate_id} not found", field="certificate_id")
    return row


async def create(
    who: Principal, settings: Settings, teacher_id: int, start: date, end: date
) -> dict[str, Any]:
    """An administrator issues a certificate; a teacher asks for one (pending approval)."""
    await ledger.teacher_exists(teacher_id)
    ledger.may_see(who, teacher_id)
    if end < start:
        raise Invalid("the period ends before it starts", field="to")
    today = datetime.now(UTC).astimezone(ledger_zone(settings)).date()
    if end > today:
        raise Invalid("a certificate covers days that have passed", field="to")
    rows = await VolunteerCertificate.insert(
        VolunteerCertificate(
            number=new_number(today),
            teacher_id=teacher_id,
            period_start=start,
            period_end=end,
            state=CertificateState.requested.value,
            requested_by=who.user_id,
        )
    ).run()
    row = await certificate(int(rows[0]["id"]))
    await audit.append(
        who.user_id,
        "certificate.request",
        "certificate",
        row["id"],
        teacher_id,
        None,
        {"number": row["number"], "period_start": start, "period_end": end},
    )
    if who.is_admin:
        return await make(settings, row, who)
    return row


async def decide(
    who: Principal, settings: Settings, certificate_id: int, approve: bool, reason: str
) -> dict[str, Any]:
    """An administrator approves (issues) or refuses a teacher's request."""
    ledger.admin_needed(who)
    row = await certificate(certificate_id)
    if row["state"] != CertificateState.requested.value:
        raise Conflict(f"certificate {certificate_id} is {row['state']}", field="state")
    if approve:
        return await make(settings, row, who)
    if not reason.strip():
        raise Invalid("say why the request is refused", field="reason")
    await change_state(who, row, CertificateState.refused, reason.strip())
    return await certificate(certificate_id)


async def change_state(
    who: Principal,
    row: dict[str, Any],
    state: CertificateState,
    reason: str,
    superseded_by: str = "",
) -> None:
    after = {"state": state.value, "reason": reason, "superseded_by": superseded_by}
    changed = await (
        VolunteerCertificate.update(after)
        .where(
            (VolunteerCertificate.id == row["id"]) & (VolunteerCertificate.state == row["state"])
        )
        .returning(VolunteerCertificate.id)
        .run()
    )
    if not changed:
        raise Conflict(f"certificate {row['id']} changed meanwhile", field="state")
    await audit.append(
        who.user_id,
        f"certificate.{state.value}",
        "certificate",
        row["id"],
        row["teacher_id"],
        {"state": row["state"]},
        after,
    )


async def revoke(who: Principal, certificate_id: int, reason: str) -> dict[str, Any]:
    ledger.admin_needed(who)
    row = await certificate(certificate_id)
    if row["state"] not in (CertificateState.issued.value, CertificateState.superseded.value):
        raise Conflict(f"certificate {certificate_id} is {row['state']}", field="state")
    if not reason.strip():
        raise Invalid("say why the certificate is revoked", field="reason")
    await change_state(who, row, CertificateState.revoked, reason.strip(), row["superseded_by"])
    return await certificate(certificate_id)


async def reissue(who: Principal, settings: Settings, certificate_id: int) -> dict[str, Any]:
    """A new certificate (new number, figures as the ledger is now) for the same teacher and
    period; the old one is marked superseded by it."""
    ledger.admin_needed(who)
    old = await certificate(certificate_id)
    if old["state"] != CertificateState.issued.value:
        raise Conflict(f"certificate {certificate_id} is {old['state']}", field="state")
    new = await create(who, settings, old["teacher_id"], old["period_start"], old["period_end"])
    await change_state(who, old, CertificateState.superseded, "", new["number"])
    return new


async def of_teacher(teacher_id: int) -> list[dict[str, Any]]:
    return list(
        await VolunteerCertificate.select()
        .where(VolunteerCertificate.teacher_id == teacher_id)
        .order_by(VolunteerCertificate.id)
        .output(load_json=True)
        .run()
    )


async def pdf(who: Principal, settings: Settings, certificate_id: int) -> tuple[str, bytes]:
    row = await certificate(certificate_id)
    ledger.may_see(who, row["teacher_id"])
    if row["state"] not in SHOWN or not row["storage_key"]:
        raise Conflict(f"certificate {certificate_id} is {row['state']}: no PDF", field="state")
    return row["number"], await storage_for(settings).get_bytes(row["storage_key"])


async def public_view(number: str) -> dict[str, Any]:
    """What ``/verify/{number}`` shows: name, period, hours, issuer, state; nothing else."""
    if len(number) > 40:
        raise NotFound("no such certificate", field="number")
    row = (
        await VolunteerCertificate.select()
        .where(VolunteerCertificate.number == number)
        .first()
        .output(load_json=True)
        .run()
    )
    if row is None or row["state"] not in SHOWN:
        raise NotFound("no such certificate", field="number")
    figures = row["figures"] or {}
    return {
        "number": row["number"],
        "name": figures.get("name", ""),
        "period_start": row["period_start"],
        "period_end": row["period_end"],
        "hours": round(int(row["seconds"]) / 3600, 2),
        "issuer": figures.get("issuer", ""),
        "issued_on": figures.get("issued_on", ""),
        "state": row["state"],
        "superseded_by": row["superseded_by"],
    }


def forbid_other(who: Principal, teacher_id: int) -> None:
    if not who.is_admin and who.teacher_id != teacher_id:
        raise Forbidden("only the teacher or an administrator", field="teacher_id")
