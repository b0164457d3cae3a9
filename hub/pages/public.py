"""Public pages: the schedule (this week, next week, filters), a course, the watch page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.params import Parameter

from hub import live, materials, recordings, schedule, watch_state
from hub.api.common import PathId
from hub.api.sessions import list_rows, one_row
from hub.errors import Conflict, NotFound
from hub.pages import impact_view, replays_view, schedule_view
from hub.pages.render import lang_of, principal_of, public_page, settings_of
from hub.plugin_host import PluginHost
from hub.tables import Bandwidth, Course, Role, SessionStatus, Teacher, Visibility

ENDED = {SessionStatus.ended.value, SessionStatus.archived.value}


Text = Annotated[str | None, Parameter(max_length=50)]


@get("/", name="pages:schedule")
async def schedule_page(
    request: Request[Any, Any, Any],
    week: Annotated[str, Parameter(max_length=10)] = "this",
    subject: Text = None,
    grade: Annotated[str | None, Parameter(max_length=3)] = None,
    q: Text = None,
    province: Text = None,
    city: Text = None,
    county: Text = None,
) -> Response[Any]:
    """This week's or next week's classes, by day in the viewer's time zone: what is live now
    and today first, then the days to come, the days gone last; filters by subject, grade,
    region (classes booked by share-centers there) and a search of title, subject, teacher."""
    lang = lang_of(request)
    which = "next" if week == "next" else "this"
    digits = bool(grade) and grade.isascii() and grade.isdigit()  # "³".isdigit() is True
    grade_n = int(grade) if digits and 1 <= int(grade) <= 12 else None
    today = datetime.now(UTC).astimezone(lang.tz).date()
    text = (q or "").strip()
    place = {"province": province or "", "city": city or "", "county": county or ""}

    async def build() -> dict[str, Any]:
        first = schedule_view.week_start(today, which)
        days = await schedule_view.week(
            first,
            lang.tz,
            public_only=principal_of(request) is None,
            subject=subject or None,
            grade=grade_n,
            places=tuple((k, v or None) for k, v in place.items()),
        )
        if text:
            for d in days:
                d.sessions = [r for r in d.sessions if schedule_view.matches(r, text)]
        coming, gone = schedule_view.today_first(days, today)
        live = [r for d in days for r in d.sessions if r["status"] == SessionStatus.live.value]
        return {
            "days": days,
            "coming": coming,
            "gone": gone,
            "live": live,
            "week": which,
            "subject": subject or "",
            "grade": grade_n,
            "q": text,
            "place": place,
            "regions": await schedule_view.regions(province, city),
            "subjects": await schedule_view.subjects(),
            "today": today,
            "figures": await headline_figures(request),
        }

    return await public_page(request, "schedule.html", build, lang=lang)


async def headline_figures(request: Request[Any, Any, Any]) -> dict[str, int]:
    """The programme's headline impact figures (cached a few minutes per process)."""
    return await impact_view.headline(ZoneInfo(settings_of(request).timezone))


@get("/courses/{course_id:int}", name="pages:course")
async def course_page(request: Request[Any, Any, Any], course_id: PathId) -> Response[Any]:
    """A course: its teacher, its classes to come and the ones held (with replays)."""

    async def build() -> dict[str, Any]:
        course = (
            await Course.select(
                Course.all_columns(),
                Course.teacher.name.as_alias("teacher_name"),
                Course.teacher.school.as_alias("teacher_school"),
            )
            .where(Course.id == course_id)
            .first()
            .run()
        )
        if course is None or (
            course["visibility"] != Visibility.public.value and principal_of(request) is None
        ):
            raise NotFound(f"course {course_id} not found", field="course_id")
        rows = await list_rows("s.course = ?", [course_id], limit=500)
        now = datetime.now(UTC)
        held = [r for r in reversed(rows) if r["ends_at"] <= now or r["status"] in ENDED]
        return {
            "course": course,
            "coming": [r for r in rows if r["ends_at"] > now and r["status"] not in ENDED],
            "held": held,
            "replays": sorted(await recordings.replayable([r["id"] for r in held])),
        }

    return await public_page(request, "course.html", build, lang=lang_of(request))


@get("/watch/{session_id:int}", name="pages:watch")
async def watch_page(
    request: Request[Any, Any, Any], session_id: PathId, plugins: PluginHost
) -> Response[Any]:
    """The player, a state machine driven by ``GET /api/v1/sessions/{id}/state`` (polled by
    hub/static/js/watch.js): the waiting room with a countdown, the live stream as soon as it
    has a segment, "the class has ended" while the replay is made, then the replay; no
    reload. Sends view beacons."""
    principal = principal_of(request)
    settings = settings_of(request)

    async def build() -> dict[str, Any]:
        row = await one_row(session_id)
        if row is None or (row["visibility"] != Visibility.public.value and principal is None):
            raise NotFound(f"session {session_id} not found", field="session_id")
        if row["status"] == SessionStatus.cancelled.value:
            raise Conflict(f"session {session_id} was cancelled", field="session_id")
        state = await watch_state.watch_state(request, session_id, plugins, settings)
        recording = await replays_view.recording_of(request, settings, session_id)
        live_hls: str | None = state.live_source
        link = state.link
        if state.state == "waiting":
            stream = await live.session_row(session_id)
            live_hls, link = await watch_state.live_addresses(
                stream, plugins, settings, datetime.now(UTC)
            )
        kind = "replay" if state.state == "replay_ready" else "live"
        qualities = dict(state.replay) if kind == "replay" else {}
        if kind == "live" and state.state == "live" and state.playlist_ready and live_hls:
            qualities["high"] = live_hls
        playable = (
            bool(qualities) or bool(live_hls) or (state.state == "ended" and recording is not None)
        )
        start_low = False
        if principal is not None and principal.role is Role.center and principal.center_id:
            center = await schedule.get_center(principal.center_id)
            start_low = center["bandwidth"] == Bandwidth.low.value
        teacher = (
            await Teacher.select(Teacher.name).where(Teacher.id == row["teacher_id"]).first().run()
        )
        return {
            "s": row,
            "state": state,
            "kind": kind,
            "source": qualities.get("high"),
            "qualities": qualities,
            "playable": playable,
            "downloads": replays_view.downloads(recording),
            "link": link,
            "start_low": start_low,
            "teacher": teacher,
            "upcoming": row["status"] == SessionStatus.scheduled.value,
            "materials": await materials.shown_on_watch_page(principal, session_id),
        }

    return await public_page(request, "watch.html", build, lang=lang_of(request))


HANDLERS = [schedule_page, course_page, watch_page]
