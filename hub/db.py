"""Database engines (SQLite embedded, PostgreSQL at scale), table binding, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiosqlite
from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType, dict_factory
from piccolo.table import Table

from hub import piccolo_conf
from hub.piccolo_app import APP_CONFIG

log = logging.getLogger("sharehub.db")

SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys = 1",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 30000",
)


class HubSQLiteEngine(SQLiteEngine):
    """SQLite with WAL and a small pool of open connections.

    Piccolo's SQLite engine opens a connection (and a thread) for every query; keeping a few
    open is what makes reads cheap. Transactions still take a connection of their own.
    """

    def __init__(self, path: str, pool_size: int = 4) -> None:
        super().__init__(path=path, timeout=30)
        self.pool_size = pool_size
        self._pools: dict[int, asyncio.Queue[aiosqlite.Connection]] = {}
        self._opened: dict[int, int] = {}

    async def get_connection(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(**self.connection_kwargs)
        connection.row_factory = dict_factory  # type: ignore[assignment]
        for pragma in SQLITE_PRAGMAS:
            await connection.execute(pragma)
        return connection

    async def _acquire(self) -> aiosqlite.Connection:
        key = id(asyncio.get_running_loop())
        pool = self._pools.setdefault(key, asyncio.Queue())
        if pool.empty() and self._opened.get(key, 0) < self.pool_size:
            self._opened[key] = self._opened.get(key, 0) + 1
            return await self.get_connection()
        return await pool.get()

    def _release(self, connection: aiosqlite.Connection) -> None:
        self._pools[id(asyncio.get_running_loop())].put_nowait(connection)

    async def _run_in_new_connection(
        self,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: type[Table] | None = None,
    ) -> list[dict[str, Any]]:
        connection = await self._acquire()
        try:
            async with connection.execute(query, args or []) as cursor:
                return await cursor.fetchall()  # type: ignore[return-value]
        finally:
            self._release(connection)

    async def run_plain(self, query: str, args: list[Any]) -> list[tuple[Any, ...]]:
        """Rows as plain tuples (no dict per row, for the hot lists of ``hub.rows``)."""
        connection = await self._acquire()
        try:
            async with connection.execute(query, args) as cursor:
                cursor.row_factory = None  # type: ignore[assignment]
                return await cursor.fetchall()  # type: ignore[return-value]
        finally:
            self._release(connection)

    async def close_pool(self) -> None:
        key = id(asyncio.get_running_loop())
        pool = self._pools.pop(key, None)
        self._opened.pop(key, None)
        while pool is not None and not pool.empty():
            await pool.get_nowait().close()


def engine_for(url: str) -> Engine:
    """An engine for a ``sqlite:///path`` or ``postgresql://`` URL."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return HubSQLiteEngine(path=str(path))
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ValueError(f"unsupported database URL scheme {parsed.scheme!r}")
    return PostgresEngine(config={"dsn": url}, log_queries=False)


def bound_tables() -> list[type[Table]]:
    return [*APP_CONFIG.table_classes, Migration]


def bind(engine: Engine) -> None:
    """Point Piccolo (its configuration module and every table) at ``engine``."""
    os.environ["PICCOLO_CONF"] = "hub.piccolo_conf"
    piccolo_conf.DB = engine
    for table in bound_tables():
        table._meta.db = engine


def engine() -> Engine:
    if piccolo_conf.DB is None:
        raise RuntimeError("no database bound: call hub.db.bind() first")
    return piccolo_conf.DB


def is_sqlite() -> bool:
    return engine().engine_type == "sqlite"


@contextlib.asynccontextmanager
async def write_transaction() -> AsyncIterator[None]:
    """A transaction for writes: immediate on SQLite (one writer, no deadlock on upgrade)."""
    db = engine()
    if isinstance(db, SQLiteEngine):
        async with db.transaction(transaction_type=TransactionType.immediate):
            yield
    else:
        async with db.transaction():
            yield


async def open_engine(db: Engine, pool: int = 10) -> None:
    """Open the engine's connections: up to ``pool`` of them on PostgreSQL (``pg_pool``)."""
    if isinstance(db, PostgresEngine):
        await db.start_connection_pool(min_size=1, max_size=pool)


async def close_engine(db: Engine) -> None:
    if isinstance(db, PostgresEngine):
        await db.close_connection_pool()
    elif isinstance(db, HubSQLiteEngine):
        await db.close_pool()


async def migrate() -> list[str]:
    """Run the migrations that have not run yet; returns Piccolo's progress lines."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = await run_forwards(app_name="hub")
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}")
    log.info("migrations: %s", "; ".join(lines))
    return lines
