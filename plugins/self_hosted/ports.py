"""SRT listener ports: one per session, never shared by two sessions whose windows overlap.

An SRT listener (the worker's ffmpeg) owns one UDP port, so two classes that may be
pushed at the same time need two ports. A session's port is, in order: the port stored in
its ``provider_settings`` (``srt_port``), else the preferred port ``low + id mod size``.
Ports are stored (``assign_srt_port`` for one session, ``sweep_ports`` for the coming
days), so a port a teacher has typed into an encoder does not move: when two overlapping
sessions want the same port, a stored port wins over an unstored one and then the lower
session id wins; the other takes the next free port of the range.

The choice lives in the session's ``provider_settings`` rather than a table of its own:
the provider reads it from the ``StreamContext`` it is given (no database access in a
provider), it moves with the session, and it is dropped when the session changes provider.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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


def plan_ports(
    claims: Iterable[Claim], low: int, high: int, unplaced: list[int] | None = None
) -> dict[int, int]:
    """The port of every session, no two overlapping ones sharing (pure).

    Stored ports come first (lowest id first), then the others; each keeps its wanted
    port (stored, else preferred) unless an overlapping session placed before took it,
    and then takes the next free port after it, wrapping round the range. A session that
    finds every port taken raises ``PortsExhausted``, or (``unplaced`` given) is listed
    there and left out, so the sessions placed before it keep theirs.
    """
    size = high - low + 1
    ordered = sorted(claims, key=lambda c: (not in_range(c.stored, low, high), c.session_id))
    placed: list[tuple[Claim, int]] = []
    out: dict[int, int] = {}
    for claim in ordered:
        busy = {port for other, port in placed if overlaps(claim, other)}
        wanted = (
            claim.stored
            if claim.stored is not None and in_range(claim.stored, low, high)
            else preferred_port(claim.session_id, low, high)
        )
        for step in range(size):
            port = low + (wanted - low + step) % size
            if port not in busy:
                break
        else:
            exc = PortsExhausted(
                f"no free SRT port in {low}-{high} for session {claim.session_id}: "
                f"{len(busy)} overlapping sessions hold them all"
            )
            if unplaced is None:
                raise exc
            unplaced.append(claim.session_id)
            continue
        placed.append((claim, port))
        out[claim.session_id] = port
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
    ports = plan_ports([_claim(r) for r in rows.values()], low, high, left_out)
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
    left_out: list[int] = []
    ports = plan_ports([_claim(r) for r in rows.values()], low, high, left_out)
    if left_out:  # the others still get their ports
        names = ", ".join(str(i) for i in sorted(left_out))
        alert_exhausted(PortsExhausted(f"no free SRT port in {low}-{high} for sessions {names}"))
    return await _store(rows, ports)
