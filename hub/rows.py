"""Small reads straight from the connection pool: one SQL string with ``?`` placeholders, rows
that index by column alias (``fetch``) or by position (``fetch_plain``), no ORM object per row
and no query builder per request.

The hot lists (sessions on the API and the pages) are read this way; Piccolo builds everything
else. Column types come back as Piccolo stores them (``TIMESTAMPTZ`` columns as aware datetimes
on both backends: the SQLite pool's connections parse declared types with Piccolo's
converters), except what a query selects as an expression: ``moment_sql`` reads a time column
as text on SQLite, and ``moment`` makes it the same aware datetime, once per distinct value.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hub import db
from hub.rowstream import pg_placeholders

Row = Mapping[str, Any]


async def fetch(sql: str, args: Sequence[Any] = ()) -> list[Row]:
    """All rows of a small query (a page of a list), on a pooled connection."""
    if db.is_sqlite():
        return await db.engine()._run_in_new_connection(sql, list(args))  # type: ignore[attr-defined,no-any-return]
    return await _pg_fetch(sql, args)


async def fetch_plain(sql: str, args: Sequence[Any] = ()) -> Sequence[Sequence[Any]]:
    """All rows of a small query as positional rows (tuples on SQLite, records on
    PostgreSQL): no dict per row."""
    if db.is_sqlite():
        return await db.engine().run_plain(sql, list(args))  # type: ignore[attr-defined,no-any-return]
    return await _pg_fetch(sql, args)


async def _pg_fetch(sql: str, args: Sequence[Any]) -> list[Any]:
    engine = db.engine()
    pool = getattr(engine, "pool", None)
    if pool is None:  # a PostgreSQL engine without its pool (a one-off command)
        connection = await engine.get_new_connection()  # type: ignore[attr-defined]
        try:
            return await connection.fetch(_pg(sql), *args)  # type: ignore[no-any-return]
        finally:
            await connection.close()
    async with pool.acquire() as connection:
        return await connection.fetch(_pg(sql), *args)  # type: ignore[no-any-return]


def moment_sql(column: str) -> str:
    """``column`` (a ``TIMESTAMPTZ``) as the select list should read it: as text on SQLite,
    so the pool's per-value converter does not run (``moment`` parses it, once per value); as
    it is on PostgreSQL (asyncpg decodes it)."""
    return f"CAST({column} AS TEXT)" if db.is_sqlite() else column


@functools.lru_cache(maxsize=16384)
def _parsed(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)  # as Piccolo's SQLite converter


def moment(value: str | datetime) -> datetime:
    """A time read through ``moment_sql``: the aware UTC datetime Piccolo would give."""
    return value if isinstance(value, datetime) else _parsed(value)


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
