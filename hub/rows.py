"""Small reads straight from the connection pool: one SQL string with ``?`` placeholders, rows
that index by column alias, no ORM object per row and no query builder per request.

The hot lists (the week's sessions) are read this way; Piccolo builds everything else.
Column types come back as Piccolo stores them (``TIMESTAMPTZ`` columns as aware datetimes on
both backends: the SQLite pool's connections parse declared types with Piccolo's converters).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub import db
from hub.rowstream import pg_placeholders

Row = Mapping[str, Any]


async def fetch(sql: str, args: Sequence[Any] = ()) -> list[Row]:
    """All rows of a small query (a page of a list), on a pooled connection."""
    engine = db.engine()
    if db.is_sqlite():
        return await engine._run_in_new_connection(sql, list(args))  # type: ignore[attr-defined,no-any-return]
    pool = getattr(engine, "pool", None)
    if pool is None:  # a PostgreSQL engine without its pool (a one-off command)
        connection = await engine.get_new_connection()  # type: ignore[attr-defined]
        try:
            return await connection.fetch(_pg(sql), *args)  # type: ignore[no-any-return]
        finally:
            await connection.close()
    async with pool.acquire() as connection:
        return await connection.fetch(_pg(sql), *args)  # type: ignore[no-any-return]


async def fetch_value(sql: str, args: Sequence[Any] = ()) -> Any:
    """The first column of the first row (a count)."""
    rows = await fetch(sql, args)
    if not rows:
        return None
    return next(iter(rows[0].values()))


_PG: dict[str, str] = {}


def _pg(sql: str) -> str:
    """``?`` -> ``$n``, remembered per statement (the lists use a handful of shapes)."""
    found = _PG.get(sql)
    if found is None:
        found = _PG[sql] = pg_placeholders(sql)
        if len(_PG) > 1024:
            _PG.clear()
    return found
