"""Share-centers' enrolment: how many children each center serves, kept with its history.

Head counts at check-in add up *child visits* (人次: a child who comes to ten classes is ten
visits). The distinct figure the hub can know is each center's enrolment, recorded by the
center (or an administrator) whenever it changes: *children reached* in a period = the sum of
the enrolment in effect on the period's last day of the centers that held a class in it (a
check-in). A center with no enrolment recorded adds nothing (and is counted as such).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from hub.tables import CenterEnrolment


async def record(
    center_id: int, children: int, effective_from: date, user_id: int | None
) -> dict[str, object]:
    """A new enrolment from ``effective_from`` on (earlier records stay, as history)."""
    row = await CenterEnrolment.insert(
        CenterEnrolment(
            center=center_id,
            children=children,
            effective_from=effective_from,
            recorded_by=user_id,
        )
    ).run()
    found = await CenterEnrolment.select().where(CenterEnrolment.id == row[0]["id"]).first()
    assert found is not None
    return found


async def history(center_id: int) -> list[dict[str, object]]:
    """Every record of a center, the newest ``effective_from`` first."""
    return await (
        CenterEnrolment.select()
        .where(CenterEnrolment.center == center_id)
        .order_by(CenterEnrolment.effective_from, ascending=False)
        .order_by(CenterEnrolment.id, ascending=False)
    )


async def in_effect(center_ids: Iterable[int], day: date) -> dict[int, int]:
    """Each center's enrolment in effect on ``day`` (centers with none recorded are absent)."""
    wanted = sorted(set(center_ids))
    if not wanted:
        return {}
    rows = await (
        CenterEnrolment.select(
            CenterEnrolment.center, CenterEnrolment.children, CenterEnrolment.effective_from
        )
        .where(CenterEnrolment.center.is_in(wanted) & (CenterEnrolment.effective_from <= day))
        .order_by(CenterEnrolment.effective_from)
        .order_by(CenterEnrolment.id)
    )
    out: dict[int, int] = {}
    for r in rows:  # in order: the last one of each center is the one in effect
        out[int(r["center"])] = int(r["children"])
    return out
