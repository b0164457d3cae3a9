"""Tencent CSS and Alibaba Cloud stream callbacks: signatures, expiry, unknown streams,
repeated events; each answered as the provider expects and changing nothing when refused.

The bodies are the providers' documented examples (see the modules' docstrings) with the
stream name the hub hands out in its push URLs.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub import live
from hub.settings import Settings
from plugins import aliyun_callbacks, tencent_callbacks
from tests.conftest import World, hub_settings

pytestmark = pytest.mark.in_process("the hub's settings carry the cloud callback keys")

TENCENT_KEY = "tencent-callback-key"
ALIYUN_KEY = "aliyun-callback-key"
CLOUD = {"play_domain": "play.example.cn", "app_name": "live"}


@pytest.fixture
def settings(tmp_path: Path, database: str) -> Settings:
    return replace(
        hub_settings(tmp_path, database),
        plugin_options={
            "tencent": {
                **CLOUD,
                "push_domain": "push.tencent.example.cn",
                "callback_key": TENCENT_KEY,
            },
            "aliyun": {
                **CLOUD,
                "push_domain": "push.aliyun.example.cn",
                "callback_key": ALIYUN_KEY,
            },
        },
    )


async def cloud_session(world: World, provider: str) -> tuple[int, str]:
    """A class starting in two minutes (inside the live window: a push then is the class, not
    a rehearsal); its cloud stream name as the push URL carries it."""
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    created = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=40)).isoformat(),
            "provider": provider,
        },
        "teacher",
    )
    assert created.status_code == 201, created.text
    session_id = int(created.json()["id"])
    shown = await world.get(f"/api/v1/sessions/{session_id}/ingest", "teacher")
    assert shown.status_code == 200, shown.text
    key = str((await live.session_row(session_id))["stream_key"])
    stream = f"sh{session_id}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    assert stream in shown.text, "the push URL names the stream the callbacks name"
    return session_id, stream


async def status(session_id: int) -> str:
    return str((await live.session_row(session_id))["status"])


# -- Tencent ---------------------------------------------------------------------------------
def tencent_event(
    stream: str, event_type: int, *, t: int | None = None, key: str = TENCENT_KEY
) -> dict[str, Any]:
    """The documented push callback example, with our stream and a fresh expiry."""
    t = t if t is not None else int(time.time()) + 600
    return {
        "app": "push.tencent.example.cn",
        "appid": 12345678,
        "appname": "live",
        "channel_id": stream,
        "errcode": 0,
        "errmsg": "ok",
        "event_time": int(time.time()),
        "event_type": event_type,
        "height": 0,
        "idc_id": 34,
        "node": "42.81.194.37",
        "sequence": "2210464508206756938",
        "set_id": 2,
        "sign": hashlib.md5(f"{key}{t}".encode()).hexdigest(),
        "stream_id": stream,
        "stream_param": "stream_param=test",
        "t": t,
        "user_ip": "1.1.1.1",
        "width": 0,
    }


TENCENT = "/api/v1/ingest/tencent/events"


def test_tencent_sign_is_md5_of_key_and_t() -> None:
    assert tencent_callbacks.sign("key", 1703732078) == hashlib.md5(b"key1703732078").hexdigest()
    event = tencent_callbacks.TencentEvent(
        1, "s", 1703732078, tencent_callbacks.sign("k", 1703732078)
    )
    assert tencent_callbacks.check(event, "k", now=1703731478) is None
    assert "expired" in (tencent_callbacks.check(event, "k", now=1703732079) or "")
    assert "wrong sign" in (tencent_callbacks.check(event, "other", now=1703731478) or "")
    assert "CALLBACK_KEY" in (tencent_callbacks.check(event, "", now=1703731478) or "")


async def test_tencent_push_and_interrupt_turn_a_class_live_and_ended(world: World) -> None:
    session_id, stream = await cloud_session(world, "tencent")
    for refused in (
        {**tencent_event(stream, 1), "sign": "0" * 32},  # wrong sign
        tencent_event(stream, 1, t=int(time.time()) - 1),  # expired t
        tencent_event(stream, 1, key="not-the-key"),
    ):
        answer = await world.client.post(TENCENT, json=refused)
        assert answer.status_code == 403 and answer.json()["code"] != 0, answer.text
        assert await status(session_id) == "scheduled"

    unknown = await world.client.post(TENCENT, json=tencent_event("test_stream", 1))
    assert unknown.status_code == 200 and unknown.json()["code"] == 0
    forged = await world.client.post(TENCENT, json=tencent_event(f"sh{session_id}-00000000", 1))
    assert forged.status_code == 200 and await status(session_id) == "scheduled"

    push = tencent_event(stream, 1)
    for _ in range(2):  # CSS retries: the same event again changes nothing
        answer = await world.client.post(TENCENT, json=push)
        assert answer.status_code == 200 and answer.json()["code"] == 0, answer.text
        assert await status(session_id) == "live"
    live_at = (await live.session_row(session_id))["live_at"]

    interrupted = tencent_event(stream, 0)
    for _ in range(2):
        answer = await world.client.post(TENCENT, json=interrupted)
        assert answer.status_code == 200 and answer.json()["code"] == 0
        assert await status(session_id) == "ended"
    assert (await live.session_row(session_id))["live_at"] == live_at


async def test_tencent_refuses_what_is_not_an_event(world: World) -> None:
    assert (await world.client.post(TENCENT, content=b"nope")).status_code == 400
    assert (await world.client.post(TENCENT, json={"event_type": 1})).status_code == 400


# -- Alibaba Cloud ---------------------------------------------------------------------------
ALIYUN = "/api/v1/ingest/aliyun/events"


def aliyun_headers(*, ts: int | None = None, key: str = ALIYUN_KEY) -> dict[str, str]:
    ts = ts if ts is not None else int(time.time())
    digest = hashlib.md5(f"push.aliyun.example.cn|{ts}|{key}".encode()).hexdigest()
    return {"ALI-LIVE-TIMESTAMP": str(ts), "ALI-LIVE-SIGNATURE": digest}


def aliyun_params(stream: str, action: str) -> dict[str, str]:
    """The documented callback's parameters, with our domain and stream."""
    return {
        "action": action,
        "ip": "192.168.0.1",
        "id": stream,
        "app": "push.aliyun.example.cn",
        "appname": "live",
        "time": str(int(time.time())),
        "usrargs": "auth_key=1700000000-0-0-abc",
        "node": "et2",
    }


def test_aliyun_signature_is_the_documented_md5() -> None:
    expected = hashlib.md5(b"learn.aliyundoc.com|1519375990|yourkey").hexdigest()
    assert aliyun_callbacks.signature("learn.aliyundoc.com", 1519375990, "yourkey") == expected
    headers = {"ali-live-timestamp": "1519375990", "ali-live-signature": expected}
    assert aliyun_callbacks.check(headers, "learn.aliyundoc.com", "yourkey", now=1519375990) is None
    assert "too far" in (
        aliyun_callbacks.check(headers, "learn.aliyundoc.com", "yourkey", now=1519375990 + 301)
        or ""
    )


async def test_aliyun_publish_and_publish_done(world: World) -> None:
    session_id, stream = await cloud_session(world, "aliyun")
    publish = aliyun_params(stream, "publish")
    for headers in (
        {},
        aliyun_headers(key="not-the-key"),
        aliyun_headers(ts=int(time.time()) - 3600),
        {**aliyun_headers(), "ALI-LIVE-SIGNATURE": "0" * 32},
    ):
        answer = await world.client.get(ALIYUN, params=publish, headers=headers)
        assert answer.status_code == 403, answer.text
        assert await status(session_id) == "scheduled"

    unknown = await world.client.get(
        ALIYUN, params=aliyun_params("liveStream", "publish"), headers=aliyun_headers()
    )
    assert unknown.status_code == 200 and await status(session_id) == "scheduled"

    for _ in range(2):  # retried deliveries change nothing more
        answer = await world.client.get(ALIYUN, params=publish, headers=aliyun_headers())
        assert answer.status_code == 200, answer.text
        assert await status(session_id) == "live"
    done = aliyun_params(stream, "publish_done")
    for _ in range(2):
        answer = await world.client.get(ALIYUN, params=done, headers=aliyun_headers())
        assert answer.status_code == 200
        assert await status(session_id) == "ended"
