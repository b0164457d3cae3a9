"""The hot lists read their range from an index, on SQLite and on PostgreSQL (the plans are
printed with ``-s`` and quoted in the README's Signed-in reads)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub import db, rows
from hub.api.sessions import LIST_COLUMNS, LIST_FROM, ListQuery, page_query
from hub.rowstream import pg_placeholders

WEEK = ListQuery(
    lo=datetime(2027, 3, 1, tzinfo=UTC),
    hi=datetime(2027, 3, 1, tzinfo=UTC) + timedelta(days=7),
    public_only=False,
)


async def plan(sql: str, args: list[object]) -> str:
    """The backend's plan of ``sql``; on PostgreSQL with sequential scans priced out, as on
    a programme's real table (an empty test table is cheapest to read whole)."""
    if db.is_sqlite():
        found = await rows.fetch("EXPLAIN QUERY PLAN " + sql, args)
        return "\n".join(str(r["detail"]) for r in found)
    async with db.engine().pool.acquire() as connection:  # type: ignore[attr-defined]
        async with connection.transaction():
            await connection.execute("SET LOCAL enable_seqscan = off")
            found = await connection.fetch("EXPLAIN " + pg_placeholders(sql), *args)
    return "\n".join(r[0] for r in found)


async def test_the_week_of_sessions_is_read_from_the_starts_at_index(database: str) -> None:
    where, args = WEEK.where()
    text = await plan(*page_query(where, args, 50, 0))
    print(f"\n{database.split(':')[0]} plan of the week's sessions:\n{text}")
    assert "live_session_starts" in text, text  # starts_at, or (starts_at, ends_at) on PG
    if db.is_sqlite():
        assert "SCAN s\n" not in text + "\n" and "SCAN live_session" not in text, text
        assert "SCALAR SUBQUERY" in text, text  # the total: counted once, not per row
    else:
        assert "Seq Scan on live_session" not in text, text


async def test_a_centers_bookings_are_read_from_the_center_index(database: str) -> None:
    sql = (
        f"SELECT {LIST_COLUMNS} {LIST_FROM} JOIN booking b ON b.session = s.id AND b.center = ?"
        " WHERE s.ends_at > ? AND s.status <> ? ORDER BY s.starts_at, s.id LIMIT ?"
    )
    text = await plan(sql, [1, WEEK.lo, "cancelled", 100])
    print(f"\n{database.split(':')[0]} plan of a center's bookings:\n{text}")
    assert "booking_center" in text or "booking_session" in text, text
