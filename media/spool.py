"""A local spool for objects that could not be uploaded yet.

Files are kept under `root/objects/` at a path that mirrors their storage key, and an
index (`index.json`) keeps the order they must be uploaded in: a segment before the
playlist that names it. `drain(storage)` uploads them in that order once the store is
back. The spool is bounded: past `max_bytes` it logs a warning and refuses new files
rather than fill the disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from hub.storage import Storage, StorageError, StorageUnavailable, check_key

log = logging.getLogger("sharehub.media")

WARN_EVERY = 30.0
"""Seconds between two warnings of a full spool (it refuses on every sweep meanwhile)."""


@dataclass(frozen=True)
class DrainResult:
    """What one drain did: keys uploaded, keys still waiting, and whether it stopped early."""

    uploaded: list[str]
    remaining: int
    unavailable: bool


class Spool:
    """Objects waiting for the store, in upload order, within a disk budget."""

    def __init__(self, root: Path, max_bytes: int = 2 * 1024**3) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._objects = self.root / "objects"
        self._index_path = self.root / "index.json"
        self._order: list[str] = []
        self._generation: dict[str, int] = {}
        self._drain_lock = asyncio.Lock()
        self.refused_at: float | None = None
        """When (monotonic) the spool last refused a file for want of room, or None."""
        self.refused_bytes = 0
        """Bytes refused since the spool last had room: what waits in the work folder."""
        self._warned_at = 0.0
        self.root.mkdir(parents=True, exist_ok=True)
        if self._index_path.exists():
            saved = json.loads(self._index_path.read_text())
            self._order = [key for key in saved if self._path(key).is_file()]

    def _path(self, key: str) -> Path:
        return self._objects / check_key(key)

    def _save_index(self) -> None:
        temporary = self._index_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._order))
        os.replace(temporary, self._index_path)

    @property
    def pending(self) -> list[str]:
        """Keys waiting to be uploaded, in order."""
        return list(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def bytes_used(self) -> int:
        """Bytes held by the spooled files."""
        return sum(p.stat().st_size for k in self._order if (p := self._path(k)).is_file())

    def _admit(self, key: str, incoming: int) -> bool:
        replaced = self._path(key).stat().st_size if key in self._order else 0
        used = self.bytes_used() - replaced
        if used + incoming > self.max_bytes:
            now = time.monotonic()
            if self.refused_at is None:
                self.refused_bytes = 0
            self.refused_at = now
            self.refused_bytes += incoming
            if now - self._warned_at >= WARN_EVERY:  # once a while, not every sweep
                self._warned_at = now
                log.warning(
                    "spool %s is full (%d of %d bytes used): refusing %s (%d bytes); "
                    "the store has been unreachable for a while, check it or raise the limit",
                    self.root,
                    used,
                    self.max_bytes,
                    key,
                    incoming,
                )
            return False
        self.refused_at = None
        return True

    def full_for(self, seconds: float) -> bool:
        """Whether the spool refused a file within the last `seconds`."""
        return self.refused_at is not None and time.monotonic() - self.refused_at < seconds

    def room_again(self) -> None:
        """The store took a file directly: the spool is no longer refusing anything."""
        self.refused_at = None

    def _store(self, key: str) -> None:
        self._order = [k for k in self._order if k != key] + [key]
        self._generation[key] = self._generation.get(key, 0) + 1
        self._save_index()

    def _write_file(self, key: str, source: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.part")
        temporary.unlink(missing_ok=True)
        try:
            os.link(source, temporary)  # same file system: no copy, no extra space
        except OSError:
            shutil.copyfile(source, temporary)
        os.replace(temporary, target)

    def _write_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.part")
        temporary.write_bytes(data)
        os.replace(temporary, target)

    async def add_file(self, key: str, source: Path) -> bool:
        """Keep `source` for `key`; False (with a warning) when over the bound.

        Adding a key already waiting replaces its content and moves it to the end.
        """
        source = Path(source)
        if not self._admit(key, source.stat().st_size):
            return False
        await asyncio.to_thread(self._write_file, key, source)
        self._store(key)
        return True

    async def add_bytes(self, key: str, data: bytes) -> bool:
        """Keep `data` for `key`; False (with a warning) when over the bound."""
        if not self._admit(key, len(data)):
            return False
        await asyncio.to_thread(self._write_bytes, key, data)
        self._store(key)
        return True

    def _forget(self, key: str, generation: int) -> None:
        if self._generation.get(key, 0) != generation:
            return  # re-added while uploading: the newer content must still go up
        self._order = [k for k in self._order if k != key]
        self._path(key).unlink(missing_ok=True)
        self._save_index()

    async def drain(self, storage: Storage) -> DrainResult:
        """Upload waiting objects in order; stop at the first StorageUnavailable."""
        uploaded: list[str] = []
        async with self._drain_lock:
            while self._order:
                key = self._order[0]
                generation = self._generation.get(key, 0)
                try:
                    await storage.put_file(key, self._path(key))
                except StorageUnavailable as exc:
                    log.info("spool %s: store still unavailable (%s)", self.root, exc)
                    return DrainResult(uploaded, len(self._order), True)
                except StorageError:
                    if self._generation.get(key, 0) == generation:
                        raise
                    continue  # replaced while uploading: the new content goes up next
                self._forget(key, generation)
                uploaded.append(key)
        if uploaded:
            log.info("spool %s: uploaded %d waiting objects", self.root, len(uploaded))
        return DrainResult(uploaded, 0, False)
