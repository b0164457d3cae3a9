"""The live edge of a class kept in the database while the store is unreachable.

When the object store cannot be reached, the recorder spools each new segment on the
worker's disk and also hands it here: the last ``WINDOW`` segments of the session are kept
in the ``live_window_segment`` table (the database is shared by every hub process and is
up). The hub, when it cannot read the live playlist from the store, answers a sliding-window
playlist of these segments instead (media sequence numbers are their positions in the
session's playlist, so a player goes on from where it was), and serves the segments
themselves from the table (``GET /api/v1/sessions/{id}/hls/{name}.ts``). When the store is
back the recorder empties the window and viewers are served from the store again.
"""

from __future__ import annotations

import math
from typing import Any

from hub.tables import LiveWindowSegment

WINDOW = 6
"""Segments kept per session: a player's live buffer and a little more."""


async def keep(session_id: int, name: str, position: int, duration: float, data: bytes) -> None:
    """Keep one segment at the live edge; older ones beyond the window go."""
    await (
        LiveWindowSegment.delete()
        .where((LiveWindowSegment.session_id == session_id) & (LiveWindowSegment.name == name))
        .run()
    )
    await LiveWindowSegment.insert(
        LiveWindowSegment(
            session_id=session_id, name=name, position=position, duration=duration, data=data
        )
    ).run()
    await (
        LiveWindowSegment.delete()
        .where(
            (LiveWindowSegment.session_id == session_id)
            & (LiveWindowSegment.position <= position - WINDOW)
        )
        .run()
    )


async def clear(session_id: int) -> None:
    """The store is back (or the class is over): the window is no longer needed."""
    await LiveWindowSegment.delete().where(LiveWindowSegment.session_id == session_id).run()


async def segments(session_id: int) -> list[dict[str, Any]]:
    """The window's segments (name, position, duration), oldest first."""
    return list(
        await LiveWindowSegment.select(
            LiveWindowSegment.name, LiveWindowSegment.position, LiveWindowSegment.duration
        )
        .where(LiveWindowSegment.session_id == session_id)
        .order_by(LiveWindowSegment.position)
        .run()
    )


async def data(session_id: int, name: str) -> bytes | None:
    """One window segment's bytes, or None when it is not (or no longer) in the window."""
    row = (
        await LiveWindowSegment.select(LiveWindowSegment.data)
        .where((LiveWindowSegment.session_id == session_id) & (LiveWindowSegment.name == name))
        .first()
        .run()
    )
    return bytes(row["data"]) if row else None


def playlist(rows: list[dict[str, Any]]) -> str:
    """A sliding-window live playlist of the window (URIs relative to the hub's playlist)."""
    target = max([1, *(math.floor(float(r["duration"]) + 0.5) for r in rows)])
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{rows[0]['position'] if rows else 0}",
    ]
    previous: int | None = None
    for row in rows:
        if previous is not None and row["position"] != previous + 1:
            lines.append("#EXT-X-DISCONTINUITY")
        previous = row["position"]
        lines.append(f"#EXTINF:{float(row['duration']):.6f},")
        lines.append(str(row["name"]))
    return "\n".join(lines) + "\n"
