"""Storage on a local directory and on a real S3 server (moto over HTTP)."""

from __future__ import annotations

import asyncio
import os
import urllib.request
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from media_support import MiB, free_port, make_s3

from hub.storage import (
    LocalStorage,
    ObjectMissing,
    S3Storage,
    Storage,
    StorageError,
    StorageUnavailable,
)


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def fetch(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read(), response.headers["Content-Type"]


def count_calls(storage: S3Storage, operation: str) -> list[dict[str, Any]]:
    """Record the parameters of every `operation` request the client sends."""
    calls: list[dict[str, Any]] = []
    storage.client.meta.events.register(
        f"before-parameter-build.s3.{operation}", lambda params, **_: calls.append(dict(params))
    )
    return calls


@pytest.mark.asyncio
async def test_put_get_size_list_delete(storage: Storage, tmp_path: Path) -> None:
    assert isinstance(storage, Storage)
    segment = random_file(tmp_path / "seg.ts", 70_000)
    assert await storage.put_file("sessions/7/hls/seg_00001.ts", segment) == 70_000
    assert await storage.put_bytes("sessions/7/hls/index.m3u8", b"#EXTM3U\n") == 8
    await storage.put_bytes("sessions/8/poster.jpg", b"jpg")
    assert await storage.get_bytes("sessions/7/hls/seg_00001.ts") == segment.read_bytes()
    assert await storage.size("sessions/7/hls/seg_00001.ts") == 70_000
    assert await storage.size("sessions/7/hls/missing.ts") is None
    assert await storage.exists("sessions/7/hls/index.m3u8")
    assert await storage.list("sessions/7/") == [
        "sessions/7/hls/index.m3u8",
        "sessions/7/hls/seg_00001.ts",
    ]
    assert len(await storage.list()) == 3
    copy = tmp_path / "down" / "copy.ts"
    assert await storage.get_file("sessions/7/hls/seg_00001.ts", copy) == 70_000
    assert copy.read_bytes() == segment.read_bytes()
    await storage.delete("sessions/7/hls/seg_00001.ts")
    await storage.delete("sessions/7/hls/seg_00001.ts")  # already gone: no error
    assert not await storage.exists("sessions/7/hls/seg_00001.ts")
    with pytest.raises(ObjectMissing):
        await storage.get_bytes("sessions/7/hls/seg_00001.ts")
    with pytest.raises(ValueError):
        await storage.put_bytes("../escape", b"x")


@pytest.mark.asyncio
async def test_local_url_is_served_by_the_hub(local_storage: LocalStorage) -> None:
    assert local_storage.url_for("sessions/1/replay.mp4") == "/media/sessions/1/replay.mp4"
    await local_storage.put_bytes("sessions/1/replay.mp4", b"mp4")
    assert (local_storage.root / "sessions/1/replay.mp4").read_bytes() == b"mp4"


@pytest.mark.asyncio
async def test_presigned_url_downloads_with_urllib(s3_storage: S3Storage) -> None:
    await s3_storage.put_bytes("sessions/1/poster.jpg", b"\xff\xd8poster")
    url = s3_storage.presigned_url("sessions/1/poster.jpg", expires=60)
    assert "X-Amz-Signature=" in url
    body, content_type = await asyncio.to_thread(fetch, url)
    assert body == b"\xff\xd8poster"
    assert content_type == "image/jpeg"
    assert s3_storage.url_for("sessions/1/poster.jpg").startswith(s3_storage.endpoint_url or "")


@pytest.mark.asyncio
async def test_multipart_upload_of_12_mib(s3_storage: S3Storage, tmp_path: Path) -> None:
    big = random_file(tmp_path / "replay.mp4", 12 * MiB + 12345)
    parts = count_calls(s3_storage, "UploadPart")
    assert await s3_storage.put_file("sessions/2/replay.mp4", big) == big.stat().st_size
    assert [p["PartNumber"] for p in parts] == [1, 2, 3]  # 5 + 5 + 2 MiB
    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key="sessions/2/replay.mp4")
    assert head["ETag"].endswith('-3"') and head["ContentType"] == "video/mp4"
    assert await s3_storage.get_bytes("sessions/2/replay.mp4") == big.read_bytes()


@pytest.mark.asyncio
async def test_interrupted_upload_is_resumed(s3_storage: S3Storage, tmp_path: Path) -> None:
    big = random_file(tmp_path / "replay.mp4", 12 * MiB)
    key = "sessions/3/replay.mp4"
    client, bucket = s3_storage.client, s3_storage.bucket
    # A worker died after sending part 1 of an upload.
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        PartNumber=1,
        Body=big.read_bytes()[: 5 * MiB],
    )
    listed = count_calls(s3_storage, "ListParts")
    sent = count_calls(s3_storage, "UploadPart")
    completed = count_calls(s3_storage, "CompleteMultipartUpload")

    await s3_storage.put_file(key, big)

    assert [call["UploadId"] for call in listed] == [upload_id]
    assert [p["PartNumber"] for p in sent] == [2, 3]  # part 1 was not sent again
    assert completed[0]["UploadId"] == upload_id
    assert [p["PartNumber"] for p in completed[0]["MultipartUpload"]["Parts"]] == [1, 2, 3]
    assert await s3_storage.get_bytes(key) == big.read_bytes()


@pytest.mark.asyncio
async def test_a_changed_part_is_sent_again(s3_storage: S3Storage, tmp_path: Path) -> None:
    big = random_file(tmp_path / "replay.mp4", 11 * MiB)
    key = "sessions/3/changed.mp4"
    client, bucket = s3_storage.client, s3_storage.bucket
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(
        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=os.urandom(5 * MiB)
    )
    sent = count_calls(s3_storage, "UploadPart")
    await s3_storage.put_file(key, big)
    assert [p["PartNumber"] for p in sent] == [1, 2, 3]
    assert await s3_storage.get_bytes(key) == big.read_bytes()


def flaky(original: Any, fails: Any) -> Any:
    calls = {"n": 0}

    def upload_part(**params: Any) -> Any:
        calls["n"] += 1
        if fails(calls["n"], params):
            raise botocore.exceptions.ClientError(
                {
                    "Error": {"Code": "InternalError", "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                "UploadPart",
            )
        return original(**params)

    upload_part.calls = calls  # type: ignore[attr-defined]
    return upload_part


@pytest.mark.asyncio
async def test_one_part_in_ten_failing_still_completes(
    s3_storage: S3Storage, tmp_path: Path
) -> None:
    big = random_file(tmp_path / "replay.mp4", 27 * MiB)  # 6 parts
    wrapper = flaky(s3_storage.client.upload_part, lambda n, _: n % 10 == 3)
    s3_storage.client.upload_part = wrapper
    await s3_storage.put_file("sessions/4/replay.mp4", big)
    assert wrapper.calls["n"] == 7  # 6 parts, one of them twice
    assert await s3_storage.size("sessions/4/replay.mp4") == big.stat().st_size


@pytest.mark.asyncio
async def test_persistent_part_failure_aborts_the_upload(
    s3_storage: S3Storage, tmp_path: Path
) -> None:
    big = random_file(tmp_path / "replay.mp4", 12 * MiB)
    wrapper = flaky(s3_storage.client.upload_part, lambda _, p: p["PartNumber"] == 2)
    s3_storage.client.upload_part = wrapper
    with pytest.raises(StorageError, match="InternalError"):
        await s3_storage.put_file("sessions/5/replay.mp4", big)
    assert wrapper.calls["n"] == 1 + s3_storage.part_attempts  # part 1, then part 2 retried
    assert not await s3_storage.exists("sessions/5/replay.mp4")
    # the s3_storage fixture checks that no multipart upload was left open


@pytest.mark.asyncio
async def test_stale_uploads_are_aborted(s3_storage: S3Storage) -> None:
    client, bucket = s3_storage.client, s3_storage.bucket
    client.create_multipart_upload(Bucket=bucket, Key="sessions/6/replay.mp4")
    client.create_multipart_upload(Bucket=bucket, Key="other/x.mp4")
    assert await s3_storage.abort_stale_uploads("sessions/") == 1
    assert await s3_storage.abort_stale_uploads("other/") == 1


@pytest.mark.asyncio
async def test_bucket_is_created_on_first_write(moto_endpoint: str) -> None:
    storage = make_s3(moto_endpoint)
    await storage.put_bytes("a/b.txt", b"hello")
    assert await storage.get_bytes("a/b.txt") == b"hello"
    refusing = make_s3(moto_endpoint, create_bucket=False)
    with pytest.raises(StorageError, match="does not exist"):
        await refusing.put_bytes("a/b.txt", b"hello")


@pytest.mark.asyncio
async def test_unreachable_endpoint_raises_storage_unavailable(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    storage = make_s3(closed, max_attempts=1, connect_timeout=1)
    segment = random_file(tmp_path / "seg.ts", 1000)
    with pytest.raises(StorageUnavailable, match="cannot reach S3"):
        await storage.put_file("sessions/1/hls/seg_00000.ts", segment)
    with pytest.raises(StorageUnavailable):
        await storage.list("sessions/")
    with pytest.raises(StorageUnavailable):
        await storage.size("sessions/1/hls/seg_00000.ts")


@pytest.mark.asyncio
async def test_local_storage_on_a_broken_disk_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    storage = LocalStorage(blocker / "store")
    with pytest.raises(StorageUnavailable):
        await storage.put_bytes("sessions/1/hls/index.m3u8", b"#EXTM3U\n")
