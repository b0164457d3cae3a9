"""A real hub on a loopback port, a live HLS stream made by ffmpeg, and Debian's Chromium
driven by Playwright. Skipped (with the reason) when Chromium or Playwright is missing.

Screenshots of the main pages go to ``test-artifacts/screenshots/`` (``SHAREHUB_SCREENSHOTS``
names another folder).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.netutil import free_port, stop, wait_http

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SHAREHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
]
SCREENSHOTS = Path(os.environ.get("SHAREHUB_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))
PASSWORD = "browser-pass-1"
TIMEOUT_MS = 60_000  # slow, shared 2-core machines: wait for things, never sleep


class CorsHandler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class LiveHls:
    url: str
    folder: Path


@pytest.fixture(scope="session")
def live_hls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHls]:
    """A live HLS stream (event playlist growing every 2 s) made by ffmpeg from a test
    pattern, served over HTTP with CORS like a CDN would."""
    from media.ffmpeg_bin import find_ffmpeg

    folder = tmp_path_factory.mktemp("hls")
    cmd = [
        find_ffmpeg(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=426x240:rate=25",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "600",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "50",
        "-keyint_min",
        "50",
        "-sc_threshold",
        "0",
        "-b:v",
        "300k",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-f",
        "hls",
        "-hls_time",
        "2",
        "-hls_playlist_type",
        "event",
        "-hls_flags",
        "temp_file",
        str(folder / "index.m3u8"),
    ]
    encoder = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    handler = functools.partial(CorsHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveHls(f"http://127.0.0.1:{server.server_address[1]}/index.m3u8", folder)
    finally:
        server.shutdown()
        stop(encoder)


@dataclass
class Hub:
    url: str
    ids: dict[str, int]
    data_dir: Path


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory, live_hls: LiveHls) -> Iterator[Hub]:
    """The hub in a subprocess (uvicorn) on a free loopback port, on a seeded SQLite file."""
    if not (ROOT / "hub" / "static" / "vendor" / "hls.light.min.js").exists():
        pytest.skip("hls.js is not installed: run scripts/setup.sh (npm ci)")
    data = tmp_path_factory.mktemp("hub")
    port = free_port()
    srt_low = 20000 + (os.getpid() % 200) * 50  # SRT listener ports apart from other runs
    env = {
        **os.environ,
        "SHAREHUB_DATA_DIR": str(data),
        "SHAREHUB_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SHAREHUB_VIEW_THRESHOLD_SECONDS": "3",
        "SHAREHUB_VIEW_FLUSH_SECONDS": "1",
        "SHAREHUB_PLUGIN__SELF_HOSTED__SRT_LISTEN_HOST": "127.0.0.1",
        "SHAREHUB_PLUGIN__SELF_HOSTED__SRT_PORT_MIN": str(srt_low),
        "SHAREHUB_PLUGIN__SELF_HOSTED__SRT_PORT_MAX": str(srt_low + 49),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("SHAREHUB_DATABASE_URL", None)
    seeded = subprocess.run(
        [sys.executable, "-m", "tests.browser.seed", live_hls.url],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    ids = json.loads(seeded.stdout.strip().splitlines()[-1])
    log = data / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "hub.app:app_factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", process=server, log=log)
        yield Hub(f"http://127.0.0.1:{port}", ids, data)
    finally:
        stop(server)  # the embedded worker hands its recording back first


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Module scope: Playwright's sync API keeps an event loop running in this thread while
    it is open, which the asyncio tests of later modules cannot share."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the Python package playwright is not installed (test extras)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies), Chinese-speaking by default."""
    contexts: list[Any] = []

    def make(locale: str = "zh-CN", **kw: Any) -> Any:
        kw.setdefault("viewport", {"width": 1000, "height": 900})
        context = chromium.new_context(locale=locale, accept_downloads=True, **kw)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Any, hub: Hub, who: str) -> None:
    page.goto(f"{hub.url}/login")
    page.fill("#username", who)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
