"""Wake-ups for the classroom's server-sent event streams, across serve processes.

The messages themselves are in the database (``classroom_event``); the bus only tells the
streams of a session that there is something new to read. On PostgreSQL a message's
transaction sends ``NOTIFY sharehub_classroom, '<session>:<event>'`` (delivered at commit, to
every process), and each process keeps one asyncpg connection that ``LISTEN``s and wakes its
local streams. On the embedded SQLite (one process) the writer wakes them directly after the
commit. A missed wake-up costs at most one keep-alive interval: every stream reads the table
again then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import asyncpg

from hub import db

log = logging.getLogger("sharehub.classroom")

CHANNEL = "sharehub_classroom"


class ClassroomBus:
    """Per process: the streams waiting on each session, and the LISTEN connection."""

    def __init__(self) -> None:
        self.waiting: dict[int, set[asyncio.Event]] = {}
        self.connection: Any = None
        self.connection_loop: asyncio.AbstractEventLoop | None = None
        self.starting: asyncio.Lock | None = None

    def wake(self, session_id: int) -> None:
        for event in list(self.waiting.get(session_id, ())):
            event.set()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        head, _, _ = payload.partition(":")
        with contextlib.suppress(ValueError):
            self.wake(int(head))

    @contextlib.contextmanager
    def listening(self, session_id: int) -> Iterator[asyncio.Event]:
        """An event set whenever the session has a new message (clear it before reading)."""
        event = asyncio.Event()
        self.waiting.setdefault(session_id, set()).add(event)
        try:
            yield event
        finally:
            waiters = self.waiting.get(session_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    self.waiting.pop(session_id, None)

    async def ensure_listening(self) -> None:
        """On PostgreSQL: the process's LISTEN connection (opened on first use, again after a
        loss). Nothing on SQLite."""
        if db.is_sqlite():
            return
        loop = asyncio.get_running_loop()
        if self.connection is not None and self.connection_loop is loop:
            if not self.connection.is_closed():
                return
        if self.starting is None or self.connection_loop is not loop:
            self.starting = asyncio.Lock()
            self.connection = None
            self.connection_loop = loop
        async with self.starting:
            if self.connection is not None and not self.connection.is_closed():
                return
            dsn = str(db.engine().config.get("dsn", ""))  # type: ignore[attr-defined]
            conn = await asyncpg.connect(dsn)
            await conn.add_listener(CHANNEL, self._notified)
            self.connection = conn
            log.info("classroom: listening on %s", CHANNEL)

    async def close(self) -> None:
        conn, self.connection = self.connection, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close()


BUS = ClassroomBus()
"""The process's bus (streams and writers of this process share it)."""


async def notify_in_transaction(session_id: int, event_id: int) -> None:
    """Inside the message's write transaction: PostgreSQL delivers it at commit."""
    if not db.is_sqlite():
        from hub.classroom_tables import ClassroomEvent

        await ClassroomEvent.raw(
            "SELECT pg_notify({}, {})", CHANNEL, f"{session_id}:{event_id}"
        ).run()


def after_commit(session_id: int) -> None:
    """After the commit: wake this process's streams (SQLite has no other process)."""
    if db.is_sqlite():
        BUS.wake(session_id)


@contextlib.asynccontextmanager
async def running(_: Any = None) -> Any:
    """App lifespan: close the LISTEN connection when the process stops."""
    try:
        yield
    finally:
        await BUS.close()
