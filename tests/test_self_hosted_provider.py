"""The self-hosted provider: registration, options, push and playback addresses, SRT ports,
and the nginx config it generates (checked by the real nginx)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from hub import live
from hub.app import create_app
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.tables import LiveSession
from plugins.self_hosted import ports
from plugins.self_hosted.callbacks import callback_secret
from plugins.self_hosted.nginx import NginxPaths, render
from plugins.self_hosted.provider import SelfHostedSettings, srt_port
from tests.conftest import World, seed

pytestmark = pytest.mark.cross_process

# the provider's own app: a worker of the cluster would open SRT listeners for these sessions
SH_APP = pytest.mark.in_process("an app of its own with the self-hosted provider configured")
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
LOW, HIGH = 20000, 20002
PLUGIN = {"public_host": "push.example.cn", "srt_port_min": str(LOW), "srt_port_max": str(HIGH)}


@pytest.fixture
async def sh_world(settings: Settings) -> AsyncIterator[World]:
    """conftest's world with the self-hosted provider configured (three SRT ports)."""
    configured = dataclasses.replace(settings, plugin_options={"self_hosted": dict(PLUGIN)})
    app = create_app(configured, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        world = World(client=client)
        world.app = app  # type: ignore[attr-defined]
        await seed(world)
        yield world


async def new_session(
    world: World,
    options: dict[str, Any] | None = None,
    starts: datetime | None = None,
    course: str = "course",
) -> dict[str, Any]:
    starts = starts or datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    body: dict[str, Any] = {
        "course_id": world.ids[course],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=45)).isoformat(),
    }
    if options is not None:
        body["provider_settings"] = options
    who = "teacher" if course == "course" else "teacher2"
    response = await world.post("/api/v1/sessions", body, who)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def ingest(world: World, session_id: int, who: str = "teacher") -> httpx.Response:
    return await world.get(f"/api/v1/sessions/{session_id}/ingest", who)


# -- registration and options --------------------------------------------------------------
def test_registered_through_its_entry_point() -> None:
    host = PluginHost(Settings(secret_key="k" * 20))
    record = host.plugins["self_hosted"]
    assert record.state == "ok", record.error
    assert record.distribution == "sharehub"
    assert {"register_providers", "register_commands", "serve_tasks"} <= set(record.hooks)
    provider = host.provider("self_hosted")
    assert set(provider.capabilities.push) == {"srt", "rtmp"}
    assert provider.capabilities.playback == ("hls",)
    assert provider.capabilities.recordable


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"srt_ports": "1-2"}, "srt_ports"),
        ({"srt_port_min": "70000"}, "srt_port_min"),
        ({"rtmp_public_url": "http://wrong"}, "rtmp_public_url"),
        ({"srt_port_min": "11000", "srt_port_max": "10000"}, "srt_port_min"),
    ],
)
def test_bad_settings_fail_the_plugin_naming_the_key(options: dict[str, str], named: str) -> None:
    host = PluginHost(Settings(secret_key="k" * 20, plugin_options={"self_hosted": options}))
    record = host.plugins["self_hosted"]
    assert record.state == "failed"
    assert "self_hosted" in (record.error or "") and named in (record.error or "")
    assert "self_hosted" not in host.providers
    assert "tencent" in host.providers  # the others still load


@SH_APP
async def test_session_options_reject_unknown_keys_and_protocols(sh_world: World) -> None:
    starts = datetime.now(UTC) + timedelta(days=2)
    for options, field in (
        ({"ingest": "webrtc"}, "provider_settings.ingest"),
        ({"passphrase": "mine"}, "provider_settings.passphrase"),
    ):
        body = {
            "course_id": sh_world.ids["course"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
            "provider_settings": options,
        }
        response = await sh_world.post("/api/v1/sessions", body, "teacher")
        assert response.status_code == 400, response.text
        assert response.json()["extra"][0]["key"] == field
        assert "self_hosted" in response.json()["detail"]


# -- push and playback addresses -----------------------------------------------------------
@SH_APP
@SH_APP
async def test_srt_ingest_has_a_port_of_the_range_and_the_key_as_passphrase(
    sh_world: World,
) -> None:
    session = await new_session(sh_world)
    assert session["provider"] == "self_hosted"
    response = await ingest(sh_world, session["id"])
    assert response.status_code == 200, response.text
    body = response.json()
    (endpoint,) = body["endpoints"]
    url = urlparse(endpoint["url"])
    query = parse_qs(url.query)
    assert (url.scheme, url.hostname) == ("srt", "push.example.cn")
    assert url.port is not None and LOW <= url.port <= HIGH
    assert query["passphrase"] == [body["passphrase"]]
    assert 10 <= len(body["passphrase"]) <= 79  # what SRT accepts
    assert query["streamid"] == [f"sh{session['id']}"]
    assert response.headers["cache-control"].startswith("no-store")
    # not for anyone else
    assert (await ingest(sh_world, session["id"], "center")).status_code == 403
    assert (await ingest(sh_world, session["id"], "teacher2")).status_code == 403
    # rotating the key changes the passphrase in the URL
    rotated = (
        await sh_world.post(f"/api/v1/sessions/{session['id']}/ingest/rotate", None, "teacher")
    ).json()
    assert rotated["passphrase"] != body["passphrase"]
    assert f"passphrase={rotated['passphrase']}" in rotated["endpoints"][0]["url"]


@SH_APP
async def test_rtmp_ingest_for_obs_and_phone_apps(sh_world: World) -> None:
    session = await new_session(sh_world, {"ingest": "rtmp"})
    body = (await ingest(sh_world, session["id"])).json()
    (endpoint,) = body["endpoints"]
    key = (await live.session_row(session["id"]))["stream_key"]
    assert endpoint["server"] == "rtmp://push.example.cn:1935/live"
    assert endpoint["stream_key"] == f"sh{session['id']}?key={key}"
    assert endpoint["url"] == f"{endpoint['server']}/{endpoint['stream_key']}"
    assert body["passphrase"] is None


@SH_APP
async def test_playback_is_the_hubs_hls_and_never_the_key(sh_world: World) -> None:
    session = await new_session(sh_world)
    await ingest(sh_world, session["id"])  # makes the key
    key = (await live.session_row(session["id"]))["stream_key"]
    assert key
    response = await sh_world.get(f"/api/v1/sessions/{session['id']}/playback")
    assert response.status_code == 200, response.text
    assert key not in response.text
    (url,) = response.json()["urls"]
    assert url == {
        "protocol": "hls",
        "url": f"http://testserver.local/api/v1/sessions/{session['id']}/hls/index.m3u8",
    }


@SH_APP
async def test_recording_sources(sh_world: World) -> None:
    host: PluginHost = sh_world.app.state.plugins  # type: ignore[attr-defined]
    provider = host.provider("self_hosted")
    srt = await new_session(sh_world)
    row = await live.session_row(srt["id"])
    ctx = await live.context(row, host, host.settings)
    source = provider.recording_source(ctx)
    assert source is not None and source.listen
    url = urlparse(source.url)
    assert (url.scheme, url.hostname, url.port) == ("srt", "0.0.0.0", srt_port(ctx))
    query = parse_qs(url.query)
    assert query["mode"] == ["listener"] and query["passphrase"] == [ctx.stream_key]

    rtmp = await new_session(sh_world, {"ingest": "rtmp"}, starts=T0 + timedelta(days=30))
    ctx = await live.context(await live.session_row(rtmp["id"]), host, host.settings)
    source = provider.recording_source(ctx)
    assert source is not None and not source.listen
    assert source.url == f"rtmp://127.0.0.1:1935/live/sh{rtmp['id']}"
    assert ctx.stream_key not in source.url


# -- SRT ports ------------------------------------------------------------------------------
def claim(session_id: int, hours: float, stored: int | None = None) -> ports.Claim:
    starts = T0 + timedelta(hours=hours)
    return ports.Claim(session_id, starts, starts + timedelta(hours=1), stored)


def test_overlapping_sessions_never_share_a_port() -> None:
    # ids 3 and 6 both prefer port LOW (3 ports in the range)
    plan = ports.plan_ports([claim(3, 0), claim(6, 0.5), claim(9, 10)], LOW, HIGH)
    assert plan[3] == LOW == ports.preferred_port(3, LOW, HIGH)
    assert plan[6] != plan[3] and LOW <= plan[6] <= HIGH
    assert plan[9] == LOW  # ten hours later the port is free again


def test_a_stored_port_wins_over_a_lower_id() -> None:
    plan = ports.plan_ports([claim(3, 0), claim(6, 0, stored=LOW)], LOW, HIGH)
    assert plan == {6: LOW, 3: LOW + 1}


def test_a_full_range_is_an_error() -> None:
    claims = [claim(i, 0) for i in range(1, 5)]
    with pytest.raises(ports.PortsExhausted, match="no free SRT port"):
        ports.plan_ports(claims, LOW, HIGH)


async def stored_ports() -> dict[int, int | None]:
    rows = (
        await LiveSession.select(LiveSession.id, LiveSession.provider_settings)
        .output(load_json=True)
        .run()
    )
    return {r["id"]: (r["provider_settings"] or {}).get("srt_port") for r in rows}


@SH_APP
async def test_assigned_ports_are_stored_and_stay(sh_world: World) -> None:
    day = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    # four sessions on four days: with three ports, two of them want the same port
    ids = [(await new_session(sh_world, starts=day + timedelta(days=i)))["id"] for i in range(4)]
    first = ids[0]
    twin = next(
        i
        for i in ids[1:]
        if ports.preferred_port(i, LOW, HIGH) == ports.preferred_port(first, LOW, HIGH)
    )
    # the teacher API refuses a teacher two overlapping classes; move one underneath it
    await (
        LiveSession.update(
            {
                LiveSession.starts_at: day + timedelta(minutes=30),
                LiveSession.ends_at: day + timedelta(minutes=90),
            }
        )
        .where(LiveSession.id == twin)
        .run()
    )
    assert sorted(await ports.sweep_ports(LOW, HIGH)) == sorted(ids)
    stored = await stored_ports()
    assert stored[first] == ports.preferred_port(first, LOW, HIGH)
    assert stored[twin] != stored[first] and LOW <= (stored[twin] or 0) <= HIGH
    assert await ports.sweep_ports(LOW, HIGH) == []  # stable
    # the teacher sees the stored port
    url = urlparse((await ingest(sh_world, twin)).json()["endpoints"][0]["url"])
    assert url.port == stored[twin]
    # another teacher's class at the same time gets the port left over
    third = await new_session(sh_world, starts=day, course="course2")
    port = await ports.assign_srt_port(third["id"], LOW, HIGH)
    assert {port, stored[first], stored[twin]} == {LOW, LOW + 1, HIGH}
    assert (await stored_ports())[third["id"]] == port
    # an RTMP session holds no SRT port
    rtmp = await new_session(sh_world, {"ingest": "rtmp"}, starts=day + timedelta(days=9))
    assert await ports.sweep_ports(LOW, HIGH) == []
    assert (await stored_ports())[rtmp["id"]] is None


# -- nginx config and command ---------------------------------------------------------------
def test_nginx_config_names_the_callbacks_with_the_secret() -> None:
    settings = Settings(secret_key="k" * 20, public_url="https://hub.example.cn")
    text = render(settings, SelfHostedSettings(rtmp_port=1936), NginxPaths.under(Path("/x")))
    secret = callback_secret(settings)
    assert f"on_publish https://hub.example.cn/api/v1/ingest/rtmp/publish?secret={secret};" in text
    assert "on_publish_done https://hub.example.cn/api/v1/ingest/rtmp/publish-done?secret=" in text
    assert (
        "listen 1936;" in text and "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;" in text
    )
    assert "hls on" not in text  # the hub makes HLS, not nginx
    assert "allow play 127.0.0.1;" in text and "deny play all;" in text
    other = Settings(secret_key="j" * 20, public_url="https://hub.example.cn")
    assert callback_secret(other) != secret
    assert callback_secret(dataclasses.replace(other, ingest_secret="set-by-admin")) == (
        "set-by-admin"
    )


def test_ingest_config_command_prints_a_config_nginx_accepts(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SHAREHUB_DATA_DIR": str(tmp_path / "data"),
        "SHAREHUB_PUBLIC_URL": "http://127.0.0.1:8123",
        "SHAREHUB_PLUGIN__SELF_HOSTED__RTMP_PORT": "19355",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "ingest-config",
            "--prefix",
            str(tmp_path),
            "--foreground",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "listen 19355;" in result.stdout and "daemon off;" in result.stdout
    assert "http://127.0.0.1:8123/api/v1/ingest/rtmp/publish?secret=" in result.stdout
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (apt-get install nginx-core libnginx-mod-rtmp)")
    conf = tmp_path / "rtmp.conf"
    conf.write_text(result.stdout)
    check = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "syntax is ok" in check.stderr


@SH_APP
async def test_serve_task_sweeps_ports_and_prepare_stores_one(sh_world: World) -> None:
    from plugins.self_hosted import provider as module

    host: PluginHost = sh_world.app.state.plugins  # type: ignore[attr-defined]
    (factory,) = module.serve_tasks(host.settings, host)
    session = await new_session(sh_world)
    assert (await stored_ports())[session["id"]] is None
    task = asyncio.create_task(factory())
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while (await stored_ports())[session["id"]] is None:
            assert asyncio.get_running_loop().time() < deadline, "the sweep stored no port"
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert (await stored_ports())[session["id"]] == ports.preferred_port(session["id"], LOW, HIGH)

    later = await new_session(sh_world, starts=datetime.now(UTC) + timedelta(days=60))
    ctx = await live.context(await live.session_row(later["id"]), host, host.settings)
    await host.provider("self_hosted").prepare(ctx)  # type: ignore[attr-defined]
    assert (await stored_ports())[later["id"]] == srt_port(ctx)
    # without the provider loaded there is nothing to run
    bare = PluginHost(Settings(secret_key="k" * 20), entry_points=False)
    assert module.serve_tasks(host.settings, bare) == []
