"""Reading many rows without holding them: one cursor, batches, the next read overlapping the
caller's work. Used by the exports and the impact figures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from hub import db

BATCH = 5000


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


async def fetch_batches(
    sql: str, args: Sequence[Any], batch: int = BATCH
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """The rows of ``sql`` in batches, from one cursor (server-side on PostgreSQL). The next
    batch is read while the caller works on the current one."""
    if db.is_sqlite():
        connection = await raw_sqlite()
        try:
            async with connection.execute(sql, list(args)) as cursor:
                async for rows in _read_ahead(lambda: cursor.fetchmany(batch)):
                    yield rows
        finally:
            await connection.close()
    else:
        async with db.engine().pool.acquire() as connection:  # type: ignore[attr-defined]
            async with connection.transaction(readonly=True):
                cursor = await connection.cursor(pg_placeholders(sql), *args)
                async for rows in _read_ahead(lambda: cursor.fetch(batch)):
                    yield rows


async def _read_ahead(
    read: Callable[[], Awaitable[Sequence[Sequence[Any]]]],
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """Yield batches from ``read`` with the next read already under way; a consumer that
    stops early waits for that read before the connection is given back."""
    ahead: asyncio.Future[Sequence[Sequence[Any]]] = asyncio.ensure_future(read())
    try:
        while rows := await ahead:
            ahead = asyncio.ensure_future(read())
            yield rows
    finally:
        if not ahead.done():
            with contextlib.suppress(Exception):
                await ahead
