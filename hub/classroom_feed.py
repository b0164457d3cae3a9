"""One read of a session's new classroom messages for all the streams of a process.

When a message is for every room, each of the session's streams (60 rooms and the teacher)
wakes at once; instead of 61 queries, the first one reads the new rows (all audiences) and the
others wait for that read and take what they may see from it. A stream that woke after a
read began waits for the next one (its message may have committed after the read's query),
so nothing is missed. Only the recent rows are kept; a stream further behind (a reconnect
from an old id) reads the table itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from hub.classroom import Viewer
from hub.classroom_tables import ClassroomEvent

KEEP = 2000
"""Recent rows kept per session."""
READ = 500
"""Rows one read takes (more: the next read goes on)."""


class Feed:
    def __init__(self, session_id: int, floor: int) -> None:
        self.session_id = session_id
        self.rows: list[dict[str, Any]] = []
        self.floor = floor
        """Rows with an id up to this are not kept (read the table for them)."""
        self.max_id = floor
        self.tickets = 0
        self.covered = 0
        """Every ticket below this was taken before a completed read began."""
        self.reading: asyncio.Future[None] | None = None
        self.users = 0

    def ticket(self) -> int:
        """Taken by a stream before it reads (after clearing its wake-up)."""
        self.tickets += 1
        return self.tickets - 1

    async def fresh(self, ticket: int) -> None:
        """Until a read that began after ``ticket`` was taken has completed."""
        while self.covered <= ticket:
            if self.reading is None:
                self.reading = asyncio.ensure_future(self._read(self.tickets))
            await asyncio.shield(self.reading)

    async def _read(self, covers: int) -> None:
        try:
            rows: list[dict[str, Any]] = (
                await ClassroomEvent.select()
                .where(
                    (ClassroomEvent.session_id == self.session_id)
                    & (ClassroomEvent.id > self.max_id)
                )
                .order_by(ClassroomEvent.id)
                .limit(READ)
                .run()
            )
            if rows:
                self.rows.extend(rows)
                self.max_id = rows[-1]["id"]
                if len(self.rows) > KEEP:
                    drop = len(self.rows) - KEEP
                    self.floor = self.rows[drop - 1]["id"]
                    del self.rows[:drop]
            if len(rows) < READ:
                self.covered = max(self.covered, covers)
        finally:
            self.reading = None

    def after(self, viewer: Viewer, after: int, limit: int) -> list[dict[str, Any]]:
        """The kept rows the viewer may read after ``after`` (caller checks ``floor``)."""
        out = []
        for row in self.rows:
            if row["id"] <= after:
                continue
            if viewer.teacher or row["audience"] == "all" or row["center_id"] == viewer.center_id:
                out.append(row)
                if len(out) >= limit:
                    break
        return out


FEEDS: dict[int, Feed] = {}


@contextlib.contextmanager
def feed_for(session_id: int, floor: int) -> Iterator[Feed]:
    """The process's feed of a session while a stream uses it (``floor``: the newest id when
    the first stream opened it)."""
    feed = FEEDS.get(session_id)
    if feed is None:
        feed = FEEDS[session_id] = Feed(session_id, floor)
    feed.users += 1
    try:
        yield feed
    finally:
        feed.users -= 1
        if feed.users == 0 and FEEDS.get(session_id) is feed:
            del FEEDS[session_id]
