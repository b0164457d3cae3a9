"""nginx's publish callbacks: the shared secret, the stream key, the window, the status.

The forms posted here are what nginx's RTMP module posts (recorded from nginx 1.22 with
libnginx-mod-rtmp: the ``key=`` the encoder appends to the stream name arrives as a form
field of its own). tests/e2e runs the real nginx against the hub.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub import live
from hub.settings import Settings
from plugins.self_hosted.callbacks import CALLBACK_PATH, callback_secret
from tests.conftest import World

pytestmark = pytest.mark.cross_process

PUBLISH = f"{CALLBACK_PATH}/publish"
DONE = f"{CALLBACK_PATH}/publish-done"


def nginx_form(call: str, name: str, key: str | None) -> dict[str, str]:
    form = {
        "app": "live",
        "flashver": "FMLE/3.0 (compatible; Lavf63.1.",
        "swfurl": "",
        "tcurl": "rtmp://127.0.0.1:1935/live",
        "pageurl": "",
        "addr": "203.0.113.7",
        "clientid": "3",
        "call": call,
        "name": name,
    }
    if call == "publish":
        form["type"] = "live"
    if key is not None:
        form["key"] = key
    return form


async def callback(
    world: World, path: str, form: dict[str, str], secret: str | None
) -> httpx.Response:
    params = {"secret": secret} if secret is not None else {}
    return await world.client.post(path, data=form, params=params)


async def session_now(world: World, ingest: str = "rtmp", **kw: Any) -> tuple[int, str]:
    """A class starting in two minutes (inside the live window), its push key made as the
    teacher's page makes it."""
    starts = datetime.now(UTC).replace(microsecond=0) + kw.pop("offset", timedelta(minutes=2))
    body = {
        "course_id": world.ids["course"],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=40)).isoformat(),
        "provider_settings": {"ingest": ingest},
        **kw,
    }
    created = await world.post("/api/v1/sessions", body, "teacher")
    assert created.status_code == 201, created.text
    session_id = int(created.json()["id"])
    shown = await world.get(f"/api/v1/sessions/{session_id}/ingest", "teacher")
    assert shown.status_code == 200, shown.text
    return session_id, str((await live.session_row(session_id))["stream_key"])


async def status(session_id: int) -> str:
    return str((await live.session_row(session_id))["status"])


@pytest.mark.parametrize("given", [None, "", "wrong-secret"])
async def test_wrong_or_missing_secret_is_refused(
    world: World, settings: Settings, given: str | None
) -> None:
    session_id, key = await session_now(world)
    for path in (PUBLISH, DONE):
        response = await callback(world, path, nginx_form("publish", f"sh{session_id}", key), given)
        assert response.status_code == 403, response.text
    assert await status(session_id) == "scheduled"


async def test_key_checked_then_live_then_ended(world: World, settings: Settings) -> None:
    secret = callback_secret(settings)
    session_id, key = await session_now(world)
    name = f"sh{session_id}"
    for wrong in (None, "", "x" * len(key), key[:-1]):
        refused = await callback(world, PUBLISH, nginx_form("publish", name, wrong), secret)
        assert refused.status_code == 403, (wrong, refused.text)
    assert await status(session_id) == "scheduled"

    accepted = await callback(world, PUBLISH, nginx_form("publish", name, key), secret)
    assert accepted.status_code == 200, accepted.text
    row = await live.session_row(session_id)
    assert row["status"] == "live" and row["live_at"] is not None
    again = await callback(world, PUBLISH, nginx_form("publish", name, key), secret)
    assert again.status_code == 200  # a reconnect of the same class

    # a refused publisher hanging up does not end the class another one carries
    stray = await callback(world, DONE, nginx_form("publish_done", name, "not-the-key"), secret)
    assert stray.status_code == 200
    assert await status(session_id) == "live"

    done = await callback(world, DONE, nginx_form("publish_done", name, key), secret)
    assert done.status_code == 200, done.text
    row = await live.session_row(session_id)
    assert row["status"] == "ended" and row["ended_at"] is not None


async def test_rotated_key_stops_the_old_one(world: World, settings: Settings) -> None:
    secret = callback_secret(settings)
    session_id, old = await session_now(world)
    rotated = await world.post(f"/api/v1/sessions/{session_id}/ingest/rotate", None, "teacher")
    assert rotated.status_code == 200
    name = f"sh{session_id}"
    assert (
        await callback(world, PUBLISH, nginx_form("publish", name, old), secret)
    ).status_code == 403
    new = str((await live.session_row(session_id))["stream_key"])
    assert (
        await callback(world, PUBLISH, nginx_form("publish", name, new), secret)
    ).status_code == 200


async def test_refused_sessions(world: World, settings: Settings) -> None:
    secret = callback_secret(settings)
    # an SRT session takes no RTMP push (its recorder listens on SRT)
    srt_id, srt_key = await session_now(world, ingest="srt")
    response = await callback(world, PUBLISH, nginx_form("publish", f"sh{srt_id}", srt_key), secret)
    assert response.status_code == 403 and "RTMP" in response.text
    # tomorrow's class cannot be turned live today
    later_id, later_key = await session_now(world, offset=timedelta(days=1))
    response = await callback(
        world, PUBLISH, nginx_form("publish", f"sh{later_id}", later_key), secret
    )
    assert response.status_code == 403 and "open from" in response.text
    # a cancelled class
    cancel_id, cancel_key = await session_now(world, offset=timedelta(hours=2))
    cancelled = await world.post(f"/api/v1/sessions/{cancel_id}/cancel", None, "teacher")
    assert cancelled.status_code in (200, 201), cancelled.text
    response = await callback(
        world, PUBLISH, nginx_form("publish", f"sh{cancel_id}", cancel_key), secret
    )
    assert response.status_code == 403
    # names that are not ours, and a key of another session
    for name in ("", "obs", "sh", f"sh{srt_id}x", "sh99999999999999"):
        response = await callback(world, PUBLISH, nginx_form("publish", name, srt_key), secret)
        assert response.status_code == 403, name
    for session_id in (srt_id, later_id, cancel_id):
        assert await status(session_id) in {"scheduled", "cancelled"}


async def test_get_notify_method_and_args_field(world: World, settings: Settings) -> None:
    """``notify_method get`` puts the form in the query; older modules pass ``args``."""
    secret = callback_secret(settings)
    session_id, key = await session_now(world)
    form = nginx_form("publish", f"sh{session_id}", None)
    form["args"] = f"key={key}"
    response = await world.client.post(PUBLISH, params={"secret": secret, **form})
    assert response.status_code == 200, response.text
    assert await status(session_id) == "live"


async def test_settings_secret_replaces_the_derived_one(world: World, settings: Settings) -> None:
    derived = callback_secret(settings)
    assert len(derived) >= 32 and settings.secret_key not in derived
    chosen = replace(settings, ingest_secret="chosen-by-the-admin-0123456789")
    assert callback_secret(chosen) == "chosen-by-the-admin-0123456789"
    assert "ingest_secret" in {k.lower().removeprefix("sharehub_") for k in chosen.masked()}
    assert "chosen-by-the-admin" not in chosen.masked()["SHAREHUB_INGEST_SECRET"]


def from_client(form: dict[str, str], client_id: str) -> dict[str, str]:
    return {**form, "clientid": client_id}


async def test_a_refused_duplicate_push_does_not_end_the_class(
    world: World, settings: Settings
) -> None:
    """nginx lets the hub accept a second push with the right key, refuses it itself
    ("already publishing") and still sends its publish_done: the class stays live."""
    session_id, key = await session_now(world)
    secret = callback_secret(settings)
    name = f"sh{session_id}"
    first = await callback(
        world, PUBLISH, from_client(nginx_form("publish", name, key), "3"), secret
    )
    assert first.status_code == 200 and await status(session_id) == "live"
    second = nginx_form("publish", name, key)
    assert (await callback(world, PUBLISH, from_client(second, "7"), secret)).status_code == 200
    duplicate_done = from_client(nginx_form("publish_done", name, key), "7")
    for _ in range(2):  # and the same done event again
        done = await callback(world, DONE, duplicate_done, secret)
        assert done.status_code == 200
        assert await status(session_id) == "live"
    # a done event for no publisher we accepted (a replay, a forged id) changes nothing
    stranger = from_client(nginx_form("publish_done", name, key), "99")
    assert (await callback(world, DONE, stranger, secret)).status_code == 200
    assert await status(session_id) == "live"
    # the publisher that is sending ends the class when it stops
    real_done = from_client(nginx_form("publish_done", name, key), "3")
    assert (await callback(world, DONE, real_done, secret)).status_code == 200
    assert await status(session_id) == "ended"
    # a restart within the grace starts afresh (nginx's client ids may start again)
    again = from_client(nginx_form("publish", name, key), "1")
    assert (await callback(world, PUBLISH, again, secret)).status_code == 200
    assert await status(session_id) == "live"
    last = from_client(nginx_form("publish_done", name, key), "1")
    assert (await callback(world, DONE, last, secret)).status_code == 200
    assert await status(session_id) == "ended"
