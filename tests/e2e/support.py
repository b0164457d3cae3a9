"""Real parts for end-to-end tests: the hub on a real TCP port, nginx with the RTMP module,
ffmpeg pushers, and polling without fixed sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from hub.app import create_app
from hub.settings import Settings
from media.commands import test_source_cmd
from media.ffmpeg_bin import find_ffmpeg
from plugins.self_hosted.nginx import NginxPaths, render
from plugins.self_hosted.provider import SelfHostedSettings
from tests.conftest import World, hub_settings, seed
from tests.netutil import free_port, stop
from tests.netutil import free_udp_port as free_udp_port

T = TypeVar("T")
RTMP_MODULE = SelfHostedSettings().nginx_module
PUSH_SIZE = "640x360"
"""Test pushes are smaller than 720p: four agents share two cores on these machines."""
free_tcp_port = free_port
"""tests/netutil.py's ``free_port``, by the name the e2e and fault tests import."""


def nginx_missing() -> str | None:
    """Why nginx tests cannot run here, or None (scripts/apt-packages.txt installs both)."""
    if shutil.which("nginx") is None:
        return "nginx is not installed (apt-get install nginx-core libnginx-mod-rtmp)"
    if not Path(RTMP_MODULE).exists():
        return (
            f"the nginx RTMP module is missing ({RTMP_MODULE}: apt-get install libnginx-mod-rtmp)"
        )
    return None


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, within: float = 60.0, every: float = 0.2
) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(every)


def e2e_settings(data_dir: Path, database_url: str, hub_port: int, **plugin: str) -> Settings:
    """conftest's settings, served on a real port, with the self-hosted provider's options."""
    base = hub_settings(data_dir, database_url)
    return dataclasses.replace(
        base,
        public_url=f"http://127.0.0.1:{hub_port}",
        segment_seconds=2,
        embedded_worker="off",
        plugin_options={"self_hosted": {"public_host": "127.0.0.1", **plugin}},
    )


@contextlib.asynccontextmanager
async def served_hub(settings: Settings, port: int) -> AsyncIterator[tuple[World, Any]]:
    """The hub app under uvicorn on ``port`` in this event loop (nginx must reach it over
    TCP), with conftest's seeded programme and a client talking HTTP to it."""
    app = create_app(settings, manage_db=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # raises what stopped the server
        return server.started

    try:
        await eventually(started, "uvicorn to start", within=30)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            world = World(client=client)
            await seed(world)
            yield world, app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@contextlib.contextmanager
def running_nginx(
    settings: Settings, options: SelfHostedSettings, prefix: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """nginx from the generated config, in the foreground, with its own prefix."""
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render(settings, options, NginxPaths.under(prefix), daemon=False))
    error_log = prefix / "error.log"
    command = ["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(error_log)]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise AssertionError(f"nginx exited with {process.returncode}: {output}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", options.rtmp_port), timeout=1),
            ):
                break
            if time.monotonic() > deadline:
                raise AssertionError("nginx did not listen within 20 s")
            time.sleep(0.1)
        yield process
    finally:
        stop(process, timeout=15)


async def start_push(url: str, seconds: float, fmt: str) -> asyncio.subprocess.Process:
    """An ffmpeg encoder pushing lavfi test video and a tone, paced in real time."""
    command = test_source_cmd(url, seconds, fmt, size=PUSH_SIZE, binary=find_ffmpeg())
    return await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process, within: float) -> tuple[int, str]:
    """Wait for a pusher; its exit status and what it printed."""
    try:
        _, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        _, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, err.decode(errors="replace")


async def status_of(world: World, session_id: int) -> str:
    response = await world.get(f"/api/v1/sessions/{session_id}", "teacher")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def media_segments(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def decode_segment(path: Path) -> dict[str, Any]:
    """Decode one segment fully with ffmpeg; what it found."""
    result = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
        check=False,
    )
    return {
        "returncode": result.returncode,
        "video": "Video: h264" in result.stderr,
        "audio": "Audio: aac" in result.stderr,
        "frames": result.stderr.count("frame="),
        "stderr": result.stderr[-600:],
    }
