"""Fixtures for the media tests: a real moto S3 server over HTTP, stores, a test source."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from media_support import (
    SOURCE_SECONDS,
    MiB,
    assert_no_open_uploads,
    free_port,
    make_s3,
    moto_command,
)

from hub.storage import LocalStorage, S3Storage
from media.commands import test_source_cmd


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `moto_server` on a free loopback port for the session; yield its URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            moto_command(port), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto_server did not start: {log_path.read_text()}") from None
            time.sleep(0.1)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest_asyncio.fixture
async def s3_storage(moto_endpoint: str) -> AsyncIterator[S3Storage]:
    """An S3Storage on a fresh bucket; afterwards no multipart upload may be left open."""
    storage = make_s3(moto_endpoint, part_size=5 * MiB, part_backoff=0.01)
    await storage.ensure_bucket()
    yield storage
    assert_no_open_uploads(storage)


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "store")


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> LocalStorage | S3Storage:
    """Each storage test runs on the local directory and on the S3 server."""
    name = "local_storage" if request.param == "local" else "s3_storage"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def source_ts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of 720p test pattern with a tone: H.264 (2 s GOP) and AAC in MPEG-TS."""
    path = tmp_path_factory.mktemp("source") / "class.ts"
    command = test_source_cmd(str(path), SOURCE_SECONDS, "mpegts", realtime=False)
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return path


@pytest.fixture
def child_env() -> dict[str, str]:
    """Environment for child processes that import the project from this checkout."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    return env
