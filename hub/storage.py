"""Object storage for recordings: one key layout on a local directory or any S3 endpoint.

Keys look like `sessions/{id}/hls/seg_00001.ts`. Every method a caller awaits runs its
blocking work in a thread (`asyncio.to_thread`), so the event loop never waits on disk or
network. When the store cannot be reached, methods raise StorageUnavailable, so a caller
can spool locally and retry later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import boto3
import botocore.exceptions
from botocore.config import Config

from hub import metrics
from hub.multipart import MiB, file_md5, upload_multipart
from hub.settings import Settings

log = logging.getLogger("sharehub.media")

_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".mp4": "video/mp4"}
_UNAVAILABLE_CODES = {"ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout"}


class StorageError(Exception):
    """The store refused or failed an operation."""


class StorageUnavailable(StorageError):
    """The store cannot be reached now; keep the data locally and try again later."""


class ObjectMissing(StorageError):
    """No object under this key."""


class UploadMismatch(StorageError):
    """After an upload the stored object's size or ETag differs from the local file."""


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative key (no leading slash, no `..`, no empty part)."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid storage key {key!r}: use relative keys like 'sessions/1/x.ts'")
    return key


def content_type_for(key: str) -> str:
    """The Content-Type to store with `key` (HLS types included)."""
    suffix = Path(key).suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


@runtime_checkable
class Storage(Protocol):
    """What the recorder and the finalizer need from a store."""

    async def put_file(self, key: str, path: Path) -> int:
        """Store a local file under `key`; return its size in bytes."""
        ...

    async def put_bytes(self, key: str, data: bytes) -> int:
        """Store `data` under `key`; return its size."""
        ...

    async def get_bytes(self, key: str) -> bytes:
        """The object's content; ObjectMissing if there is none."""
        ...

    async def get_file(self, key: str, path: Path) -> int:
        """Download the object to `path`; return its size."""
        ...

    async def exists(self, key: str) -> bool:
        """True if an object is stored under `key`."""
        ...

    async def size(self, key: str) -> int | None:
        """The object's size in bytes, or None if there is none."""
        ...

    async def list(self, prefix: str = "") -> list[str]:
        """Keys that start with `prefix`, sorted."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; no error if it is already gone."""
        ...

    def url_for(self, key: str, expires: int = 3600) -> str:
        """A URL a viewer can fetch the object from."""
        ...


class LocalStorage:
    """Objects as files under `root` (the embedded default; the hub serves `/media/{key}`)."""

    def __init__(self, root: Path, base_url: str = "/media") -> None:
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path_for(self, key: str) -> Path:
        return self.root / check_key(key)

    @contextlib.contextmanager
    def _disk(self, action: str, key: str) -> Iterator[None]:
        try:
            yield
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectMissing(f"no object {key!r} in {self.root}") from exc
        except OSError as exc:
            raise StorageUnavailable(
                f"local storage {self.root} failed to {action} {key!r}: {exc}"
            ) from exc

    def _write(self, key: str, write: Any) -> int:
        target = self.path_for(key)
        with self._disk("write", key):
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
            try:
                write(temporary)
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
            return target.stat().st_size

    def _put_file(self, key: str, path: Path) -> int:
        expected = Path(path).stat().st_size  # a missing source is the caller's error
        stored = self._write(key, lambda tmp: shutil.copyfile(path, tmp))
        if stored != expected:
            raise UploadMismatch(f"{key}: stored {stored} bytes, file has {expected}")
        return stored

    async def put_file(self, key: str, path: Path) -> int:
        return await metrics.counted_upload("local", asyncio.to_thread(self._put_file, key, path))

    async def put_bytes(self, key: str, data: bytes) -> int:
        write = asyncio.to_thread(self._write, key, lambda tmp: Path(tmp).write_bytes(data))
        return await metrics.counted_upload("local", write)

    def _read(self, key: str) -> bytes:
        with self._disk("read", key):
            return self.path_for(key).read_bytes()

    async def get_bytes(self, key: str) -> bytes:
        return await asyncio.to_thread(self._read, key)

    def _get_file(self, key: str, path: Path) -> int:
        with self._disk("read", key):
            source = self.path_for(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)
            return path.stat().st_size

    async def get_file(self, key: str, path: Path) -> int:
        return await asyncio.to_thread(self._get_file, key, path)

    def _size(self, key: str) -> int | None:
        target = self.path_for(key)
        return target.stat().st_size if target.is_file() else None

    async def size(self, key: str) -> int | None:
        return await asyncio.to_thread(self._size, key)

    async def exists(self, key: str) -> bool:
        return await self.size(key) is not None

    def _list(self, prefix: str) -> list[str]:
        if not self.root.is_dir():
            return []
        keys = []
        for directory, _, files in os.walk(self.root):
            for name in files:
                if name.startswith(".") and name.endswith(".part"):
                    continue
                key = (Path(directory) / name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    async def list(self, prefix: str = "") -> list[str]:
        return await asyncio.to_thread(self._list, prefix)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path_for(key).unlink, True)

    def url_for(self, key: str, expires: int = 3600) -> str:
        return f"{self.base_url}/{check_key(key)}"


class S3Storage:
    """Objects in a bucket of any S3-compatible endpoint (MinIO, Ceph, COS, OSS, AWS)."""

    def __init__(
        self,
        endpoint_url: str | None,
        bucket: str,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        addressing_style: Literal["path", "virtual", "auto"] = "path",
        create_bucket: bool = True,
        *,
        part_size: int = 8 * MiB,
        multipart_threshold: int | None = None,
        part_attempts: int = 4,
        part_backoff: float = 0.5,
        max_attempts: int = 2,
        connect_timeout: float = 3.0,
        read_timeout: float = 15.0,
        view_connect_timeout: float = 1.5,
        view_read_timeout: float = 2.0,
        verify_etag: bool = True,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.bucket = bucket
        self.region = region
        self.create_bucket = create_bucket
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold or part_size
        self.part_attempts = part_attempts
        self.part_backoff = part_backoff
        self.verify_etag = verify_etag
        self._bucket_ready = False
        config = Config(
            region_name=region,
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # Several S3-compatible stores reject the newer default CRC checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session()
        self.client: Any = session.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )
        # Reads a viewer waits on (playlists, object checks): short timeouts and one retry,
        # so a store that refuses or hangs answers StorageUnavailable in seconds.
        self.reader: Any = session.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config.merge(
                Config(
                    retries={"total_max_attempts": 2, "mode": "standard"},
                    connect_timeout=view_connect_timeout,
                    read_timeout=view_read_timeout,
                )
            ),
        )

    def __repr__(self) -> str:
        return f"S3Storage({self.endpoint_url!r}, bucket={self.bucket!r})"

    @contextlib.contextmanager
    def _s3(self, action: str, key: str = "") -> Iterator[None]:
        where = f"{self.endpoint_url or 'AWS'} bucket {self.bucket!r}"
        try:
            yield
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
            raise StorageUnavailable(
                f"cannot reach S3 at {where} to {action} {key!r}: {exc}"
            ) from exc
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise ObjectMissing(f"no object {key!r} in {where}") from exc
            if status >= 500 or code in _UNAVAILABLE_CODES:
                message = f"S3 at {where} failed to {action} {key!r}: {code}"
                raise StorageUnavailable(message) from exc
            raise StorageError(f"S3 at {where} refused to {action} {key!r}: {code} {exc}") from exc

    # -- bucket ---------------------------------------------------------------------------
    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._s3("check bucket"):
            try:
                self.client.head_bucket(Bucket=self.bucket)
                missing = False
            except botocore.exceptions.ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code not in ("404", "NoSuchBucket", "NotFound"):
                    raise
                missing = True
            if missing and not self.create_bucket:
                raise StorageError(
                    f"bucket {self.bucket!r} does not exist at {self.endpoint_url}: create it "
                    "or allow create_bucket"
                )
            if missing:
                options: dict[str, Any] = {}
                if self.region != "us-east-1":
                    options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
                with contextlib.suppress(self.client.exceptions.BucketAlreadyOwnedByYou):
                    self.client.create_bucket(Bucket=self.bucket, **options)
                log.info("created bucket %s at %s", self.bucket, self.endpoint_url)
        self._bucket_ready = True

    async def ensure_bucket(self) -> None:
        """Check the bucket exists, creating it when `create_bucket` allows."""
        await asyncio.to_thread(self._ensure_bucket)

    # -- writes ---------------------------------------------------------------------------
    def _verify(self, key: str, size: int, etag: str | None) -> None:
        with self._s3("verify", key):
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        if int(head["ContentLength"]) != size:
            raise UploadMismatch(
                f"{key}: S3 holds {head['ContentLength']} bytes after upload, file has {size}"
            )
        if self.verify_etag and etag and head.get("ETag") != etag:
            raise UploadMismatch(f"{key}: S3 ETag {head.get('ETag')} differs from local {etag}")

    def _put_file(self, key: str, path: Path) -> int:
        check_key(key)
        path = Path(path)
        size = path.stat().st_size
        self._ensure_bucket()
        extra = {"ContentType": content_type_for(key)}
        with self._s3("upload", key):
            if size >= self.multipart_threshold:
                result = upload_multipart(
                    self.client,
                    self.bucket,
                    key,
                    path,
                    part_size=self.part_size,
                    attempts=self.part_attempts,
                    backoff=self.part_backoff,
                    extra_args=extra,
                )
                etag = result.etag
            else:
                etag = file_md5(path)
                with path.open("rb") as body:
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
        self._verify(key, size, etag)
        return size

    async def put_file(self, key: str, path: Path) -> int:
        return await metrics.counted_upload("s3", asyncio.to_thread(self._put_file, key, path))

    def _put_bytes(self, key: str, data: bytes) -> int:
        check_key(key)
        self._ensure_bucket()
        with self._s3("upload", key):
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type_for(key)
            )
        self._verify(key, len(data), None)
        return len(data)

    async def put_bytes(self, key: str, data: bytes) -> int:
        return await metrics.counted_upload("s3", asyncio.to_thread(self._put_bytes, key, data))

    # -- reads ----------------------------------------------------------------------------
    def _get_bytes(self, key: str) -> bytes:
        with self._s3("download", key):
            response = self.reader.get_object(Bucket=self.bucket, Key=check_key(key))
            return bytes(response["Body"].read())

    async def get_bytes(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get_bytes, key)

    def _get_file(self, key: str, path: Path) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.part")
        with self._s3("download", key):
            self.client.download_file(self.bucket, check_key(key), str(temporary))
        os.replace(temporary, path)
        return path.stat().st_size

    async def get_file(self, key: str, path: Path) -> int:
        return await asyncio.to_thread(self._get_file, key, path)

    def _size(self, key: str) -> int | None:
        try:
            with self._s3("check", key):
                head = self.reader.head_object(Bucket=self.bucket, Key=check_key(key))
        except ObjectMissing:
            return None
        return int(head["ContentLength"])

    async def size(self, key: str) -> int | None:
        return await asyncio.to_thread(self._size, key)

    async def exists(self, key: str) -> bool:
        return await self.size(key) is not None

    def _list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        with self._s3("list", prefix):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    async def list(self, prefix: str = "") -> list[str]:
        return await asyncio.to_thread(self._list, prefix)

    def _delete(self, key: str) -> None:
        with self._s3("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=check_key(key))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    # -- URLs and housekeeping ------------------------------------------------------------
    def presigned_url(self, key: str, expires: int = 3600) -> str:
        """A time-limited GET URL for `key` (signed locally, no request is made)."""
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": check_key(key)},
                ExpiresIn=expires,
            )
        )

    def url_for(self, key: str, expires: int = 3600) -> str:
        return self.presigned_url(key, expires)

    def _abort_stale_uploads(self, prefix: str, older_than: timedelta) -> int:
        cutoff = datetime.now(UTC) - older_than
        aborted = 0
        with self._s3("abort stale uploads under", prefix):
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] > cutoff:
                        continue
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    log.info("aborted stale upload of %s", upload["Key"])
                    aborted += 1
        return aborted

    async def abort_stale_uploads(
        self, prefix: str = "", older_than: timedelta = timedelta(0)
    ) -> int:
        """Abort unfinished multipart uploads under `prefix` started before `older_than` ago."""
        return await asyncio.to_thread(self._abort_stale_uploads, prefix, older_than)


def storage_for(settings: Settings) -> Storage:
    """The store the settings name: an S3 endpoint, or the local storage directory."""
    if settings.uses_s3:
        return S3Storage(
            settings.s3_endpoint_url,
            settings.s3_bucket,
            settings.s3_access_key or None,
            settings.s3_secret_key or None,
            region=settings.s3_region,
            addressing_style=settings.s3_addressing_style,  # type: ignore[arg-type]
        )
    return LocalStorage(settings.storage_dir, base_url="/media")
