"""Counting views: beacon checks, an in-memory tally, batched flushes with atomic upserts.

Players send a beacon every 10-30 s with a random viewer id and the seconds watched since
the last one. A process checks each beacon and keeps it in memory; every
``view_flush_seconds`` (and on shutdown) it writes the batch in ONE transaction:

1. ``beacon_seen``: the beacon ids, ``ON CONFLICT DO NOTHING RETURNING`` -> only beacons never
   written before count (a retried beacon, or a flush retried after an unclear failure, adds
   nothing);
2. ``viewer_window``: per viewer per session per window, milliseconds watched, beacons taken
   and the server times of the first and last beacon are added with an upsert; the row that
   becomes counted in this statement is the one view (the row lock makes that exact across
   processes). A view is earned in server time: the threshold watched, and two or more beacons
   taken at least the threshold apart by the server, whatever the beacons claim;
3. ``view_tally``: views and seconds per session per day per kind, added with an upsert;
4. ``center_day_tally`` and ``viewer_first``: the rollups the impact figures read instead of
   the windows: a share-center's counted views and milliseconds per day per kind (by the
   center stored on the window), and each viewer's earliest counted day per span (all, year,
   month), kept with upserts (``hub.impact``);
5. ``view_peak``: viewers of each touched session seen within the concurrency interval,
   counted in the database (so it includes every process), kept when higher.

Windows are aligned to local midnight in the hub's time zone and never cross it: a view, its
viewer and its seconds belong to the local day on which they were earned.

Nothing a process holds is needed by another: a process killed with SIGKILL loses the beacons
it accepted since its last flush (one flush interval, plus a flush in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from piccolo.querystring import QueryString

from hub import db, metrics
from hub.errors import Conflict, DomainError, Invalid, NotFound
from hub.settings import Settings
from hub.tables import LiveSession, SessionStatus, Visibility

log = logging.getLogger("sharehub.views")

KINDS = ("live", "replay")
SPAN_ALL = date(2000, 1, 1)
"""``viewer_first.span_start`` of the span ``all`` (the impact figures' first day)."""
CLOCK_SKEW = 120.0
"""A beacon's ``at`` may be this many seconds ahead of the server clock."""
MAX_AGE = 600.0
"""A beacon older than this (by its ``at``) is refused: a retrying player gives up sooner."""
WALL_SLACK = 2.0
"""Seconds reported may exceed the wall time since the viewer's last beacon by this much."""
STALL_ALLOWANCE = 30.0
"""A server that stalled (a busy core, a long pause) handles two beacons of one viewer back to
back: the gap between their ``at`` times, as the player sent them, counts as wall time too, up
to this much beyond the gap the server saw."""
SEEN_KEEP = 86_400
"""Beacon ids are kept a day; a beacon is refused long before (``MAX_AGE``)."""
LIVE_EARLY = timedelta(minutes=15)
LIVE_LATE = timedelta(minutes=30)
SESSION_CACHE_SECONDS = 10.0
MAX_PENDING = 2_000_000
CHUNK = 400


class RateLimited(DomainError):
    """Too many beacons (429); ``retry_after`` seconds until the next window."""

    status_code = 429

    def __init__(self, detail: str, retry_after: int, reason: str = "rate_limit") -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.reason = reason


class Overloaded(DomainError):
    """The tally cannot be written now and is full (503)."""

    status_code = 503


@dataclass(slots=True)
class Beacon:
    """One accepted beacon, as held in memory until the flush."""

    beacon_id: str
    session_id: int
    viewer: str
    kind: str
    millis: int
    received: float
    center_id: int | None = None


@dataclass
class FlushResult:
    beacons: int = 0
    fresh: int = 0
    views: int = 0
    sessions: int = 0


@dataclass(slots=True)
class SessionInfo:
    status: str
    starts_at: datetime
    ends_at: datetime
    public: bool = True
    """The course is public; otherwise only signed-in users watch (and count) it."""


class RateLimiter:
    """Fixed one-minute windows per key, in this process's memory (0 = no limit).

    Several processes each apply the limit, so behind a balancer of N processes a client may
    send up to N times the rate: acceptable for a guard against floods.
    """

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.minute = 0
        self.counts: dict[str, int] = {}

    def hit(self, key: str, now: float) -> int:
        """0 when allowed, else the seconds until the limit resets."""
        if self.per_minute <= 0:
            return 0
        minute = int(now // 60)
        if minute != self.minute:
            self.minute = minute
            self.counts = {}
        count = self.counts.get(key, 0) + 1
        self.counts[key] = count
        if count > self.per_minute:
            return max(1, int(60 - now % 60))
        return 0


_UTC_ZONE = ZoneInfo("UTC")


def window_start(ts: float, hours: int, tz: ZoneInfo = _UTC_ZONE) -> int:
    """The start (epoch seconds) of the counting window holding ``ts``: windows of ``hours``
    from local midnight in ``tz``; the day's last one ends at the next midnight, so a window
    never crosses it (its start is on the same local day as every moment in it)."""
    local = datetime.fromtimestamp(ts, tz)
    midnight = int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    size = hours * 3600
    return midnight + int((ts - midnight) // size) * size


def local_day(ts: float, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts, tz).date()


@dataclass
class ViewCounter:
    """The process's beacon tally; ``accept`` is called by the beacon route, ``flush`` by the
    background task (and by tests)."""

    settings: Settings
    clock: Callable[[], float] = time.time
    pending: list[Beacon] = field(default_factory=list)
    flushes: int = 0
    failures: int = 0
    last_flush_at: float = 0.0

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.settings.timezone)
        self._key = hashlib.sha256(("views:" + self.settings.secret_key).encode()).digest()
        self._by_viewer = RateLimiter(self.settings.view_rate_viewer)
        self._by_address = RateLimiter(self.settings.view_rate_address)
        self._new_viewers = RateLimiter(self.settings.view_new_viewers_per_minute)
        self._last_beacon: dict[str, tuple[float, float]] = {}
        """Viewer -> (when this process took its last beacon, that beacon's ``at``)."""
        self._recent_ids: dict[str, float] = {}
        self._sessions: dict[int, tuple[float, SessionInfo | None]] = {}
        self._lock = asyncio.Lock()
        self._last_prune = 0.0
        self._started = self.clock()

    # -- the route's side ---------------------------------------------------------------------
    def viewer_hash(self, viewer_id: str) -> str:
        """A keyed hash of the player's id: no raw id is stored."""
        return hmac.new(self._key, viewer_id.encode(), "sha256").hexdigest()[:32]

    async def session_info(self, session_id: int) -> SessionInfo:
        now = time.monotonic()
        cached = self._sessions.get(session_id)
        if cached is None or cached[0] < now:
            row = (
                await LiveSession.select(
                    LiveSession.status,
                    LiveSession.starts_at,
                    LiveSession.ends_at,
                    LiveSession.course.visibility.as_alias("visibility"),
                )
                .where(LiveSession.id == session_id)
                .first()
                .run()
            )
            info = (
                SessionInfo(
                    row["status"],
                    row["starts_at"],
                    row["ends_at"],
                    row["visibility"] == Visibility.public,
                )
                if row
                else None
            )
            if len(self._sessions) > 50_000:
                self._sessions.clear()
            self._sessions[session_id] = (now + SESSION_CACHE_SECONDS, info)
            cached = self._sessions[session_id]
        if cached[1] is None:
            raise NotFound(f"session {session_id} not found", field="session_id")
        return cached[1]

    async def accept(
        self,
        session_id: int,
        *,
        beacon_id: str,
        viewer_id: str,
        kind: str,
        seconds: float,
        at: datetime,
        address: str,
        center_id: int | None = None,
        signed_in: bool = False,
    ) -> bool:
        """Check a beacon and keep it for the next flush. False for a beacon this process has
        already taken (it counts once); raises a 4xx error for one that must count nothing
        (counted in ``sharehub_beacons_refused`` by reason)."""
        try:
            return await self._accept(
                session_id,
                beacon_id=beacon_id,
                viewer_id=viewer_id,
                kind=kind,
                seconds=seconds,
                at=at,
                address=address,
                center_id=center_id,
                signed_in=signed_in,
            )
        except DomainError as exc:
            reason = exc.reason if isinstance(exc, RateLimited) else (exc.field or "invalid")
            metrics.BEACONS_REFUSED.labels(reason).inc()
            raise

    async def _accept(
        self,
        session_id: int,
        *,
        beacon_id: str,
        viewer_id: str,
        kind: str,
        seconds: float,
        at: datetime,
        address: str,
        center_id: int | None,
        signed_in: bool,
    ) -> bool:
        info = await self.session_info(session_id)
        if not info.public and not signed_in:
            # a centers-only course is not shown to anonymous viewers: nothing to count
            raise NotFound(f"session {session_id} not found", field="session_id")
        if (
            at.tzinfo is not None
            and at.timestamp() < self._started + WALL_SLACK
            and beacon_id not in self._recent_ids
            and self.viewer_hash(f"center:{center_id}" if center_id else viewer_id)
            not in self._last_beacon
            and await self._written_before(beacon_id)
        ):
            # a beacon sent before this process started, of a viewer it has not seen (it
            # restarted, or another one took the viewer's beacons), already written: a
            # duplicate, say so (one read, only for beacons older than the process)
            return False
        # no await below: the checks and the bookkeeping happen in one step of the event loop
        now = self.clock()
        if kind not in KINDS:
            raise Invalid("kind is live or replay", field="kind")
        if not 0 <= seconds <= self.settings.view_beacon_max_seconds:
            raise Invalid(
                f"seconds must be between 0 and {self.settings.view_beacon_max_seconds}",
                field="seconds",
            )
        if at.tzinfo is None:
            raise Invalid("at needs a time zone (e.g. 2026-11-23T10:00:00Z)", field="at")
        sent = at.timestamp()
        if sent > now + CLOCK_SKEW:
            raise Invalid("at is in the future", field="at")
        if sent < now - MAX_AGE:
            raise Invalid(f"at is more than {int(MAX_AGE)} s old", field="at")
        viewer = self.viewer_hash(f"center:{center_id}" if center_id else viewer_id)
        wait = self._by_address.hit("a:" + address, now) or self._by_viewer.hit(viewer, now)
        if wait:
            raise RateLimited("too many beacons; slow down", retry_after=wait)
        previous = self._last_beacon.get(viewer)
        if previous is None and beacon_id not in self._recent_ids:
            wait = self._new_viewers.hit(address, now)
            if wait:
                raise RateLimited(
                    "too many new viewers from this address; slow down",
                    retry_after=wait,
                    reason="new_viewers",
                )
        self._check_session(session_id, info, kind, now)
        if beacon_id in self._recent_ids:
            return False
        # a beacon sent before the last one taken but arriving after it (another connection,
        # a slow server) covers an earlier stretch: it is not held against the last one
        late = previous is not None and sent < previous[1]
        if previous is not None and not late:
            seen = now - previous[0]
            passed = max(seen, min(sent - previous[1], seen + STALL_ALLOWANCE))
            if seconds > passed + WALL_SLACK:
                raise Invalid(
                    f"{seconds:g} seconds watched, but only {passed:.1f} s passed since "
                    "this viewer's last beacon",
                    field="seconds",
                )
        if len(self.pending) >= MAX_PENDING:
            raise Overloaded("the view tally cannot be written now; try again later")
        if previous is None and seconds > self.settings.view_threshold_seconds:
            # a first beacon claiming a view's worth: taken, but it counts nothing on its own
            metrics.BEACONS_SUSPECT.labels("first_claim").inc()
        elif late:
            metrics.BEACONS_SUSPECT.labels("late").inc()
        if not late:
            self._last_beacon[viewer] = (now, sent)
        self._recent_ids[beacon_id] = now
        self.pending.append(
            Beacon(beacon_id, session_id, viewer, kind, round(seconds * 1000), now, center_id)
        )
        metrics.BEACONS_ACCEPTED.inc()
        return True

    async def _written_before(self, beacon_id: str) -> bool:
        rows = await db.engine().run_querystring(
            _raw("SELECT 1 AS x FROM beacon_seen WHERE beacon_id = {}", beacon_id)
        )
        return bool(rows)

    def _check_session(self, session_id: int, info: SessionInfo, kind: str, now: float) -> None:
        if info.status == SessionStatus.cancelled:
            raise Conflict(f"session {session_id} is cancelled", field="session_id")
        moment = datetime.fromtimestamp(now, UTC)
        if kind == "live":
            in_slot = info.starts_at - LIVE_EARLY <= moment <= info.ends_at + LIVE_LATE
            if info.status != SessionStatus.live and not in_slot:
                raise Conflict(f"session {session_id} is not live", field="kind")
        elif moment < info.starts_at:
            raise Conflict(f"session {session_id} has not started: no replay", field="kind")

    # -- the flush ----------------------------------------------------------------------------
    async def flush(self) -> FlushResult:
        """Write what is pending in one transaction; on failure keep it for the next try."""
        async with self._lock:
            batch, self.pending = self.pending, []
            if not batch:
                self.last_flush_at = self.clock()
                self._prune_memory()
                return FlushResult()
            started = time.perf_counter()
            try:
                result = await write_batch(batch, self.settings, self.tz, self.clock())
            except BaseException:
                self.pending[:0] = batch
                self.failures += 1
                metrics.FLUSHES.labels("failed").inc()
                raise
            metrics.FLUSH_SECONDS.observe(time.perf_counter() - started)
            metrics.FLUSHES.labels("ok").inc()
            metrics.BEACONS_FLUSHED.inc(result.fresh)
            metrics.VIEWS_COUNTED.inc(result.views)
            self.last_flush_at = self.clock()
            self.flushes += 1
            self._prune_memory()
            return result

    def _prune_memory(self) -> None:
        now = self.clock()
        if now - self._last_prune < 30:
            return
        self._last_prune = now
        horizon = now - MAX_AGE
        self._last_beacon = {k: v for k, v in self._last_beacon.items() if v[0] >= horizon}
        self._recent_ids = {k: v for k, v in self._recent_ids.items() if v >= horizon}

    async def prune_seen(self) -> int:
        """Forget beacon ids older than a day (those beacons would be refused as too old)."""
        cutoff = int(self.clock()) - SEEN_KEEP
        rows = await db.engine().run_querystring(
            _raw("DELETE FROM beacon_seen WHERE seen_at < {} RETURNING id", cutoff)
        )
        return len(rows or [])

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every interval until ``stop`` is set; failures are retried with back-off."""
        delay = float(self.settings.view_flush_seconds)
        last_prune = 0.0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            try:
                await self.flush()
                delay = float(self.settings.view_flush_seconds)
                if time.monotonic() - last_prune > 300:
                    last_prune = time.monotonic()
                    await self.prune_seen()
            except Exception:
                log.exception(
                    "view flush failed; %d beacons kept for the next try", len(self.pending)
                )
                delay = min(30.0, delay * 2)

    async def close(self, attempts: int = 5) -> None:
        """The final flush on shutdown, retried a few times."""
        for attempt in range(attempts):
            try:
                await self.flush()
                return
            except Exception:
                log.exception("final view flush failed (attempt %d)", attempt + 1)
                await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
        log.error("shutting down with %d beacons not written", len(self.pending))


def _raw(sql: str, *args: Any) -> QueryString:
    return QueryString(sql, *args)


@contextlib.asynccontextmanager
async def running(counter: ViewCounter) -> AsyncIterator[None]:
    """Run the flush loop while the app serves; flush what is left on the way out."""
    stop = asyncio.Event()
    task = asyncio.create_task(counter.run(stop), name="view-flush")
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await task
        await counter.close()


# ------------------------------------------------------------------------------ SQL writing


_MARK = re.compile(r"\?")


@dataclass
class _Conn:
    """One connection inside one transaction; runs ``?``-style SQL on either backend."""

    raw: Any
    sqlite: bool

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self.sqlite:
            async with self.raw.execute(sql, list(args)) as cursor:
                rows = await cursor.fetchall()
            return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]
        numbers = iter(range(1, len(args) + 1))
        pg_sql = _MARK.sub(lambda _: f"${next(numbers)}", sql)
        return [tuple(r) for r in await self.raw.fetch(pg_sql, *args)]


@contextlib.asynccontextmanager
async def _transaction() -> AsyncIterator[_Conn]:
    """A transaction of its own, or the caller's Piccolo transaction when one is open (the
    demo writes its term of views inside the transaction that makes the programme)."""
    engine = db.engine()
    enclosing = engine.current_transaction.get()
    if enclosing is not None:
        yield _Conn(enclosing.connection, db.is_sqlite())
        return
    if db.is_sqlite():
        connection = await engine.get_connection()  # type: ignore[attr-defined]
        try:
            await connection.execute("BEGIN IMMEDIATE")
            try:
                yield _Conn(connection, True)
            except BaseException:
                await connection.execute("ROLLBACK")
                raise
            await connection.execute("COMMIT")
        finally:
            await connection.close()
    else:
        async with engine.pool.acquire() as connection:  # type: ignore[attr-defined]
            async with connection.transaction():
                yield _Conn(connection, False)


def _values(rows: int, cols: int) -> str:
    one = "(" + ", ".join("?" * cols) + ")"
    return ", ".join([one] * rows)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def write_batch(
    batch: list[Beacon], settings: Settings, tz: ZoneInfo, now: float
) -> FlushResult:
    """One flush in one transaction (see the module docstring)."""
    result = FlushResult(beacons=len(batch))
    unique: dict[str, Beacon] = {}
    for beacon in batch:
        unique.setdefault(beacon.beacon_id, beacon)
    threshold = settings.view_threshold_seconds * 1000
    hours = settings.view_window_hours
    token = secrets.randbits(62) + 1
    """This flush's mark on the windows it makes count."""
    async with _transaction() as conn:
        fresh: set[str] = set()
        for part in _chunks(sorted(unique)):
            args: list[Any] = []
            for beacon_id in part:
                args += [beacon_id, int(unique[beacon_id].received)]
            rows = await conn.fetch(
                f"INSERT INTO beacon_seen (beacon_id, seen_at) VALUES {_values(len(part), 2)} "
                "ON CONFLICT (beacon_id) DO NOTHING RETURNING beacon_id",
                args,
            )
            fresh.update(r[0] for r in rows)
        result.fresh = len(fresh)
        if not fresh:
            return result

        windows: dict[tuple[str, int, int], list[Any]] = {}
        seconds: dict[tuple[int, date, str], float] = {}
        starts: dict[int, tuple[int, date]] = {}
        """Quarter hour -> its window's start and day (a window's bounds, whole hours from
        local midnight, never cut a quarter hour, whatever the zone's offset)."""
        for beacon in unique.values():
            if beacon.beacon_id not in fresh:
                continue
            quarter = int(beacon.received // 900)
            known = starts.get(quarter)
            if known is None:
                first_start = window_start(beacon.received, hours, tz)
                known = starts[quarter] = (first_start, local_day(first_start, tz))
            start, day = known
            key = (beacon.viewer, beacon.session_id, start)
            ms = int(beacon.received * 1000)
            w = windows.get(key)
            if w is None:
                # session_id, viewer, window_start, day, kind, center_id, millis, counted, seen,
                # first_ms, last_ms, beacons, counted_by
                windows[key] = [
                    beacon.session_id,
                    beacon.viewer,
                    start,
                    day,
                    beacon.kind,
                    beacon.center_id,
                    beacon.millis,
                    False,
                    int(beacon.received),
                    ms,
                    ms,
                    1,
                    None,
                ]
            else:
                w[6] += beacon.millis
                w[8] = max(w[8], int(beacon.received))
                w[9] = min(w[9], ms)
                w[10] = max(w[10], ms)
                w[11] += 1
            # the window's day: the same local day as the beacon (windows never cross midnight)
            day_key = (beacon.session_id, day, beacon.kind)
            seconds[day_key] = seconds.get(day_key, 0.0) + beacon.millis / 1000

        old, new = "viewer_window", "excluded"
        first = (
            f"CASE WHEN {new}.first_ms < {old}.first_ms THEN {new}.first_ms ELSE {old}.first_ms END"
        )
        last = f"CASE WHEN {new}.last_ms > {old}.last_ms THEN {new}.last_ms ELSE {old}.last_ms END"
        earned = (
            f"({old}.millis + {new}.millis >= {threshold} AND {old}.beacons + {new}.beacons >= 2 "
            f"AND ({last}) - ({first}) >= {threshold})"
        )
        views: dict[tuple[int, date, str], list[int]] = {}
        centers: dict[tuple[int, date, str], list[int]] = {}
        firsts: dict[tuple[str, str, date], date] = {}
        for part in _chunks([windows[k] for k in sorted(windows)]):
            args = []
            for w in part:
                w[7] = w[6] >= threshold and w[11] >= 2 and w[10] - w[9] >= threshold
                w[12] = token if w[7] else None
                args += w
            rows = await conn.fetch(
                "INSERT INTO viewer_window (session_id, viewer, window_start, day, kind, "
                "center_id, millis, counted, last_seen, first_ms, last_ms, beacons, counted_by) "
                f"VALUES {_values(len(part), 13)} "
                "ON CONFLICT (viewer, session_id, window_start) DO UPDATE SET "
                f"millis = {old}.millis + {new}.millis, "
                f"beacons = {old}.beacons + {new}.beacons, "
                f"first_ms = {first}, last_ms = {last}, "
                f"counted = ({old}.counted OR {earned}), "
                f"counted_by = CASE WHEN {old}.counted THEN {old}.counted_by "
                f"WHEN {earned} THEN {token} ELSE NULL END, "
                f"last_seen = CASE WHEN {new}.last_seen > {old}.last_seen "
                f"THEN {new}.last_seen ELSE {old}.last_seen END "
                "RETURNING viewer, session_id, window_start, counted_by, day, kind, center_id",
                args,
            )
            for viewer, session_id, start, counted_by, day, kind, center_id in rows:
                if isinstance(day, str):
                    day = date.fromisoformat(day)
                earned = counted_by is not None and int(counted_by) == token
                if center_id is not None:  # the row's stored center, which a later one keeps
                    rollup = centers.setdefault((center_id, day, kind), [0, 0])
                    rollup[0] += 1 if earned else 0
                    rollup[1] += windows[(viewer, session_id, start)][6]
                if earned:
                    counts = views.setdefault((session_id, day, kind), [0, 0])
                    counts[0] += 1
                    counts[1] += 1 if center_id is not None else 0
                    for span_key, first in viewer_spans(viewer, day).items():
                        if first < firsts.get(span_key, first + timedelta(days=1)):
                            firsts[span_key] = first
        result.views = sum(v[0] for v in views.values())
        await _write_rollups(conn, centers, firsts)

        tally = [
            [session_id, day, kind, *views.get((session_id, day, kind), [0, 0]), secs]
            for (session_id, day, kind), secs in seconds.items()
        ]
        for key, (count, center_count) in views.items():
            if key not in seconds:
                tally.append([*key, count, center_count, 0.0])
        tally.sort(key=lambda row: (row[0], row[1], row[2]))
        for part in _chunks(tally):
            await conn.fetch(
                "INSERT INTO view_tally (session_id, day, kind, views, center_views, "
                f"seconds_watched) VALUES {_values(len(part), 6)} "
                "ON CONFLICT (session_id, day, kind) DO UPDATE SET "
                "views = view_tally.views + excluded.views, "
                "center_views = view_tally.center_views + excluded.center_views, "
                "seconds_watched = view_tally.seconds_watched + excluded.seconds_watched",
                [x for row in part for x in row],
            )

        sessions = sorted({w[0] for w in windows.values()})
        result.sessions = len(sessions)
        since = int(now) - settings.view_concurrency_seconds
        for part in _chunks(sessions):
            marks = ", ".join("?" * len(part))
            counts = await conn.fetch(
                "SELECT session_id, COUNT(DISTINCT viewer) FROM viewer_window "
                f"WHERE session_id IN ({marks}) AND last_seen >= ? GROUP BY session_id",
                [*part, since],
            )
            if not counts:
                continue
            await conn.fetch(
                f"INSERT INTO view_peak (session_id, peak, peak_at) VALUES "
                f"{_values(len(counts), 3)} ON CONFLICT (session_id) DO UPDATE SET "
                "peak = excluded.peak, peak_at = excluded.peak_at "
                "WHERE excluded.peak > view_peak.peak",
                [x for s, c in counts for x in (s, int(c), int(now))],
            )
    return result


def viewer_spans(viewer: str, day: date) -> dict[tuple[str, str, date], date]:
    """The ``viewer_first`` keys a counted view on ``day`` touches (all, year, month)."""
    return {
        (viewer, "all", SPAN_ALL): day,
        (viewer, "year", day.replace(month=1, day=1)): day,
        (viewer, "month", day.replace(day=1)): day,
    }


async def _write_rollups(
    conn: _Conn,
    centers: dict[tuple[int, date, str], list[int]],
    firsts: dict[tuple[str, str, date], date],
) -> None:
    """Add this flush's center-screen views and milliseconds to ``center_day_tally`` and keep
    each viewer's earliest counted day per span in ``viewer_first`` (same transaction)."""
    rows = [[*key, views, millis] for key, (views, millis) in sorted(centers.items())]
    for part in _chunks(rows):
        await conn.fetch(
            "INSERT INTO center_day_tally (center_id, day, kind, views, millis) "
            f"VALUES {_values(len(part), 5)} ON CONFLICT (center_id, day, kind) DO UPDATE SET "
            "views = center_day_tally.views + excluded.views, "
            "millis = center_day_tally.millis + excluded.millis",
            [x for row in part for x in row],
        )
    spans = [[*key, day] for key, day in sorted(firsts.items())]
    for part in _chunks(spans):
        await conn.fetch(
            "INSERT INTO viewer_first (viewer, span, span_start, first_day) "
            f"VALUES {_values(len(part), 4)} ON CONFLICT (viewer, span, span_start) DO UPDATE "
            "SET first_day = excluded.first_day WHERE excluded.first_day < viewer_first.first_day",
            [x for row in part for x in row],
        )


@dataclass
class History:
    """Beacons of the past (a demo's term of viewing) fed through the tally in bulk.

    Each beacon is checked by the rules of ``ViewCounter.accept`` that do not depend on when
    it arrives (the kind; the seconds within bounds and no more than the time passed since
    the viewer's last beacon; a live beacon within the class's slot, a replay after its
    start; a centers-only class counted only for signed-in viewers), with ``at`` standing for
    the server's time of arrival. ``flush(now)`` then writes what is pending exactly as the
    flush at ``now`` would (``write_batch``: seen beacon ids, viewer windows, the view
    thresholds, day tallies and peak concurrency at ``now``).
    """

    counter: ViewCounter
    pending: list[Beacon] = field(default_factory=list)
    last: dict[str, float] = field(default_factory=dict)
    """Viewer -> the ``at`` of their last beacon (a viewer's beacons go in one flush)."""
    hashes: dict[str, str] = field(default_factory=dict)

    def add(
        self,
        session_id: int,
        info: SessionInfo,
        *,
        beacon_id: str,
        viewer_id: str,
        kind: str,
        seconds: float,
        at: float,
        center_id: int | None = None,
        signed_in: bool = False,
    ) -> None:
        settings = self.counter.settings
        if not info.public and not signed_in:
            raise NotFound(f"session {session_id} not found", field="session_id")
        if kind not in KINDS:
            raise Invalid("kind is live or replay", field="kind")
        if not 0 <= seconds <= settings.view_beacon_max_seconds:
            raise Invalid("seconds out of bounds", field="seconds")
        self.counter._check_session(session_id, info, kind, at)
        key = f"center:{center_id}" if center_id else viewer_id
        viewer = self.hashes.get(key)
        if viewer is None:
            viewer = self.hashes[key] = self.counter.viewer_hash(key)
        previous = self.last.get(viewer)
        if previous is not None and at >= previous and seconds > at - previous + WALL_SLACK:
            raise Invalid("more seconds than passed since the last beacon", field="seconds")
        self.last[viewer] = max(at, previous or at)
        self.pending.append(
            Beacon(beacon_id, session_id, viewer, kind, round(seconds * 1000), at, center_id)
        )

    async def flush(self, now: float) -> FlushResult:
        batch, self.pending = self.pending, []
        self.last.clear()
        self.hashes.clear()
        if not batch:
            return FlushResult()
        return await write_batch(batch, self.counter.settings, self.counter.tz, now)


# ------------------------------------------------------------------------------ reading


async def concurrent_viewers(session_id: int, settings: Settings, now: float | None = None) -> int:
    """Viewers of a session seen within the concurrency interval (as flushed, all processes)."""
    since = int(now if now is not None else time.time()) - settings.view_concurrency_seconds
    rows = await db.engine().run_querystring(
        _raw(
            "SELECT COUNT(DISTINCT viewer) AS n FROM viewer_window "
            "WHERE session_id = {} AND last_seen >= {}",
            session_id,
            since,
        )
    )
    return int(rows[0]["n"]) if rows else 0


async def session_views(session_id: int) -> dict[str, Any]:
    """Views, seconds and peak of one session, all days."""
    rows = await db.engine().run_querystring(
        _raw(
            "SELECT kind, SUM(views) AS views, SUM(center_views) AS center_views, "
            "SUM(seconds_watched) AS seconds FROM view_tally WHERE session_id = {} "
            "GROUP BY kind",
            session_id,
        )
    )
    out: dict[str, Any] = {
        "live_views": 0,
        "replay_views": 0,
        "center_views": 0,
        "live_seconds": 0.0,
        "replay_seconds": 0.0,
    }
    for r in rows:
        out[f"{r['kind']}_views"] = int(r["views"] or 0)
        out[f"{r['kind']}_seconds"] = float(r["seconds"] or 0)
        out["center_views"] += int(r["center_views"] or 0)
    peak = await db.engine().run_querystring(
        _raw("SELECT peak FROM view_peak WHERE session_id = {}", session_id)
    )
    out["peak_concurrent"] = int(peak[0]["peak"]) if peak else 0
    uniques = await db.engine().run_querystring(
        _raw(
            "SELECT COUNT(DISTINCT viewer) AS n FROM viewer_window "
            "WHERE session_id = {} AND counted",
            session_id,
        )
    )
    out["unique_viewers"] = int(uniques[0]["n"]) if uniques else 0
    return out
