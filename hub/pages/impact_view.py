"""Impact figures for the pages, from the impact service (``hub.impact``), briefly cached.

The public schedule shows the programme's headline figures; computing them reads every
session, booking and tally, so one process works them out once per ``HEADLINE_SECONDS``
(the dashboard's once per ``DASHBOARD_SECONDS``) and shares them (``hub.cache.Shared``):
the first caller computes, callers meanwhile wait for that value, each value is stamped
when it is ready, and once there is a value an expired one is answered while one refresh
runs behind it, so an anonymous visitor never waits for the figures to be worked out
(except the very first in a fresh process). Anonymous ``/api/v1/impact`` answers are
shared the same way (``hub.api.impact``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.cache import Shared
from hub.impact import (
    GroupBy,
    Impact,
    Period,
    center_provinces,
    compute,
    online_views_per_day,
)

HEADLINE_SECONDS = 300.0
DASHBOARD_SECONDS = 60.0
_headlines: Shared[dict[str, int]] = Shared(HEADLINE_SECONDS, stale=True)
_dashboards: Shared[dict[str, Any]] = Shared(DASHBOARD_SECONDS, stale=True)


def forget() -> None:
    """Drop cached figures (tests)."""
    _headlines.forget()
    _dashboards.forget()


async def headline(tz: ZoneInfo | None = None) -> dict[str, int]:
    zone = tz or ZoneInfo("Asia/Shanghai")

    async def make() -> dict[str, int]:
        totals = (await compute(Period.of(None, None, zone))).totals
        return {
            "centers": totals.centers_active,
            "teachers": totals.teachers_taught,
            "courses": totals.sessions_held,
            "views": totals.online_views,
            "children": totals.children_served,
            "reached": totals.children_reached,
        }

    return await _headlines.get(zone.key, make)


async def dashboard(tz: ZoneInfo, weeks: int = 12) -> dict[str, Any]:
    """Totals, views per week (last ``weeks``), children per province, attendance per center."""

    async def make() -> dict[str, Any]:
        today = datetime.now(UTC).astimezone(tz).date()
        monday = today - timedelta(days=today.weekday())
        first_week = monday - timedelta(days=7 * (weeks - 1))
        daily = await online_views_per_day(first_week, monday + timedelta(days=6))
        per_week: list[tuple[date, int]] = []
        for i in range(weeks):
            first = first_week + timedelta(days=7 * i)
            days = (first + timedelta(days=d) for d in range(7))
            per_week.append((first, sum(daily.get(day, 0) for day in days)))
        everything = Period.of(None, None, tz, today=today)
        centers_and_totals = await compute(everything, GroupBy.center)
        total: Impact = centers_and_totals  # the totals do not depend on the grouping
        centers = centers_and_totals.groups
        # a province's child visits are its centers' (the groups partition the bookings)
        where = await center_provinces(int(g.key) for g in centers)
        children: dict[str, int] = {}
        for g in centers:
            province = where.get(int(g.key), "")
            children[province] = children.get(province, 0) + g.children_served
        from hub.exports import lesson_rollup

        return {
            "lessons": await lesson_rollup(tz, today=today),
            "totals": total.totals,
            "views_per_week": per_week,
            "children_per_province": sorted(children.items(), key=lambda x: (-x[1], x[0])),
            "attendance_per_center": sorted(
                (
                    (g.label, round((g.attendance_rate or 0.0) * 100, 1))
                    for g in centers
                    if g.bookings
                ),
                key=lambda x: x[1],
            ),
        }

    return await _dashboards.get(f"{tz.key}:{weeks}", make)
