"""Helpers shared by the media tests (imported by name: tests/media is on sys.path).

Ports come from tests/netutil.py; ``free_port`` and ``free_udp_port`` are named here too
because the media tests import them from this module."""

from __future__ import annotations

import uuid
from pathlib import Path

from hub.storage import S3Storage
from tests.netutil import free_port as free_port
from tests.netutil import free_udp_port as free_udp_port

MiB = 1024 * 1024
SOURCE_SECONDS = 12


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
