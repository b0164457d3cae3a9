"""Notifications, in the order people meet them: a center books, the teacher cancels or the
class comes near, and each person concerned hears of it once, in their inbox and on the
channels they set up (e-mail through a local SMTP server, group robots through a stand-in
HTTP server that checks DingTalk's signature); quiet hours hold a message until they end."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.job_runner import Runner
from hub.notify import outbox
from hub.notify.tables import Notification
from hub.settings import Settings
from hub.tables import Job, LiveSession
from plugins.notify.bots import dingtalk_sign
from tests.conftest import World, app_plugins, app_settings, hub_settings
from tests.netutil import free_port

DING_SECRET = "SEC0123456789abcdef0123456789abcdef"
VAPID = ec.generate_private_key(ec.SECP256R1())
VAPID_KEY = (
    base64.urlsafe_b64encode(VAPID.private_numbers().private_value.to_bytes(32, "big"))
    .decode()
    .rstrip("=")
)
SMTP_PORT = free_port()


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the SMTP server's; the client trusts it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class Mailbox:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=email_policy.default))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mailbox, Path]]:
    """A local SMTP server that insists on STARTTLS, with its certificate."""
    cert_file, key_file = _certificate(tmp_path_factory.mktemp("smtp"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    box = Mailbox()
    controller = Controller(
        box, hostname="127.0.0.1", port=SMTP_PORT, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        yield box, cert_file
    finally:
        controller.stop()


class Robots(BaseHTTPRequestHandler):
    """Stand-in for both vendors' robot endpoints; DingTalk posts must carry a valid sign."""

    received: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        if parts.path.startswith("/push/"):  # a push service: keeps the encrypted body
            Robots.received.append((parts.path, {"raw": raw, "headers": dict(self.headers)}))
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.loads(raw)
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if parts.path == "/robot/send":
            query = parse_qs(parts.query)
            timestamp = query.get("timestamp", [""])[0]
            mac = hmac.new(
                DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256
            )
            fresh = (
                timestamp.isdigit()
                and abs(int(timestamp) / 1000 - dt.datetime.now().timestamp()) < 3600
            )
            # parse_qs decoded the URL-encoding once: what is left is the Base64 signature
            if not fresh or query.get("sign", [""])[0] != base64.b64encode(mac.digest()).decode():
                answer = {"errcode": 310000, "errmsg": "sign not match"}
        if answer["errcode"] == 0:
            Robots.received.append((parts.path, body))
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def robots() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Robots)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture
def settings(tmp_path: Path, database: str, smtp: tuple[Mailbox, Path]) -> Settings:
    """The hub with e-mail set up against the local server; loopback robots allowed."""
    return dataclasses.replace(
        hub_settings(tmp_path, database),
        pull_allow="127.0.0.1",
        plugin_options={
            "webpush": {"vapid_private_key": VAPID_KEY, "vapid_subject": "mailto:hub@example.org"},
            "email": {
                "host": "127.0.0.1",
                "port": str(SMTP_PORT),
                "security": "starttls",
                "sender": "hub@sharehub.example",
                "ca_file": str(smtp[1]),
            },
        },
    )


async def run_jobs(world: World, *kinds: str) -> None:
    """The worker, until no job is left (the kinds named, and the periodic ones)."""
    chosen = list(kinds) or [outbox.NOTIFY_EVENT, outbox.NOTIFY_SEND]
    runner = Runner(
        app_settings(world),
        app_plugins(world),
        kinds=chosen,
        poll_interval=0.05,
        tick_interval=3600,
    )
    await runner.run_until_idle(60)


async def new_class(world: World, start: datetime, who: str = "teacher") -> int:
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=45)).isoformat(),
        },
        who=who,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def book(world: World, session_id: int, center: str) -> None:
    r = await world.post(
        f"/api/v1/sessions/{session_id}/bookings", {"center_id": world.ids[center]}, who=center
    )
    assert r.status_code == 201, r.text


async def inbox(world: World, who: str) -> list[dict[str, Any]]:
    r = await world.get("/api/v1/notifications", who=who)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_cancelling_tells_every_booked_center_once(world: World) -> None:
    start = datetime.now(UTC) + timedelta(days=2)
    sid = await new_class(world, start)
    await book(world, sid, "center")
    await book(world, sid, "center2")
    assert (await world.post(f"/api/v1/sessions/{sid}/cancel", who="teacher")).status_code == 200
    await run_jobs(world)
    await run_jobs(world)  # a second worker pass sends nothing again
    beijing = start.astimezone(dt.timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
    for center in ("center", "center2"):
        mine = await inbox(world, center)
        cancelled = [n for n in mine if n["kind"] == "class_cancelled"]
        assert len(cancelled) == 1, mine
        assert "数学直播课" in cancelled[0]["subject"] and "已取消" in cancelled[0]["subject"]
        assert beijing in cancelled[0]["body"] and "Asia/Shanghai" in cancelled[0]["body"]
        assert cancelled[0]["link"] == f"http://testserver.local/watch/{sid}"
        # a center hears of its own booking only
        assert [n["kind"] for n in mine].count("class_booked") == 1
    teacher = await inbox(world, "teacher")
    assert sorted(n["kind"] for n in teacher) == ["class_booked", "class_booked", "class_cancelled"]
    assert await inbox(world, "teacher2") == []
    # the bell's number; marking read is one's own affair
    count = await world.get("/api/v1/notifications/unread-count", who="center")
    assert count.json() == {"unread": 2}
    theirs = (await inbox(world, "center2"))[0]["id"]
    r = await world.post(f"/api/v1/notifications/{theirs}/read", who="center")
    assert r.status_code == 404
    mine_first = (await inbox(world, "center"))[0]["id"]
    r = await world.post(f"/api/v1/notifications/{mine_first}/read", who="center")
    assert r.status_code == 204
    count = await world.get("/api/v1/notifications/unread-count", who="center")
    assert count.json() == {"unread": 1}
    assert (await world.get("/api/v1/notifications/unread-count", who="center2")).json() == {
        "unread": 2
    }
    assert (await world.get("/api/v1/notifications")).status_code == 401
    # the inbox page (the header's bell links there), in Chinese
    page = await world.get("/notifications", who="center2")
    assert page.status_code == 200
    assert "通知" in page.text and "未读：2" in page.text and "课程已取消" in page.text
    assert 'id="bell-count"' in page.text and "/notifications/unread-count" in page.text
    assert "镇雄" not in page.text  # center's own notices are not center2's
    r = await world.client.post(
        "/notifications/read", data={}, headers=world.auth("center2"), follow_redirects=False
    )
    assert r.status_code == 303
    assert (await world.get("/api/v1/notifications/unread-count", who="center2")).json() == {
        "unread": 0
    }


async def test_reminder_once_when_two_scans_race(world: World, smtp: tuple[Mailbox, Path]) -> None:
    """Two workers' periodic scans at the same moment raise one reminder; the e-mail reaches
    the local SMTP server (STARTTLS) with the class, the time in the center's zone and the
    watch link, in a plain-text and an HTML part; the teacher's has the go-live page."""
    box = smtp[0]
    r = await world.client.put(
        "/api/v1/notifications/preferences",
        json={"targets": {"email": "zhenxiong@example.org"}},
        headers=world.auth("center"),
    )
    assert r.status_code == 200, r.text
    start = datetime.now(UTC) + timedelta(minutes=20)
    sid = await new_class(world, start)
    ingest = await world.get(f"/api/v1/sessions/{sid}/ingest", who="teacher")
    assert ingest.status_code == 200, ingest.text  # the class has its stream key now
    await book(world, sid, "center")
    before = len(box.messages)
    now = datetime.now(UTC)
    first, second = await asyncio.gather(
        outbox.scan_due(app_settings(world), now), outbox.scan_due(app_settings(world), now)
    )
    assert sid in first["reminder"] + second["reminder"]
    await run_jobs(world)  # the worker's own periodic scan races them too
    again = await outbox.scan_due(app_settings(world), now + timedelta(minutes=1))
    assert sid not in again["reminder"]
    await run_jobs(world)
    events = await Job.count().where(Job.dedupe_key.like(f"event:reminder:{sid}:%"))
    assert events == 1
    reminders = [n for n in await inbox(world, "center") if n["kind"] == "reminder"]
    assert len(reminders) == 1
    mails = [m for m in box.messages[before:] if "即将上课" in str(m["Subject"])]
    assert len(mails) == 1, [str(m["Subject"]) for m in box.messages[before:]]
    mail = mails[0]
    assert mail["To"] == "zhenxiong@example.org"
    parts = {p.get_content_type(): p.get_content() for p in mail.walk() if not p.is_multipart()}
    assert set(parts) >= {"text/plain", "text/html"}
    local = start.astimezone(dt.timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
    text = parts["text/plain"]
    assert "数学直播课" in text and local in text and "Asia/Shanghai" in text
    assert f"http://testserver.local/watch/{sid}" in text
    assert "/teacher/sessions/" not in text
    teacher = [n for n in await inbox(world, "teacher") if n["kind"] == "reminder"]
    assert len(teacher) == 1 and teacher[0]["link"].endswith(f"/teacher/sessions/{sid}")
    rows = await Notification.select(Notification.body).where(Notification.session_id == sid)
    stream = await LiveSession.select(LiveSession.stream_key).where(LiveSession.id == sid).first()
    assert stream is not None and stream["stream_key"]
    assert rows and not any(stream["stream_key"] in r["body"] for r in rows)
    assert stream["stream_key"] not in text and stream["stream_key"] not in parts["text/html"]


async def test_robots_and_quiet_hours(world: World, robots: str) -> None:
    """A center's WeChat Work robot and the teacher's signed DingTalk robot get the notice;
    the center's quiet hours (22:00-07:00 in its zone) hold its robot message until 07:00."""
    Robots.received.clear()
    r = await world.client.put(
        "/api/v1/notifications/preferences",
        json={
            "targets": {"wecom_url": f"{robots}/cgi-bin/webhook/send?key=k1"},
            "quiet_start": "22:00",
            "quiet_end": "07:00",
        },
        headers=world.auth("center"),
    )
    assert r.status_code == 200, r.text
    r = await world.client.put(
        "/api/v1/notifications/preferences",
        json={
            "targets": {
                "dingtalk_url": f"{robots}/robot/send?access_token=t1",
                "dingtalk_secret": DING_SECRET,
            }
        },
        headers=world.auth("teacher"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["targets"]["dingtalk_secret"] == "set"  # never read back
    start = datetime.now(UTC) + timedelta(days=3)
    sid = await new_class(world, start)
    await book(world, sid, "center")
    await run_jobs(world, outbox.NOTIFY_EVENT)  # the booking notices
    await (
        Notification.delete().where(Notification.channel != "inbox").run()
    )  # only the cancellation's robot messages matter below
    Robots.received.clear()
    assert (await world.post(f"/api/v1/sessions/{sid}/cancel", who="teacher")).status_code == 200
    # 23:30 in Beijing: the center is in its quiet hours
    late = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    payload = outbox.EventPayload(kind="class_cancelled", key=f"cancelled:{sid}", session_id=sid)
    settings, plugins = app_settings(world), app_plugins(world)
    await outbox.fan_out(payload, settings, plugins, now=late)
    rows = {
        r["channel"]: r
        for r in await Notification.select().where(
            (Notification.kind == "class_cancelled") & (Notification.channel != "inbox")
        )
    }
    assert set(rows) == {"wecom", "dingtalk"}
    assert rows["wecom"]["send_after"] == datetime(2026, 12, 4, 23, 0, tzinfo=UTC)
    hold = await outbox.deliver(rows["wecom"]["id"], settings, plugins, now=late)
    assert hold == pytest.approx(7.5 * 3600)
    assert await outbox.deliver(rows["dingtalk"]["id"], settings, plugins, now=late) is None
    assert [path for path, _ in Robots.received] == ["/robot/send"]
    ding = Robots.received[0][1]
    assert ding["msgtype"] == "markdown" and "数学直播课" in ding["markdown"]["text"]
    morning = datetime(2026, 12, 4, 23, 0, 1, tzinfo=UTC)
    # two senders at once (a retried job and its first run): one claims the row, one posts
    both = await asyncio.gather(
        outbox.deliver(rows["wecom"]["id"], settings, plugins, now=morning),
        outbox.deliver(rows["wecom"]["id"], settings, plugins, now=morning),
    )
    assert both == [None, None]
    assert await outbox.deliver(rows["wecom"]["id"], settings, plugins, now=morning) is None
    assert [path for path, _ in Robots.received] == ["/robot/send", "/cgi-bin/webhook/send"]
    wecom = Robots.received[1][1]
    assert wecom["msgtype"] == "markdown" and "已取消" in wecom["markdown"]["content"]
    # the queued event job finds its rows written: nothing is added or sent twice
    await run_jobs(world, outbox.NOTIFY_EVENT)
    assert await Notification.count().where(Notification.kind == "class_cancelled") == 4


async def test_a_wrong_signature_is_refused(robots: str) -> None:
    """The stand-in really checks: a post signed with another secret is refused."""
    import httpx

    stamp = str(int(datetime.now(UTC).timestamp() * 1000))
    bad = dingtalk_sign("SECanother-secret-000000", stamp)
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"{robots}/robot/send?access_token=t&timestamp={stamp}&sign={bad}", json={}
        )
    assert r.json()["errcode"] != 0
    good = dingtalk_sign(DING_SECRET, stamp)
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"{robots}/robot/send?access_token=t&timestamp={stamp}&sign={good}", json={}
        )
    assert r.json()["errcode"] == 0


async def test_preferences_are_checked(world: World) -> None:
    async def put(body: dict[str, Any]) -> Any:
        return await world.client.put(
            "/api/v1/notifications/preferences", json=body, headers=world.auth("teacher")
        )

    r = await put({"targets": {"wecom_url": "http://169.254.169.254/latest"}})
    assert r.status_code == 400 and "wecom_url" in r.text
    r = await put({"targets": {"fax": "123"}})
    assert r.status_code == 400 and "targets.fax" in r.text
    r = await put({"quiet_start": "25:00", "quiet_end": "07:00"})
    assert r.status_code == 400 and "quiet_start" in r.text
    r = await put({"quiet_start": "22:00"})
    assert r.status_code == 400 and "quiet_end" in r.text
    r = await put({"channels": {"reminder": ["pager"]}})
    assert r.status_code == 400 and "channels.reminder" in r.text
    r = await put({"targets": {"email": "not-an-address"}})
    assert r.status_code == 400 and "targets.email" in r.text
    r = await put({"channels": {"reminder": ["email"]}, "targets": {"email": "li@example.org"}})
    assert r.status_code == 200
    got = (await world.get("/api/v1/notifications/preferences", who="teacher")).json()
    assert got["channels"] == {"reminder": ["email"]}
    assert {c["name"] for c in got["available"]} >= {"email", "wecom", "dingtalk"}
    # another user's preferences are their own
    other = (await world.get("/api/v1/notifications/preferences", who="teacher2")).json()
    assert other["targets"] == {}


async def test_cancelling_a_series_tells_the_centers_that_booked(world: World) -> None:
    r = await world.post(
        "/api/v1/series",
        {
            "course_id": world.ids["course"],
            "first_start": "2027-03-01T09:00:00",
            "duration_minutes": 45,
            "rrule": "FREQ=WEEKLY;COUNT=3",
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text
    _first, second, third = r.json()["session_ids"]
    await book(world, second, "center")
    await book(world, third, "center2")
    r = await world.post(
        f"/api/v1/series/{r.json()['id']}/cancel", {"from_date": "2027-03-08"}, who="teacher"
    )
    assert r.status_code == 200 and r.json()["cancelled"] == 2
    await run_jobs(world)
    for center, session_id in (("center", second), ("center2", third)):
        cancelled = [n for n in await inbox(world, center) if n["kind"] == "class_cancelled"]
        assert [n["session_id"] for n in cancelled] == [session_id]
        assert "2027-03" in cancelled[0]["body"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


async def test_web_push_decrypts_with_the_subscriptions_keys(world: World, robots: str) -> None:
    """The teacher's browser subscribed; the push service (a stand-in) gets a body that
    decrypts (RFC 8291, aes128gcm) with the subscription's keys to the message, and a VAPID
    authorization signed by the hub's key."""
    import http_ece
    from py_vapid import Vapid02

    Robots.received.clear()
    browser = ec.generate_private_key(ec.SECP256R1())
    auth = b"0123456789abcdef"
    public = browser.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    subscription = {
        "endpoint": f"{robots}/push/teacher-phone",
        "keys": {"p256dh": b64url(public), "auth": b64url(auth)},
    }
    r = await world.client.put(
        "/api/v1/notifications/preferences",
        json={"targets": {"webpush": json.dumps(subscription)}},
        headers=world.auth("teacher"),
    )
    assert r.status_code == 200, r.text
    bad = {**subscription, "keys": {"p256dh": "short", "auth": b64url(auth)}}
    r = await world.client.put(
        "/api/v1/notifications/preferences",
        json={"targets": {"webpush": json.dumps(bad)}},
        headers=world.auth("teacher"),
    )
    assert r.status_code == 400 and "targets.webpush" in r.text
    start = datetime.now(UTC) + timedelta(days=2)
    sid = await new_class(world, start)
    await book(world, sid, "center")
    await run_jobs(world)
    pushes = [body for path, body in Robots.received if path == "/push/teacher-phone"]
    assert len(pushes) == 1
    push = pushes[0]
    headers = {k.lower(): v for k, v in push["headers"].items()}
    assert headers["content-encoding"] == "aes128gcm", headers
    plain = http_ece.decrypt(
        push["raw"], private_key=browser, auth_secret=auth, version="aes128gcm"
    )
    message = json.loads(plain)
    assert message["title"] == "已预约：数学直播课"
    assert "镇雄共享中心" in message["body"] and message["url"].endswith(f"/watch/{sid}")
    vapid = headers["authorization"]
    assert vapid.startswith("vapid t=")
    token = vapid.split("t=", 1)[1].split(",", 1)[0]
    key = vapid.split("k=", 1)[1].strip()
    expected = Vapid02.from_string(VAPID_KEY).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert key == b64url(expected)
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == "mailto:hub@example.org" and claims["aud"] == robots
