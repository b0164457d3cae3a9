"""SRT listener ports: one per session, never shared by two sessions whose windows overlap.

An SRT listener (the worker's ffmpeg) owns one UDP port, so two classes that may be
pushed at the same time need two ports. A session's port is, in order: the port stored in
its ``provider_settings`` (``srt_port``), else the preferred port ``low + id mod size``.
Ports are stored (``assign_srt_port`` for one session, ``sweep_ports`` for the coming
days), so a port a teacher has typed into an encoder does not move: when two overlapping
sessions want the same port, a stored port wins over an unstored one and then the lower
session id wins; the other takes the lowest free port of the range.

Planning is a sweep (``plan_ports``, O(n log n)): sessions sorted by the start of their
push window, the ports of closed windows returned to a heap of free ports. It runs in a
worker thread (``anyio.to_thread``), so a sweep over thousands of concurrent classes does
not hold the event loop. When the range is too small the sessions left without a port are
named in an ``ALERT srt_ports_exhausted`` log line, counted in
``sharehub_alerts_total{kind="srt_ports_exhausted"}`` and, for the last sweep, in the gauge
``sharehub_srt_ports_unplaced``; the others keep their ports.

The choice lives in the session's ``provider_settings`` rather than a table of its own:
the provider reads it from the ``StreamContext`` it is given (no database access in a
provider), it moves with the session, and it is dropped when the session changes provider.
"""

from __future__ import annotations

import bisect
import heapq
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from prometheus_client import Gauge

from hub import live, metrics
from hub.errors import Unavailable
from hub.tables import LiveSession, SessionStatus
from plugins.self_hosted.callbacks import PUBLISH_EARLY

log = logging.getLogger("sharehub.self_hosted")

NAME = "self_hosted"
SWEEP_AHEAD = timedelta(days=14)
"""``sweep_ports`` fixes the ports of sessions starting within this long."""
HOLDING = (SessionStatus.scheduled, SessionStatus.live, SessionStatus.ended)
"""Sessions that may still be pushed (an ended one may restart within the grace)."""


UNPLACED = Gauge(
    "sharehub_srt_ports_unplaced",
    "Self-hosted SRT sessions the last port sweep found no free port for (widen the range)",
    registry=metrics.REGISTRY,
)
SWEEP_SESSIONS = Gauge(
    "sharehub_srt_ports_swept_sessions",
    "Self-hosted SRT sessions the last port sweep planned",
    registry=metrics.REGISTRY,
)

PORTS_RETRY_AFTER = 300
"""Seconds a caller is asked to wait when the range is full (a class may end by then)."""


class PortsExhausted(Unavailable):
    """More overlapping SRT sessions than ports in the range: 503 with Retry-After."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="srt_port", retry_after=PORTS_RETRY_AFTER)


def alert_exhausted(exc: PortsExhausted) -> None:
    """Tell the operator: an error in the log and ``sharehub_alerts{kind=...}`` in /metrics."""
    log.error("ALERT srt_ports_exhausted: %s; widen the SRT port range", exc.detail)
    metrics.ALERTS.labels(kind="srt_ports_exhausted").inc()


@dataclass(frozen=True)
class Claim:
    """One session's hold on the SRT range: its push window and its stored port, if any."""

    session_id: int
    starts_at: datetime
    ends_at: datetime
    stored: int | None = None


def window(claim: Claim) -> tuple[datetime, datetime]:
    """When the listener for this session may be up: early sound checks to restart grace."""
    return claim.starts_at - PUBLISH_EARLY, claim.ends_at + live.RESTART_GRACE


def overlaps(a: Claim, b: Claim) -> bool:
    a0, a1 = window(a)
    b0, b1 = window(b)
    return a0 < b1 and b0 < a1


def preferred_port(session_id: int, low: int, high: int) -> int:
    """Where a session's port is when nothing stands in the way (stable, no lookup)."""
    return low + session_id % (high - low + 1)


def in_range(port: int | None, low: int, high: int) -> bool:
    return port is not None and low <= port <= high


def _fits(kept: Sequence[tuple[datetime, datetime]], w0: datetime, w1: datetime) -> bool:
    """Whether ``[w0, w1)`` misses every window in ``kept`` (disjoint, sorted by start)."""
    i = bisect.bisect_left(kept, (w0, w0))
    if i > 0 and kept[i - 1][1] > w0:
        return False
    return not (i < len(kept) and kept[i][0] < w1)


def plan_ports(
    claims: Iterable[Claim], low: int, high: int, unplaced: list[int] | None = None
) -> dict[int, int]:
    """The port of every session, no two overlapping ones sharing (pure, O(n log n)).

    First the stored ports (in range), lowest session id first: each keeps its port
    unless an overlapping session of lower id kept the same one (per port, a sorted list
    of kept windows, checked by bisection). Then a sweep over the other sessions in order
    of window start: the ports of sessions whose window has closed go back to a heap of
    free ports; a session takes its preferred port (``low + id mod size``) when that is
    free, else the lowest free port, skipping any a stored session holds during its
    window. A session that finds no port raises ``PortsExhausted`` naming it, or
    (``unplaced`` given) is listed there and left out, so the others keep theirs.
    """
    claims = list(claims)
    windows = {c.session_id: window(c) for c in claims}
    by_id = sorted(windows)
    stored_of = {c.session_id: c.stored for c in claims}
    kept: dict[int, list[tuple[datetime, datetime]]] = {}
    out: dict[int, int] = {}
    rest: list[int] = []
    for sid in by_id:  # stored ports first, the lower id winning
        port = stored_of[sid]
        w0, w1 = windows[sid]
        if port is not None and in_range(port, low, high):
            on_port = kept.setdefault(port, [])
            if _fits(on_port, w0, w1):
                bisect.insort(on_port, (w0, w1))
                out[sid] = port
                continue
        rest.append(sid)
    rest.sort(key=lambda sid: (windows[sid][0], sid))
    free = list(range(low, high + 1))  # a heap; may hold stale or repeated entries
    active: list[tuple[datetime, int]] = []  # (window end, port) of swept sessions, a heap
    busy: set[int] = set()

    def usable(port: int, w0: datetime, w1: datetime) -> bool:
        return port not in busy and _fits(kept.get(port, ()), w0, w1)

    for sid in rest:
        w0, w1 = windows[sid]
        while active and active[0][0] <= w0:
            _, port = heapq.heappop(active)
            busy.discard(port)
            heapq.heappush(free, port)
        wanted = preferred_port(sid, low, high)
        chosen: int | None = wanted if usable(wanted, w0, w1) else None
        skipped: list[int] = []
        while chosen is None and free:
            port = heapq.heappop(free)
            if port in busy:
                continue  # stale: it comes back when its session's window closes
            if usable(port, w0, w1):
                chosen = port
            else:
                skipped.append(port)  # a stored session holds it now; free for others
        for port in skipped:
            heapq.heappush(free, port)
        if chosen is None:
            exc = PortsExhausted(
                f"no free SRT port in {low}-{high} for session {sid}: "
                f"overlapping sessions hold all {high - low + 1} ports"
            )
            if unplaced is None:
                raise exc
            unplaced.append(sid)
            continue
        busy.add(chosen)
        heapq.heappush(active, (w1, chosen))
        out[sid] = chosen
    return out


def _claim(row: dict[str, Any]) -> Claim:
    stored = (row["provider_settings"] or {}).get("srt_port")
    return Claim(
        row["id"], row["starts_at"], row["ends_at"], stored if isinstance(stored, int) else None
    )


async def _rows(where: Any) -> list[dict[str, Any]]:
    """Self-hosted sessions that still hold an SRT port (RTMP ones need none)."""
    rows = (
        await LiveSession.select(
            LiveSession.id,
            LiveSession.starts_at,
            LiveSession.ends_at,
            LiveSession.provider_settings,
        )
        .where(where)
        .where(LiveSession.provider == NAME)
        .where(LiveSession.status.is_in(list(HOLDING)))
        .output(load_json=True)
        .run()
    )
    return [r for r in rows if (r["provider_settings"] or {}).get("ingest", "srt") == "srt"]


async def _store(rows: dict[int, dict[str, Any]], ports: dict[int, int]) -> list[int]:
    changed = []
    for session_id, port in ports.items():
        options = dict(rows[session_id]["provider_settings"] or {})
        if options.get("ingest", "srt") != "srt" or options.get("srt_port") == port:
            continue
        options["srt_port"] = port
        await (
            LiveSession.update({LiveSession.provider_settings: options})
            .where((LiveSession.id == session_id) & (LiveSession.provider == NAME))
            .run()
        )
        changed.append(session_id)
    return changed


async def assign_srt_port(session_id: int, low: int, high: int) -> int:
    """Fix one session's SRT port (stored in its provider_settings) and return it."""
    row = await live.session_row(session_id)
    me = _claim(row)
    w0, w1 = window(me)
    # anything whose window can overlap mine starts before w1 + early and ends after w0 - grace
    neighbours = await _rows(
        (LiveSession.starts_at < w1 + PUBLISH_EARLY)
        & (LiveSession.ends_at > w0 - live.RESTART_GRACE)
    )
    rows = {r["id"]: r for r in neighbours}
    rows[session_id] = row
    left_out: list[int] = []
    claims = [_claim(r) for r in rows.values()]
    ports = await anyio.to_thread.run_sync(plan_ports, claims, low, high, left_out)
    if session_id in left_out:
        exc = PortsExhausted(
            f"no free SRT port in {low}-{high} for session {session_id}: "
            "overlapping sessions hold them all"
        )
        alert_exhausted(exc)
        raise exc
    if row["provider"] == NAME:
        await _store({session_id: row}, {session_id: ports[session_id]})
    return ports[session_id]


async def sweep_ports(low: int, high: int, now: datetime | None = None) -> list[int]:
    """Fix the ports of every self-hosted SRT session due within ``SWEEP_AHEAD``.

    Returns the ids whose stored port was set or changed.
    """
    now = now or datetime.now(UTC)
    found = await _rows(
        (LiveSession.ends_at > now - live.RESTART_GRACE)
        & (LiveSession.starts_at < now + SWEEP_AHEAD)
    )
    rows = {r["id"]: r for r in found}
    claims = [_claim(r) for r in rows.values()]
    left_out: list[int] = []
    ports = await anyio.to_thread.run_sync(plan_ports, claims, low, high, left_out)
    SWEEP_SESSIONS.set(len(claims))
    UNPLACED.set(len(left_out))
    if left_out:  # the others still get their ports
        alert_exhausted(PortsExhausted(unplaced_detail(left_out, low, high)))
    return await _store(rows, ports)


NAMED = 50
"""At most this many session ids in an alert (the count is always given)."""


def unplaced_detail(left_out: list[int], low: int, high: int) -> str:
    """The alert's text: how many sessions have no port, and which (the first ``NAMED``)."""
    ids = sorted(left_out)
    names = ", ".join(str(i) for i in ids[:NAMED])
    more = f" and {len(ids) - NAMED} more" if len(ids) > NAMED else ""
    return (
        f"no free SRT port in {low}-{high} ({high - low + 1} ports) for {len(ids)} "
        f"sessions: {names}{more}"
    )
