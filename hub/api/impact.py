"""Impact figures: programme-wide headline figures for anyone, breakdowns for administrators."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import Parameter, QueryParameter

from hub.accounts import Principal
from hub.cache import Shared
from hub.errors import Forbidden, Invalid
from hub.impact import GroupBy, Impact, Period, compute
from hub.schedule import zone
from hub.settings import Settings

FromParam = Annotated[
    str | None,
    QueryParameter(name="from", format="date", description="first day (hub time zone)"),
]
ToParam = Annotated[
    str | None, QueryParameter(name="to", format="date", description="last day (included)")
]


def parse_day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{value[:20]!r} is not a date (YYYY-MM-DD)", field=field) from None


def period_of(
    date_from: str | None, date_to: str | None, settings: Settings, tz: str | None = None
) -> Period:
    """Days ``from``..``to`` in ``tz`` (the hub's zone when not given; unknown: 400 on tz)."""
    return Period.of(
        parse_day(date_from, "from"),
        parse_day(date_to, "to"),
        zone(tz, field="tz") if tz else zone(settings.timezone),
    )


def public_figures(request: Request[Any, Any, Any], settings: Settings) -> Shared[Impact]:
    """This app's shared anonymous figures: once per period per ``figures_cache_seconds``
    (and again after a write this process handled, as the read cache), callers meanwhile
    waiting for that one computation, one computation at a time (an anonymous caller naming
    many periods queues behind the others instead of piling up)."""
    state = request.app.state
    shared: Shared[Impact] | None = state.get("public_figures")
    if shared is None:
        shared = Shared(
            settings.figures_cache_seconds,
            max_entries=256,
            lanes=1,
            after_writes=state["read_cache"],
        )
        state["public_figures"] = shared
    return shared


class ImpactController(Controller):
    path = "/api/v1/impact"
    tags = ["impact"]

    @get("")
    async def impact(
        self,
        request: Request[Any, Any, Any],
        settings: Settings,
        principal: Principal | None,
        date_from: FromParam = None,
        date_to: ToParam = None,
        group_by: Annotated[
            GroupBy | None, Parameter(description="province, center, teacher or course")
        ] = None,
    ) -> Impact:
        """Share-centers active, teachers, sessions held, online views (live, replay), unique
        viewers, peak concurrency, children served offline, attendance rate, teaching hours,
        replay hours. Headline figures are public; ``group_by`` needs an administrator."""
        if group_by is not None and (principal is None or not principal.is_admin):
            raise Forbidden("breakdowns by group are for administrators", field="group_by")
        period = period_of(date_from, date_to, settings)
        if principal is None:  # heavy figures are never worked out per anonymous request
            key = f"{period.start}:{period.end}:{period.tz.key}"
            return await public_figures(request, settings).get(key, lambda: compute(period))
        return await compute(period, group_by)
