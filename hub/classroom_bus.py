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
from dataclasses import dataclass
from typing import Any

import asyncpg

from hub import db

log = logging.getLogger("sharehub.classroom")

CHANNEL = "sharehub_classroom"


@dataclass(eq=False)
class Waiter:
    """One open stream: its wake-up, and what it may read (the teacher's view, or a room)."""

    event: asyncio.Event
    teacher: bool
    center_id: int | None


class ClassroomBus:
    """Per process: the streams waiting on each session, and the LISTEN connection."""

    def __init__(self) -> None:
        self.waiting: dict[int, set[Waiter]] = {}
        self.connection: Any = None
        self.connection_loop: asyncio.AbstractEventLoop | None = None
        self.starting: asyncio.Lock | None = None

    def wake(self, session_id: int, audience: str = "all", center_id: int | None = None) -> None:
        """Wake the session's streams that may read a message for ``audience`` (a room's
        stream sleeps through what is for the teacher or another room)."""
        for waiter in list(self.waiting.get(session_id, ())):
            if waiter.teacher or audience == "all" or center_id == waiter.center_id:
                waiter.event.set()

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        parts = payload.split(":")
        with contextlib.suppress(ValueError, IndexError):
            center = int(parts[3]) if len(parts) > 3 and parts[3] else None
            self.wake(int(parts[0]), parts[2] if len(parts) > 2 else "all", center)

    @contextlib.contextmanager
    def listening(
        self, session_id: int, teacher: bool = True, center_id: int | None = None
    ) -> Iterator[asyncio.Event]:
        """An event set whenever the session has a new message this reader may read (clear
        it before reading)."""
        waiter = Waiter(asyncio.Event(), teacher, center_id)
        self.waiting.setdefault(session_id, set()).add(waiter)
        try:
            yield waiter.event
        finally:
            waiters = self.waiting.get(session_id)
            if waiters is not None:
                waiters.discard(waiter)
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


async def notify_in_transaction(
    session_id: int, event_id: int, audience: str, center_id: int | None
) -> None:
    """Inside the message's write transaction: PostgreSQL delivers it at commit, to every
    process (``<session>:<event>:<audience>:<center>``)."""
    if not db.is_sqlite():
        from hub.classroom_tables import ClassroomEvent

        payload = f"{session_id}:{event_id}:{audience}:{center_id or ''}"
        await ClassroomEvent.raw("SELECT pg_notify({}, {})", CHANNEL, payload).run()


def after_commit(session_id: int, audience: str, center_id: int | None) -> None:
    """After the commit: wake this process's streams (SQLite has no other process)."""
    if db.is_sqlite():
        BUS.wake(session_id, audience, center_id)


@contextlib.asynccontextmanager
async def running(_: Any = None) -> Any:
    """App lifespan: close the LISTEN connection when the process stops."""
    try:
        yield
    finally:
        await BUS.close()
