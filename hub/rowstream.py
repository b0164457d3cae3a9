"""Reading many rows without holding them: cursors, batches, the next read overlapping the
caller's work. Used by the exports and the impact figures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from hub import db

BATCH = 5000

T = TypeVar("T")
Rows = Sequence[Sequence[Any]]
Fetch = Callable[[int], Awaitable[Rows]]


def pg_placeholders(sql: str) -> str:
    """``?`` placeholders -> ``$1, $2, ...`` (the SQL here has no literal question marks)."""
    out, n = [], 0
    for part in sql.split("?"):
        out.append(part)
        n += 1
        out.append(f"${n}")
    return "".join(out[:-1])


async def raw_sqlite() -> Any:
    """A connection that returns plain values (no type conversion): the fast read path."""
    import aiosqlite

    engine = db.engine()
    kwargs = {**engine.connection_kwargs, "detect_types": 0}  # type: ignore[attr-defined]
    connection = await aiosqlite.connect(**kwargs)
    await connection.execute("PRAGMA busy_timeout = 30000")
    return connection


class Reader:
    """Queries on one connection in one read transaction (one snapshot), so several cursors
    read consistent rows. Rows are tuples on SQLite, ``asyncpg.Record`` on PostgreSQL (both
    index and unpack alike). Use one operation at a time (``read_ahead`` wraps a fetch)."""

    def __init__(self, connection: Any, sqlite: bool) -> None:
        self.connection = connection
        self.sqlite = sqlite

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> Rows:
        """All rows of a small query (lookup tables)."""
        if self.sqlite:
            async with self.connection.execute(sql, list(args)) as cursor:
                return await cursor.fetchall()  # type: ignore[no-any-return]
        return await self.connection.fetch(pg_placeholders(sql), *args)  # type: ignore[no-any-return]

    async def cursor(self, sql: str, args: Sequence[Any] = ()) -> Fetch:
        """A cursor on ``sql`` (server-side on PostgreSQL): returns ``fetch(n)``, which gives
        the next ``n`` rows or fewer, empty at the end."""
        if self.sqlite:
            cursor = await self.connection.execute(sql, list(args))
            return cursor.fetchmany  # type: ignore[no-any-return]
        cursor = await self.connection.cursor(pg_placeholders(sql), *args)
        return cursor.fetch  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def reading() -> AsyncIterator[Reader]:
    """A ``Reader`` on a connection of its own (SQLite) or of the pool (PostgreSQL)."""
    if db.is_sqlite():
        connection = await raw_sqlite()
        try:
            await connection.execute("BEGIN")  # one snapshot for every cursor
            yield Reader(connection, sqlite=True)
        finally:
            with contextlib.suppress(Exception):
                await connection.rollback()
            await connection.close()
    else:
        async with db.engine().pool.acquire() as connection:  # type: ignore[attr-defined]
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                yield Reader(connection, sqlite=False)


async def fetch_batches(sql: str, args: Sequence[Any], batch: int = BATCH) -> AsyncIterator[Rows]:
    """The rows of ``sql`` in batches, from one cursor (server-side on PostgreSQL). The next
    batch is read while the caller works on the current one."""
    async with reading() as reader:
        fetch = await reader.cursor(sql, args)
        async with contextlib.aclosing(read_ahead(lambda: fetch(batch))) as batches:
            async for rows in batches:
                yield rows


async def read_ahead(read: Callable[[], Awaitable[T | None]]) -> AsyncIterator[T]:
    """Yield what ``read`` gives (until it gives something empty) with the next read already
    under way; a consumer that stops early waits for that read before the connection is
    given back (close this generator, e.g. with ``contextlib.aclosing``, before that)."""
    ahead: asyncio.Future[T | None] = asyncio.ensure_future(read())
    try:
        while rows := await ahead:
            ahead = asyncio.ensure_future(read())
            yield rows
    finally:
        if not ahead.done():
            with contextlib.suppress(Exception):
                await ahead
