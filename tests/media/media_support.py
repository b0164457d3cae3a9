"""Helpers shared by the media tests (imported by name: tests/media is on sys.path)."""

from __future__ import annotations

import socket
import sys
import uuid
from pathlib import Path

from hub.storage import S3Storage

MiB = 1024 * 1024
SOURCE_SECONDS = 12


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def moto_command(port: int) -> list[str]:
    script = Path(sys.executable).parent / "moto_server"
    if script.exists():
        return [str(script), "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def make_s3(endpoint: str, bucket: str | None = None, **options: object) -> S3Storage:
    return S3Storage(
        endpoint,
        bucket or f"sharehub-{uuid.uuid4().hex[:12]}",
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        **options,  # type: ignore[arg-type]
    )


def assert_no_open_uploads(storage: S3Storage) -> None:
    uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
    assert uploads == [], f"unfinished multipart uploads left behind: {uploads}"


async def download(storage: S3Storage, prefix: str, dest: Path) -> Path:
    """Copy every object under `prefix/` into `dest`, keeping names relative to the prefix."""
    for key in await storage.list(f"{prefix}/"):
        await storage.get_file(key, dest / key[len(prefix) + 1 :])
    return dest
