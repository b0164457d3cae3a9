"""Fixtures for the media tests: a real moto S3 server over HTTP, stores, a test source."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from media_support import SOURCE_SECONDS, MiB, assert_no_open_uploads, make_s3

from hub.storage import LocalStorage, S3Storage
from media.commands import test_source_cmd
from tests.netutil import moto_server


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `moto_server` on a free loopback port for the session; yield its URL."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


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
