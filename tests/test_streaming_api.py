"""Going live and watching through the cloud and external-link providers, over HTTP.

Signatures are recomputed here from the providers' documented rules (Tencent:
txSecret = MD5(key + StreamName + txTime), txTime = upper-case hex expiry; Alibaba:
auth_key = "{ts}-{rand}-{uid}-" + MD5("{uri}-{ts}-{rand}-{uid}-{key}")), independently
of plugins/signing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hub.settings import Settings
from hub.tables import Course, LiveSession, SessionStatus, Visibility
from tests import cluster
from tests.conftest import World, hub_settings

pytestmark = pytest.mark.cross_process

TENCENT = {
    "push_domain": "push.sharehub-test.cn",
    "play_domain": "play.sharehub-test.cn",
    "push_key": "e12c46f2612d5106e2034781ab261ca3",
    "play_key": "9a8b7c6d5e4f",
}
ALIYUN = {
    "push_domain": "push.aliyun-test.cn",
    "play_domain": "play.aliyun-test.cn",
    "push_key": "aliPushKey123",
    "play_key": "aliPlayKey456",
    "app_name": "class",
}

cluster.configure_plugin("tencent", TENCENT)  # the cluster's processes are configured alike
cluster.configure_plugin("aliyun", ALIYUN)


@pytest.fixture
def settings(tmp_path: Path, database: str) -> Settings:
    return replace(
        hub_settings(tmp_path, database),
        plugin_options={"tencent": dict(TENCENT), "aliyun": dict(ALIYUN)},
    )


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


async def new_session(
    world: World, provider: str, options: dict[str, Any] | None = None, course: str = "course"
) -> dict[str, Any]:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    body: dict[str, Any] = {
        "course_id": world.ids[course],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=45)).isoformat(),
        "provider": provider,
    }
    if options is not None:
        body["provider_settings"] = options
    who = "teacher" if course == "course" else "teacher2"
    response = await world.post("/api/v1/sessions", body, who)
    assert response.status_code == 201, response.text
    return response.json()


async def stored_key(session_id: int) -> str:
    row = (
        await LiveSession.select(LiveSession.stream_key).where(LiveSession.id == session_id).first()
    )
    assert row is not None
    return str(row["stream_key"])


async def test_tencent_push_urls_are_signed_and_only_for_the_teacher(world: World) -> None:
    session = await new_session(world, "tencent")
    sid = session["id"]
    assert (await world.get(f"/api/v1/sessions/{sid}/ingest")).status_code == 401
    for other in ("teacher2", "center"):
        assert (await world.get(f"/api/v1/sessions/{sid}/ingest", other)).status_code == 403

    response = await world.get(f"/api/v1/sessions/{sid}/ingest", "teacher")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    ingest = response.json()
    assert ingest["provider"] == "tencent" and ingest["stream_name"] == f"sh{sid}"
    by_protocol = {e["protocol"]: e for e in ingest["endpoints"]}
    assert set(by_protocol) == {"rtmp", "srt", "webrtc"}
    rtmp = by_protocol["rtmp"]
    parts = urlsplit(rtmp["url"])
    assert parts.scheme == "rtmp" and parts.netloc == TENCENT["push_domain"]
    app, stream = parts.path.strip("/").split("/")
    assert app == "live" and re.fullmatch(rf"sh{sid}-[0-9a-f]{{8}}", stream)
    query = parse_qs(parts.query)
    tx_time = query["txTime"][0]
    assert re.fullmatch(r"[0-9A-F]+", tx_time)
    assert query["txSecret"][0] == md5(TENCENT["push_key"] + stream + tx_time)
    expiry = datetime.fromtimestamp(int(tx_time, 16), UTC)
    assert expiry >= datetime.now(UTC) + timedelta(hours=23)
    assert rtmp["server"] + rtmp["stream_key"] == rtmp["url"]  # OBS: server + key
    srt = by_protocol["srt"]["url"]
    assert f"r=live/{stream}" in srt and f"txSecret={query['txSecret'][0]}" in srt

    admin = await world.get(f"/api/v1/sessions/{sid}/ingest", "admin")
    assert admin.status_code == 200 and admin.json()["endpoints"] == ingest["endpoints"]


async def test_tencent_playback_is_signed_with_the_play_key_and_hides_the_push_secret(
    world: World,
) -> None:
    session = await new_session(world, "tencent")
    sid = session["id"]
    push = (await world.get(f"/api/v1/sessions/{sid}/ingest", "teacher")).json()
    response = await world.get(f"/api/v1/sessions/{sid}/playback")  # anonymous, public course
    assert response.status_code == 200, response.text
    playback = response.json()
    urls = {u["protocol"]: u["url"] for u in playback["urls"]}
    assert set(urls) == {"hls", "flv"}
    hls = urlsplit(urls["hls"])
    assert hls.scheme == "https" and hls.netloc == TENCENT["play_domain"]
    stream = hls.path.rsplit("/", 1)[1].removesuffix(".m3u8")
    query = parse_qs(hls.query)
    assert query["txSecret"][0] == md5(TENCENT["play_key"] + stream + query["txTime"][0])
    expires = datetime.fromtimestamp(int(query["txTime"][0], 16), UTC)
    assert timedelta(minutes=90) < expires - datetime.now(UTC) <= timedelta(hours=2, minutes=1)
    body = response.text
    key = await stored_key(sid)
    assert key and key not in body
    push_secret = parse_qs(urlsplit(push["endpoints"][0]["url"]).query)["txSecret"][0]
    assert push_secret not in body and TENCENT["push_key"] not in body


async def test_rotating_the_key_retires_the_old_push_address(world: World) -> None:
    sid = (await new_session(world, "tencent"))["id"]
    before = (await world.get(f"/api/v1/sessions/{sid}/ingest", "teacher")).json()
    assert (await world.post(f"/api/v1/sessions/{sid}/ingest/rotate", None)).status_code == 401
    denied = await world.post(f"/api/v1/sessions/{sid}/ingest/rotate", None, "teacher2")
    assert denied.status_code == 403
    rotated = await world.post(f"/api/v1/sessions/{sid}/ingest/rotate", None, "teacher")
    assert rotated.status_code == 200, rotated.text
    after = rotated.json()
    old = {e["protocol"]: e["url"] for e in before["endpoints"]}
    new = {e["protocol"]: e["url"] for e in after["endpoints"]}
    assert all(old[p] != new[p] for p in old)
    again = (await world.get(f"/api/v1/sessions/{sid}/ingest", "teacher")).json()
    assert again["endpoints"] == after["endpoints"]


async def test_qr_code_of_a_push_url(world: World) -> None:
    sid = (await new_session(world, "tencent"))["id"]
    ingest = (await world.get(f"/api/v1/sessions/{sid}/ingest", "teacher")).json()
    qr = await world.get(ingest["endpoints"][0]["qr_svg"], "teacher")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.text.lstrip().startswith("<svg") and "<path" in qr.text
    assert (await world.get(ingest["endpoints"][0]["qr_svg"])).status_code == 401
    bad = await world.get(f"/api/v1/sessions/{sid}/ingest/qr.svg?protocol=ftp", "teacher")
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "protocol"


async def test_aliyun_push_and_playback_carry_auth_key_type_a(world: World) -> None:
    sid = (await new_session(world, "aliyun"))["id"]
    ingest = (await world.get(f"/api/v1/sessions/{sid}/ingest", "teacher")).json()
    (rtmp,) = ingest["endpoints"]
    parts = urlsplit(rtmp["url"])
    assert parts.netloc == ALIYUN["push_domain"] and parts.path.startswith("/class/")
    timestamp, rand, uid, digest = parse_qs(parts.query)["auth_key"][0].split("-")
    assert (rand, uid) == ("0", "0")
    assert digest == md5(f"{parts.path}-{timestamp}-0-0-{ALIYUN['push_key']}")

    playback = (await world.get(f"/api/v1/sessions/{sid}/playback")).json()
    hls = urlsplit(next(u["url"] for u in playback["urls"] if u["protocol"] == "hls"))
    ts, _, _, play_digest = parse_qs(hls.query)["auth_key"][0].split("-")
    assert hls.path.endswith(".m3u8")
    assert play_digest == md5(f"{hls.path}-{ts}-0-0-{ALIYUN['play_key']}")


async def test_centers_only_courses_are_not_shown_to_anonymous_viewers(world: World) -> None:
    await Course.update({Course.visibility: Visibility.centers.value}).where(
        Course.id == world.ids["course"]
    )
    sid = (await new_session(world, "tencent"))["id"]
    assert (await world.get(f"/api/v1/sessions/{sid}/playback")).status_code == 404
    assert (await world.get(f"/api/v1/sessions/{sid}/playback", "center")).status_code == 200
    assert (await world.get("/api/v1/sessions/999999/playback", "center")).status_code == 404


async def test_external_link_options_are_checked_naming_the_key(world: World) -> None:
    starts = datetime.now(UTC) + timedelta(days=2)
    body = {
        "course_id": world.ids["course"],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "provider": "external_link",
        "provider_settings": {"meeting_url": "javascript:alert(1)"},
    }
    bad = await world.post("/api/v1/sessions", body, "teacher")
    assert bad.status_code == 400, bad.text
    assert bad.json()["extra"][0]["key"] == "provider_settings.meeting_url"
    assert "external_link" in bad.json()["detail"]

    body["provider_settings"] = {"meeting_url": "https://meeting.tencent.com/dm/abc", "x": 1}
    unknown = await world.post("/api/v1/sessions", body, "teacher")
    assert unknown.status_code == 400
    assert unknown.json()["extra"][0]["key"] == "provider_settings.x"

    body["provider_settings"] = {}
    empty = await world.post("/api/v1/sessions", body, "teacher")
    assert empty.status_code == 400 and "meeting_url" in empty.json()["detail"]

    meeting = "https://meeting.tencent.com/dm/abc"
    body["provider_settings"] = {"meeting_url": meeting}
    created = await world.post("/api/v1/sessions", body, "teacher")
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    playback = (await world.get(f"/api/v1/sessions/{sid}/playback")).json()
    assert playback["urls"] == [{"protocol": "link", "url": meeting}]
    ingest = (await world.get(f"/api/v1/sessions/{sid}/ingest", "teacher")).json()
    assert ingest["endpoints"] == [] and meeting in ingest["note"]


async def test_unknown_provider_is_a_400_naming_the_field(world: World) -> None:
    starts = datetime.now(UTC) + timedelta(days=3)
    body = {
        "course_id": world.ids["course"],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "provider": "carrier_pigeon",
    }
    response = await world.post("/api/v1/sessions", body, "teacher")
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == "provider"
    assert "tencent" in response.json()["detail"]  # names what is available


async def test_the_provider_can_change_before_the_class_only(world: World) -> None:
    sid = (await new_session(world, "tencent"))["id"]
    changed = await world.patch(
        f"/api/v1/sessions/{sid}",
        {"provider": "external_link", "provider_settings": {"playback_url": "https://x.cn/a.m3u8"}},
        "teacher",
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["provider"] == "external_link"
    denied = await world.patch(f"/api/v1/sessions/{sid}", {"provider": "tencent"}, "teacher2")
    assert denied.status_code == 403
    await LiveSession.update({LiveSession.status: SessionStatus.live}).where(LiveSession.id == sid)
    late = await world.patch(f"/api/v1/sessions/{sid}", {"provider": "tencent"}, "teacher")
    assert late.status_code == 409 and late.json()["extra"][0]["key"] == "provider"


async def test_cancelled_sessions_give_no_addresses(world: World) -> None:
    sid = (await new_session(world, "tencent"))["id"]
    assert (await world.post(f"/api/v1/sessions/{sid}/cancel", None, "teacher")).status_code == 200
    assert (await world.get(f"/api/v1/sessions/{sid}/ingest", "teacher")).status_code == 409
    assert (await world.get(f"/api/v1/sessions/{sid}/playback")).status_code == 409


async def test_admins_see_plugin_errors(world: World) -> None:
    listing = (await world.get("/api/v1/plugins", "admin")).json()
    names = {p["name"] for p in listing}
    assert {"tencent", "aliyun", "external_link"} <= names
    tencent = next(p for p in listing if p["name"] == "tencent")
    assert tencent["providers"][0]["ready"] is True and tencent["providers"][0]["problem"] is None
