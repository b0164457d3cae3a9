"""Resumable S3 multipart uploads (blocking; S3Storage runs them in a worker thread).

An interrupted upload of the same key is found with ListMultipartUploads and its parts
with ListParts; a part already there with the same size and MD5 ETag is not sent again.
A part that fails is retried with back-off; an upload that cannot finish is aborted so no
incomplete upload is left behind.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("sharehub.media")

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000


@dataclass(frozen=True)
class Part:
    """One part of a file: S3 part number (from 1), byte offset and size."""

    number: int
    offset: int
    size: int


@dataclass(frozen=True)
class MultipartResult:
    """How an upload went: the final ETag, and how many parts were sent or kept."""

    upload_id: str
    etag: str
    parts_sent: int
    parts_reused: int


def plan_parts(file_size: int, part_size: int) -> list[Part]:
    """Split a file into parts of `part_size` (grown if needed to stay within 10,000 parts)."""
    if part_size < MIN_PART_SIZE:
        raise ValueError(f"part size {part_size} is under the S3 minimum of 5 MiB")
    while file_size > part_size * MAX_PARTS:
        part_size *= 2
    parts = []
    offset = 0
    number = 1
    while offset < file_size or number == 1:
        size = min(part_size, file_size - offset)
        parts.append(Part(number, offset, size))
        offset += size
        number += 1
        if size == 0:
            break
    return parts


def multipart_etag(part_digests: list[bytes]) -> str:
    """The ETag S3 gives a completed multipart object: MD5 of the part MD5s, dash, count."""
    joined = hashlib.md5(b"".join(part_digests), usedforsecurity=False).hexdigest()
    return f'"{joined}-{len(part_digests)}"'


def file_md5(path: Path) -> str:
    """The quoted hex MD5 S3 gives an object uploaded in one PUT."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(MiB), b""):
            digest.update(chunk)
    return f'"{digest.hexdigest()}"'


def find_upload(client: Any, bucket: str, key: str) -> str | None:
    """The newest unfinished upload of exactly `key`; older duplicates are aborted."""
    uploads = []
    paginator = client.get_paginator("list_multipart_uploads")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        uploads.extend(u for u in page.get("Uploads", []) if u["Key"] == key)
    if not uploads:
        return None
    uploads.sort(key=lambda u: u["Initiated"])
    for stale in uploads[:-1]:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=stale["UploadId"])
    return str(uploads[-1]["UploadId"])


def list_parts(client: Any, bucket: str, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
    """Parts already uploaded: part number -> (ETag without quotes, size)."""
    parts: dict[int, tuple[str, int]] = {}
    paginator = client.get_paginator("list_parts")
    for page in paginator.paginate(Bucket=bucket, Key=key, UploadId=upload_id):
        for part in page.get("Parts", []):
            parts[int(part["PartNumber"])] = (part["ETag"].strip('"'), int(part["Size"]))
    return parts


def _send_part(
    client: Any,
    bucket: str,
    key: str,
    upload_id: str,
    part: Part,
    data: bytes,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None],
) -> str:
    for attempt in range(1, attempts + 1):
        try:
            response = client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=part.number, Body=data
            )
            return str(response["ETag"])
        except Exception as exc:
            if attempt == attempts:
                raise
            wait = backoff * 2 ** (attempt - 1)
            log.warning(
                "part %d of %s failed (attempt %d of %d, retry in %.2fs): %s",
                part.number,
                key,
                attempt,
                attempts,
                wait,
                exc,
            )
            sleep(wait)
    raise AssertionError("unreachable")


def upload_multipart(
    client: Any,
    bucket: str,
    key: str,
    path: Path,
    *,
    part_size: int,
    attempts: int = 4,
    backoff: float = 0.5,
    extra_args: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> MultipartResult:
    """Upload `path` to `key` in parts, resuming an unfinished upload of the same key."""
    file_size = path.stat().st_size
    upload_id = find_upload(client, bucket, key)
    existing = list_parts(client, bucket, key, upload_id) if upload_id else {}
    if upload_id is None:
        created = client.create_multipart_upload(Bucket=bucket, Key=key, **(extra_args or {}))
        upload_id = str(created["UploadId"])
    else:
        log.info("resuming upload of %s: %d parts already there", key, len(existing))
    digests: list[bytes] = []
    completed: list[dict[str, Any]] = []
    sent = reused = 0
    try:
        with path.open("rb") as handle:
            for part in plan_parts(file_size, part_size):
                handle.seek(part.offset)
                data = handle.read(part.size)
                digest = hashlib.md5(data, usedforsecurity=False).digest()
                digests.append(digest)
                if existing.get(part.number) == (digest.hex(), part.size):
                    etag = f'"{digest.hex()}"'
                    reused += 1
                else:
                    etag = _send_part(
                        client, bucket, key, upload_id, part, data, attempts, backoff, sleep
                    )
                    sent += 1
                completed.append({"PartNumber": part.number, "ETag": etag})
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": completed}
        )
    except BaseException:
        _abort(client, bucket, key, upload_id)
        raise
    return MultipartResult(upload_id, multipart_etag(digests), sent, reused)


def _abort(client: Any, bucket: str, key: str, upload_id: str) -> None:
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        log.warning("aborted the unfinished upload of %s", key)
    except Exception as exc:  # the endpoint may be the thing that failed
        log.warning(
            "could not abort upload %s of %s (%s); it stays resumable, and "
            "abort_stale_uploads() removes it if nobody resumes it",
            upload_id,
            key,
            exc,
        )
