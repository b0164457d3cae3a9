"""Volunteer figures for the impact figures: total volunteer hours and volunteers active."""

from __future__ import annotations

from hub.impact import Period
from hub.volunteer import ledger


async def volunteer_figures(period: Period) -> tuple[float, int]:
    """Counted volunteer hours of the period (held classes within the rules, approved entries,
    approved corrections) and the number of teachers with some."""
    found = await ledger.ledger(None, period, ledger.GRACE, with_reach=False)
    active = sum(1 for seconds in found.by_teacher().values() if seconds > 0)
    return found.hours, active
