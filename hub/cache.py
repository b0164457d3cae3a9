"""A short-lived, per-process cache of anonymous read answers (the public schedule).

A class-start rush is thousands of identical anonymous reads. Each process keeps an encoded
answer for ``ttl`` seconds; any write handled by this process empties it at once, and other
processes see the write within ``ttl``. Nothing here is needed by another process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from litestar.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("sharehub.cache")

READS = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_WRITES = ("/beacons", "/beacons/check")
"""POST paths that change no schedule data (player beacons): they keep the cache."""


class ResponseCache:
    def __init__(self, ttl: float, max_entries: int = 512) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, int, bytes]] = OrderedDict()
        self._making: dict[str, tuple[int, asyncio.Future[bytes]]] = {}
        self.generation = 0

    async def shared(self, key: str, make: Callable[[], Awaitable[bytes]]) -> bytes:
        """The answer kept for ``key``, else ``make()``'s (kept unless a write happened while
        it was made). Requests that miss while it is being made, with no write since, wait for
        that one answer, so a rush renders it once; an error (404, 409) goes to each of them
        and is never kept."""
        if self.ttl <= 0:
            return await make()
        body = self.get(key)
        if body is not None:
            return body
        generation = self.generation
        pending = self._making.get(key)
        if pending is not None and pending[0] == generation:
            return await asyncio.shield(pending[1])
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._making[key] = (generation, future)
        try:
            body = await make()
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        finally:
            if self._making.get(key, (0, None))[1] is future:
                del self._making[key]
        future.set_result(body)
        self.put(key, body, generation)
        return body

    def get(self, key: str) -> bytes | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, generation, body = entry
        if generation != self.generation or expires < time.monotonic():
            self._entries.pop(key, None)
            return None
        self._entries.move_to_end(key)  # least recently used goes first when full
        return body

    def put(self, key: str, body: bytes, generation: int) -> None:
        """Keep ``body`` unless a write happened since ``generation`` was read."""
        if self.ttl <= 0 or generation != self.generation:
            return
        self._entries[key] = (time.monotonic() + self.ttl, generation, body)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()


T = TypeVar("T")


class Remembered(Generic[T]):
    """Values this process worked out from a credential (who a token or a cookie is), kept for
    ``ttl`` seconds and forgotten with the read cache's answers on any write here (a sign-out,
    a revoked token, a deactivated user). Another process sees such a change within ``ttl``.
    Keys are the credentials' digests, never the secrets."""

    def __init__(self, cache: ResponseCache, ttl: float, max_entries: int = 4096) -> None:
        self.cache = cache
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[float, int, T]] = OrderedDict()

    async def get(self, key: bytes, make: Callable[[], Awaitable[T]]) -> T:
        if self.ttl <= 0:
            return await make()
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and entry[1] == self.cache.generation and entry[0] > now:
            return entry[2]
        generation = self.cache.generation
        value = await make()
        if generation == self.cache.generation:  # no write while it was worked out
            self._entries[key] = (now + self.ttl, generation, value)
            self._entries.move_to_end(key)
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value


class InvalidateOnWrite:
    """Empties the cache after every request that may have changed data, once it is done."""

    def __init__(self, app: ASGIApp, cache: ResponseCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if (
                scope["type"] == "http"
                and scope["method"] not in READS
                and not scope["path"].endswith(NOT_WRITES)
            ):
                self.cache.invalidate()


class Shared(Generic[T]):
    """Values worked out at most once per ``ttl`` per process and key, shared by all callers.

    An entry is stamped when its value is ready (not when the work began), so a value that
    took longer than ``ttl`` to compute is still kept for ``ttl``. The first caller that
    misses starts the work in a task of its own; callers arriving meanwhile wait for that
    one value (a caller that gives up does not cancel it). With ``stale`` an expired value
    is answered at once while one refresh runs behind it, so after the first computation
    no caller waits for the figures. ``lanes`` bounds how many computations (any key) run
    at once in this process, so callers asking for many different keys queue rather than
    pile up. With ``after_writes`` (a read cache) a value worked out before a write this
    process handled is not answered again. An error reaches the callers that waited for it
    and is never kept.
    """

    def __init__(
        self,
        ttl: float,
        max_entries: int = 64,
        stale: bool = False,
        lanes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        after_writes: ResponseCache | None = None,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.stale = stale
        self.clock = clock
        self.after_writes = after_writes
        self._lanes = asyncio.Semaphore(lanes) if lanes else None
        self._entries: OrderedDict[str, tuple[float, int, T]] = OrderedDict()
        self._making: dict[tuple[str, int], asyncio.Task[T]] = {}
        self.computed = 0
        """How many values this cache worked out (tests and benchmarks read it)."""

    def _generation(self) -> int:
        return self.after_writes.generation if self.after_writes is not None else 0

    async def get(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        generation = self._generation()
        entry = self._entries.get(key)
        if entry is not None and entry[1] == generation:
            ready_at, _, value = entry
            if self.clock() - ready_at < self.ttl:
                self._entries.move_to_end(key)
                return value
            if self.stale:
                self._start(key, generation, make)
                return value
        return await asyncio.shield(self._start(key, generation, make))

    def _start(
        self, key: str, generation: int, make: Callable[[], Awaitable[T]]
    ) -> asyncio.Task[T]:
        task = self._making.get((key, generation))
        if task is None:
            task = asyncio.get_running_loop().create_task(self._make(key, generation, make))
            self._making[(key, generation)] = task
            task.add_done_callback(_retrieve)
        return task

    async def _make(self, key: str, generation: int, make: Callable[[], Awaitable[T]]) -> T:
        try:
            if self._lanes is None:
                value = await make()
            else:
                async with self._lanes:
                    value = await make()
            self.computed += 1
            if generation == self._generation():  # no write while it was worked out
                self._entries[key] = (self.clock(), generation, value)  # stamped when ready
                self._entries.move_to_end(key)
                if len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            return value
        finally:
            self._making.pop((key, generation), None)

    def forget(self) -> None:
        self._entries.clear()


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Log a computation's error (a background refresh has nobody else to tell)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("shared value not refreshed: %r", exc)
