"""Who may change what.

1. Every route that changes data, read from the app's own route table, answers 401 to an
   anonymous request (sign-in and sign-out are the only open ones).
2. ``EXPECTED`` lists those routes; a meta-check fails when a new one appears that is not in it,
   so a new route cannot ship without a decision on who may call it.
3. Role cases: teachers act only for themselves, center operators only for their center;
   the administrator may do everything (one walk through every mutating route).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import post
from litestar.routes import HTTPRoute

from hub.app import create_app
from hub.notify import outbox as notify_outbox
from hub.settings import Settings
from tests import material_files
from tests.conftest import World, app_plugins, app_settings, reseeded

READ_ONLY = {"GET", "HEAD", "OPTIONS"}
OPEN = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/auth/logout")}
# anonymous players' beacons (rate-limited; see tests/test_views.py)
OPEN |= {("POST", "/api/v1/sessions/{session_id:int}/beacons"), ("POST", "/api/v1/beacons/check")}
# nginx's RTMP publish callbacks: shared secret (see tests/test_self_hosted_callbacks.py)
OPEN |= {("POST", "/api/v1/ingest/rtmp/publish"), ("POST", "/api/v1/ingest/rtmp/publish-done")}
# Tencent CSS's push/interrupt callbacks: signed (see tests/test_cloud_callbacks.py)
OPEN |= {("POST", "/api/v1/ingest/tencent/events")}

# page forms anyone may post: sign in, sign out, the language switch (CSRF-checked)
OPEN |= {("POST", "/login"), ("POST", "/logout"), ("POST", "/lang")}

CLASSROOM = "/api/v1/sessions/{session_id:int}/classroom"
# (method, route path as the router has it) -> who may call it
EXPECTED: dict[tuple[str, str], str] = {
    # page forms (hub/pages; walked as the administrator in tests/test_pages.py)
    ("POST", "/account/password"): "signed in",
    ("POST", "/teacher/sessions"): "admin, the course's teacher",
    ("POST", "/teacher/sessions/{session_id:int}/rotate"): "admin, the session's teacher",
    ("POST", "/teacher/sessions/{session_id:int}/cancel"): "admin, the session's teacher",
    ("POST", "/teacher/sessions/{session_id:int}/start"): "admin, the session's teacher",
    ("POST", "/teacher/sessions/{session_id:int}/end"): "admin, the session's teacher",
    ("POST", "/center/sessions/{session_id:int}/book"): "admin, the center's operator",
    ("POST", "/center/bookings/{booking_id:int}/unbook"): "admin, the center's operator",
    ("POST", "/center/bookings/{booking_id:int}/check-in"): "admin, the center's operator",
    ("POST", "/admin/{kind:str}"): "admin",
    ("POST", "/admin/{kind:str}/{item_id:int}"): "admin",
    ("POST", "/teacher/courses"): "admin, the teacher",
    ("POST", "/admin/reports"): "admin",
    ("POST", "/teacher/volunteer/corrections"): "admin, the teacher",
    ("POST", "/teacher/volunteer/certificates"): "admin, the teacher",
    ("POST", "/admin/volunteer/entries"): "admin",
    ("POST", "/admin/volunteer/records"): "admin",
    ("POST", "/admin/volunteer/certificates"): "admin",
    ("POST", "/admin/volunteer/entries/{entry_id:int}/decide"): "admin",
    ("POST", "/admin/volunteer/corrections/{correction_id:int}/decide"): "admin",
    ("POST", "/admin/volunteer/certificates/{certificate_id:int}/decide"): "admin",
    ("POST", "/admin/volunteer/certificates/{certificate_id:int}/revoke"): "admin",
    ("POST", "/admin/volunteer/certificates/{certificate_id:int}/reissue"): "admin",
    ("POST", "/api/v1/me/password"): "signed in",
    ("POST", "/api/v1/tokens"): "signed in",
    ("DELETE", "/api/v1/tokens/{token_id:int}"): "signed in",  # own; admins any (test_tokens)
    # notifications: one's own inbox and preferences (tests/test_notify.py)
    ("POST", "/notifications/read"): "signed in",
    ("POST", "/api/v1/notifications/{notification_id:int}/read"): "signed in",
    ("POST", "/api/v1/notifications/read-all"): "signed in",
    ("PUT", "/api/v1/notifications/preferences"): "signed in",
    ("POST", "/api/v1/users"): "admin",
    ("POST", "/api/v1/centers"): "admin",
    ("PATCH", "/api/v1/centers/{center_id:int}"): "admin, the center's operator",
    ("POST", "/api/v1/centers/{center_id:int}/enrolment"): "admin, the center's operator",
    ("POST", "/api/v1/calendar/feeds"): "admin, the center's operator, the teacher",
    ("DELETE", "/api/v1/calendar/feeds/{feed_id:int}"): "admin, the feed's center or teacher",
    ("POST", "/api/v1/teachers"): "admin",
    ("PATCH", "/api/v1/teachers/{teacher_id:int}"): "admin, the teacher",
    ("POST", "/api/v1/courses"): "admin, the teacher",
    ("PATCH", "/api/v1/courses/{course_id:int}"): "admin, the course's teacher",
    ("POST", "/api/v1/sessions"): "admin, the course's teacher",
    ("PATCH", "/api/v1/sessions/{session_id:int}"): "admin, the session's teacher",
    ("POST", "/api/v1/sessions/{session_id:int}/cancel"): "admin, the session's teacher",
    ("POST", "/api/v1/sessions/{session_id:int}/start"): "admin, the session's teacher",
    ("POST", "/api/v1/sessions/{session_id:int}/end"): "admin, the session's teacher",
    ("POST", "/api/v1/series"): "admin, the course's teacher",
    ("POST", "/api/v1/series/{series_id:int}/cancel"): "admin, the series' teacher",
    ("POST", "/api/v1/terms"): "admin",
    ("POST", "/api/v1/sessions/{session_id:int}/bookings"): "admin, the center's operator",
    ("POST", "/api/v1/bookings/{booking_id:int}/check-in"): "admin, the center's operator",
    ("POST", "/api/v1/bookings/{booking_id:int}/check-out"): "admin, the center's operator",
    ("DELETE", "/api/v1/bookings/{booking_id:int}"): "admin, the center's operator",
    ("POST", "/api/v1/sessions/{session_id:int}/ingest/rotate"): "admin, the session's teacher",
    ("POST", "/api/v1/reports"): "admin",
    ("POST", "/api/v1/exports"): "admin",
    ("POST", "/api/v1/reports/{report_id:int}/publish"): "admin",
    ("POST", "/api/v1/jobs/{job_id:int}/retry"): "admin",
    ("POST", "/api/v1/jobs/{job_id:int}/cancel"): "admin",
    ("POST", "/api/v1/courses/{course_id:int}/materials"): "admin, the course's teacher",
    ("PUT", "/api/v1/materials/{material_id:int}/content"): "admin, the course's teacher",
    ("POST", "/api/v1/materials/{material_id:int}/complete"): "admin, the course's teacher",
    ("DELETE", "/api/v1/materials/{material_id:int}"): "admin, the course's teacher",
    ("POST", "/api/v1/centers/{center_id:int}/packs"): "admin, the center's operator",
    # volunteer records (tests/test_volunteer_*.py)
    ("PATCH", "/api/v1/volunteer/teachers/{teacher_id:int}/profile"): "admin, the teacher",
    ("POST", "/api/v1/volunteer/teachers/{teacher_id:int}/records"): "admin",
    ("POST", "/api/v1/volunteer/entries"): "admin",
    ("POST", "/api/v1/volunteer/entries/{entry_id:int}/decide"): "admin",
    ("POST", "/api/v1/volunteer/corrections"): "admin, the teacher",
    ("POST", "/api/v1/volunteer/corrections/{correction_id:int}/decide"): "admin",
    ("POST", "/api/v1/volunteer/certificates"): "admin, the teacher",
    ("POST", "/api/v1/volunteer/certificates/{certificate_id:int}/decide"): "admin",
    ("POST", "/api/v1/volunteer/certificates/{certificate_id:int}/revoke"): "admin",
    ("POST", "/api/v1/volunteer/certificates/{certificate_id:int}/reissue"): "admin",
    # classroom mode (tests/test_classroom.py): a room that booked the class sends; the
    # session's teacher (or an admin) answers, calls the roll and mutes
    ("POST", CLASSROOM + "/messages"): "the center's operator, booked",
    ("POST", CLASSROOM + "/photos"): "the center's operator, booked",
    ("POST", CLASSROOM + "/health"): "the center's operator, booked",
    ("POST", CLASSROOM + "/messages/{message_id:int}/answer"): "admin, the session's teacher",
    ("POST", CLASSROOM + "/messages/{message_id:int}/dismiss"): "admin, the session's teacher",
    ("POST", CLASSROOM + "/messages/{message_id:int}/show-all"): "admin, the session's teacher",
    ("POST", CLASSROOM + "/roll-call"): "admin, the session's teacher",
    ("POST", CLASSROOM + "/centers/{center_id:int}/mute"): "admin, the session's teacher",
}


PAGE_FORMS = {k for k in EXPECTED if not k[1].startswith("/api/")}
ROOM_ONLY = {k for k, rule in EXPECTED.items() if rule == "the center's operator, booked"}
"""What only a room of the class sends (an administrator is no room: 403)."""


def build_app() -> Any:
    settings = Settings(
        secret_key="permissions-secret-0123456789", database_url="sqlite:///unused.sqlite"
    )
    return create_app(settings, manage_db=False)


def mutating_routes(app: Any) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method not in READ_ONLY:
                    found.add((method, route.path))
    return found - OPEN


ROUTES = sorted(mutating_routes(build_app()))


def concrete(path: str) -> str:
    """A request path for a route path: every ``{name:int}`` becomes 1."""
    out, rest = "", path
    while "{" in rest:
        head, _, tail = rest.partition("{")
        out += head + "1"
        rest = tail.partition("}")[2]
    return out + rest


def test_every_mutating_route_is_in_the_expected_table() -> None:
    found = set(ROUTES)
    assert found - set(EXPECTED) == set(), "new mutating routes: decide who may call them"
    assert set(EXPECTED) - found == set(), "routes in EXPECTED that the app no longer has"


def test_the_meta_check_notices_a_new_route() -> None:
    @post("/api/v1/new-thing")
    async def new_thing() -> None:
        return None

    app = build_app()
    app.register(new_thing)
    assert mutating_routes(app) - set(EXPECTED) == {("POST", "/api/v1/new-thing")}


def test_the_open_routes_exist() -> None:
    app = build_app()
    every = {
        (m, r.path)
        for r in app.routes
        if isinstance(r, HTTPRoute)
        for h in r.route_handlers
        for m in h.http_methods
    }
    assert every >= OPEN


@pytest.fixture(scope="module")
async def anonymous_client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_anonymous_request_is_401(
    anonymous_client: httpx.AsyncClient, method: str, path: str
) -> None:
    """The guard answers before any handler (or database) work; the body is a harmless {}."""
    r = await anonymous_client.request(method, concrete(path), json={})
    assert r.status_code == 401, r.text
    assert r.json()["status_code"] == 401


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_anonymous_request_without_a_body_is_401(
    anonymous_client: httpx.AsyncClient, method: str, path: str, request: pytest.FixtureRequest
) -> None:
    r = await anonymous_client.request(method, concrete(path))
    assert r.status_code == 401, r.text


# --------------------------------------------------------------------------- role cases


@pytest.fixture
async def world(module_client: World) -> World:
    return await reseeded(module_client)


def soon(hours: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=10, hours=hours)).isoformat()


async def session_of(world: World, course: str, who: str, hours: float = 0.0) -> int:
    start = datetime.now(UTC) + timedelta(minutes=10, hours=hours)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids[course],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=45)).isoformat(),
        },
        who=who,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def booking_of(world: World, session_id: int, center: str) -> int:
    r = await world.post(
        f"/api/v1/sessions/{session_id}/bookings", {"center_id": world.ids[center]}, who=center
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def series_of(world: World, course: str, who: str) -> int:
    r = await world.post(
        "/api/v1/series",
        {
            "course_id": world.ids[course],
            "first_start": "2027-03-01T09:00:00",
            "duration_minutes": 45,
            "rrule": "FREQ=WEEKLY;COUNT=2",
        },
        who=who,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def teacher2_session(w: World) -> dict[str, Any]:
    return {"session": await session_of(w, "course2", "teacher2")}


async def center2_booking(w: World) -> dict[str, Any]:
    return {"booking": await booking_of(w, await session_of(w, "course", "teacher"), "center2")}


async def teacher_session(w: World) -> dict[str, Any]:
    return {"session": await session_of(w, "course", "teacher")}


async def teacher2_series(w: World) -> dict[str, Any]:
    return {"series": await series_of(w, "course2", "teacher2")}


async def nothing(w: World) -> dict[str, Any]:
    return {}


async def a_job(w: World) -> dict[str, Any]:
    from hub import jobs

    return {"job": await jobs.enqueue(jobs.FINALIZE, {"session_id": 1})}


NEW_CENTER = {"name": "漳县共享中心", "province": "甘肃省", "city": "定西市", "county": "漳县"}

# id, who, method, url, body (a function of the ids), setup, expected status
ROLE_CASES = [
    # a teacher acts only for themself
    (
        "teacher-patches-others-course",
        "teacher",
        "PATCH",
        "/api/v1/courses/{course2}",
        lambda i: {"title": "改名"},
        nothing,
        403,
    ),
    (
        "teacher-creates-course-for-other",
        "teacher",
        "POST",
        "/api/v1/courses",
        lambda i: {"title": "x", "subject": "美术", "teacher_id": i["teacher2_id"]},
        nothing,
        403,
    ),
    (
        "teacher-patches-others-profile",
        "teacher",
        "PATCH",
        "/api/v1/teachers/{teacher2_id}",
        lambda i: {"bio": "改写"},
        nothing,
        403,
    ),
    (
        "teacher-creates-session-in-others-course",
        "teacher",
        "POST",
        "/api/v1/sessions",
        lambda i: {"course_id": i["course2"], "starts_at": soon(), "ends_at": soon(1)},
        nothing,
        403,
    ),
    (
        "teacher-moves-others-session",
        "teacher",
        "PATCH",
        "/api/v1/sessions/{session}",
        lambda i: {"starts_at": soon(2), "ends_at": soon(3)},
        teacher2_session,
        403,
    ),
    (
        "teacher-cancels-others-session-by-patch",
        "teacher",
        "PATCH",
        "/api/v1/sessions/{session}",
        lambda i: {"status": "cancelled"},
        teacher2_session,
        403,
    ),
    (
        "teacher-cancels-others-session",
        "teacher",
        "POST",
        "/api/v1/sessions/{session}/cancel",
        None,
        teacher2_session,
        403,
    ),
    (
        "teacher-starts-others-class",
        "teacher",
        "POST",
        "/api/v1/sessions/{session}/start",
        None,
        teacher2_session,
        403,
    ),
    (
        "center-ends-a-class",
        "center",
        "POST",
        "/api/v1/sessions/{session}/end",
        None,
        teacher_session,
        403,
    ),
    (
        "anonymous-starts-a-class",
        None,
        "POST",
        "/api/v1/sessions/{session}/start",
        None,
        teacher_session,
        401,
    ),
    (
        "teacher-rotates-others-stream-key",
        "teacher",
        "POST",
        "/api/v1/sessions/{session}/ingest/rotate",
        None,
        teacher2_session,
        403,
    ),
    (
        "center-rotates-a-stream-key",
        "center",
        "POST",
        "/api/v1/sessions/{session}/ingest/rotate",
        None,
        teacher_session,
        403,
    ),
    (
        "teacher-creates-series-in-others-course",
        "teacher",
        "POST",
        "/api/v1/series",
        lambda i: {
            "course_id": i["course2"],
            "first_start": "2027-03-01T09:00:00",
            "duration_minutes": 45,
            "rrule": "FREQ=WEEKLY;COUNT=2",
        },
        nothing,
        403,
    ),
    (
        "teacher-cancels-others-series",
        "teacher",
        "POST",
        "/api/v1/series/{series}/cancel",
        lambda i: {"from_date": "2027-01-01"},
        teacher2_series,
        403,
    ),
    (
        "teacher-creates-center",
        "teacher",
        "POST",
        "/api/v1/centers",
        lambda i: NEW_CENTER,
        nothing,
        403,
    ),
    (
        "teacher-creates-user",
        "teacher",
        "POST",
        "/api/v1/users",
        lambda i: {"username": "sneaky", "password": "long-enough-1", "role": "admin"},
        nothing,
        403,
    ),
    (
        "teacher-creates-teacher",
        "teacher",
        "POST",
        "/api/v1/teachers",
        lambda i: {"name": "x"},
        nothing,
        403,
    ),
    (
        "teacher-creates-term",
        "teacher",
        "POST",
        "/api/v1/terms",
        lambda i: {"name": "t", "starts_on": "2027-03-01", "ends_on": "2027-07-01"},
        nothing,
        403,
    ),
    (
        "teacher-patches-a-center",
        "teacher",
        "PATCH",
        "/api/v1/centers/{center}",
        lambda i: {"rooms": 9},
        nothing,
        403,
    ),
    (
        "teacher-books-for-a-center",
        "teacher",
        "POST",
        "/api/v1/sessions/{session}/bookings",
        lambda i: {"center_id": i["center"]},
        teacher_session,
        403,
    ),
    # a center operator acts only for their center, and does not schedule classes
    (
        "center-books-for-other-center",
        "center",
        "POST",
        "/api/v1/sessions/{session}/bookings",
        lambda i: {"center_id": i["center2"]},
        teacher_session,
        403,
    ),
    (
        "center-checks-in-for-other-center",
        "center",
        "POST",
        "/api/v1/bookings/{booking}/check-in",
        lambda i: {"children": 12},
        center2_booking,
        403,
    ),
    (
        "center-checks-out-for-other-center",
        "center",
        "POST",
        "/api/v1/bookings/{booking}/check-out",
        None,
        center2_booking,
        403,
    ),
    (
        "center-unbooks-for-other-center",
        "center",
        "DELETE",
        "/api/v1/bookings/{booking}",
        None,
        center2_booking,
        403,
    ),
    (
        "center-creates-session",
        "center",
        "POST",
        "/api/v1/sessions",
        lambda i: {"course_id": i["course"], "starts_at": soon(), "ends_at": soon(1)},
        nothing,
        403,
    ),
    (
        "center-creates-course",
        "center",
        "POST",
        "/api/v1/courses",
        lambda i: {"title": "x", "subject": "x", "teacher_id": i["teacher_id"]},
        nothing,
        403,
    ),
    (
        "center-creates-series",
        "center",
        "POST",
        "/api/v1/series",
        lambda i: {
            "course_id": i["course"],
            "first_start": "2027-03-01T09:00:00",
            "duration_minutes": 45,
            "rrule": "FREQ=WEEKLY;COUNT=2",
        },
        nothing,
        403,
    ),
    (
        "center-cancels-session",
        "center",
        "POST",
        "/api/v1/sessions/{session}/cancel",
        None,
        teacher_session,
        403,
    ),
    (
        "center-patches-other-center",
        "center",
        "PATCH",
        "/api/v1/centers/{center2}",
        lambda i: {"rooms": 9},
        nothing,
        403,
    ),
    (
        "center-retires-own-center",
        "center",
        "PATCH",
        "/api/v1/centers/{center}",
        lambda i: {"active": False},
        nothing,
        403,
    ),
    (
        "center-records-another-centers-enrolment",
        "center",
        "POST",
        "/api/v1/centers/{center2}/enrolment",
        lambda i: {"children": 300},
        nothing,
        403,
    ),
    (
        "teacher-records-a-centers-enrolment",
        "teacher",
        "POST",
        "/api/v1/centers/{center}/enrolment",
        lambda i: {"children": 300},
        nothing,
        403,
    ),
    (
        "center-creates-center",
        "center",
        "POST",
        "/api/v1/centers",
        lambda i: NEW_CENTER,
        nothing,
        403,
    ),
    (
        "center-creates-user",
        "center",
        "POST",
        "/api/v1/users",
        lambda i: {
            "username": "sneaky",
            "password": "long-enough-1",
            "role": "center",
            "center_id": i["center"],
        },
        nothing,
        403,
    ),
    (
        "center-patches-a-teacher",
        "center",
        "PATCH",
        "/api/v1/teachers/{teacher_id}",
        lambda i: {"bio": "x"},
        nothing,
        403,
    ),
    (
        "teacher-makes-a-report",
        "teacher",
        "POST",
        "/api/v1/reports",
        lambda i: {"reporter": "impact_printable", "from": "2026-10-01", "to": "2026-10-31"},
        nothing,
        403,
    ),
    (
        "center-makes-a-report",
        "center",
        "POST",
        "/api/v1/reports",
        lambda i: {"reporter": "impact_printable", "from": "2026-10-01", "to": "2026-10-31"},
        nothing,
        403,
    ),
    # page forms (Bearer requests skip the CSRF check; the guards and rules are the same)
    ("teacher-adds-a-center-by-page", "teacher", "POST", "/admin/centers", None, nothing, 403),
    (
        "teacher-changes-a-center-by-page",
        "teacher",
        "POST",
        "/admin/centers/{center}",
        None,
        nothing,
        403,
    ),
    (
        "center-changes-own-center-by-page",
        "center",
        "POST",
        "/admin/centers/{center}",
        None,
        nothing,
        403,
    ),
    (
        "teacher-changes-own-user-by-page",
        "teacher",
        "POST",
        "/admin/users/{user_teacher}",
        None,
        nothing,
        403,
    ),
    ("center-adds-a-course-by-page", "center", "POST", "/teacher/courses", None, nothing, 403),
    ("center-schedules-by-page", "center", "POST", "/teacher/sessions", None, nothing, 403),
    (
        "teacher-rotates-others-key-by-page",
        "teacher",
        "POST",
        "/teacher/sessions/{session}/rotate",
        None,
        teacher2_session,
        403,
    ),
    (
        "teacher-cancels-others-class-by-page",
        "teacher",
        "POST",
        "/teacher/sessions/{session}/cancel",
        None,
        teacher2_session,
        403,
    ),
    (
        "teacher-checks-in-by-page",
        "teacher",
        "POST",
        "/center/bookings/{booking}/check-in",
        None,
        center2_booking,
        403,
    ),
    (
        "center-checks-in-for-other-center-by-page",
        "center",
        "POST",
        "/center/bookings/{booking}/check-in",
        None,
        center2_booking,
        403,
    ),
    (
        "center-unbooks-for-other-center-by-page",
        "center",
        "POST",
        "/center/bookings/{booking}/unbook",
        None,
        center2_booking,
        403,
    ),
    # ... and what they may do
    (
        "teacher-patches-own-course",
        "teacher",
        "PATCH",
        "/api/v1/courses/{course}",
        lambda i: {"title": "新标题"},
        nothing,
        200,
    ),
    (
        "teacher-patches-own-profile",
        "teacher",
        "PATCH",
        "/api/v1/teachers/{teacher_id}",
        lambda i: {"bio": "新简介"},
        nothing,
        200,
    ),
    (
        "teacher-creates-own-session",
        "teacher",
        "POST",
        "/api/v1/sessions",
        lambda i: {"course_id": i["course"], "starts_at": soon(), "ends_at": soon(1)},
        nothing,
        201,
    ),
    (
        "teacher-cancels-own-session",
        "teacher",
        "POST",
        "/api/v1/sessions/{session}/cancel",
        None,
        teacher_session,
        200,
    ),
    (
        "center-books-for-itself",
        "center",
        "POST",
        "/api/v1/sessions/{session}/bookings",
        lambda i: {"center_id": i["center"]},
        teacher_session,
        201,
    ),
    (
        "center-patches-own-center",
        "center",
        "PATCH",
        "/api/v1/centers/{center}",
        lambda i: {"rooms": 2},
        nothing,
        200,
    ),
    ("teacher-cancels-a-job", "teacher", "POST", "/api/v1/jobs/{job}/cancel", None, a_job, 403),
    ("center-cancels-a-job", "center", "POST", "/api/v1/jobs/{job}/cancel", None, a_job, 403),
    ("teacher-retries-a-job", "teacher", "POST", "/api/v1/jobs/{job}/retry", None, a_job, 403),
    ("anonymous-cancels-a-job", None, "POST", "/api/v1/jobs/{job}/cancel", None, a_job, 401),
]


@pytest.mark.parametrize(
    ("who", "method", "url", "body", "setup", "status"),
    [pytest.param(*c[1:], id=c[0]) for c in ROLE_CASES],
)
async def test_role_rules(
    world: World, who: str, method: str, url: str, body: Any, setup: Any, status: int
) -> None:
    ids = {**world.ids, **await setup(world)}
    kwargs: dict[str, Any] = {"headers": world.auth(who)}
    if body is not None:
        kwargs["json"] = body(ids)
    r = await world.client.request(method, url.format_map(ids), **kwargs)
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["status_code"] == 403


async def test_refused_changes_leave_the_data_alone(world: World) -> None:
    session = await session_of(world, "course2", "teacher2")
    before = (await world.get(f"/api/v1/sessions/{session}")).json()
    r = await world.patch(
        f"/api/v1/sessions/{session}", {"starts_at": soon(5), "ends_at": soon(6)}, who="teacher"
    )
    assert r.status_code == 403
    r = await world.patch(f"/api/v1/courses/{world.ids['course2']}", {"title": "x"}, who="teacher")
    assert r.status_code == 403
    assert (await world.get(f"/api/v1/sessions/{session}")).json() == before
    assert (await world.get(f"/api/v1/courses/{world.ids['course2']}")).json()["title"] == (
        "美术直播课"
    )


async def test_admin_may_do_everything(world: World) -> None:
    """One walk through every mutating route as the administrator: each answers 2xx."""
    done: set[tuple[str, str]] = set()

    async def call(method: str, route: str, body: Any = None, **ids: int) -> Any:
        kwargs: dict[str, Any] = {"headers": world.auth("admin")}
        if body is not None:
            kwargs["json"] = body
        r = await world.client.request(method, _fill(route, ids), **kwargs)
        assert 200 <= r.status_code < 300, f"{method} {route}: {r.status_code} {r.text}"
        done.add((method, route))
        return r.json() if r.content else None

    center = await call("POST", "/api/v1/centers", NEW_CENTER)
    await call("PATCH", "/api/v1/centers/{center_id:int}", {"rooms": 3}, center_id=center["id"])
    await call(
        "POST",
        "/api/v1/centers/{center_id:int}/enrolment",
        {"children": 90},
        center_id=center["id"],
    )
    feed = await call("POST", "/api/v1/calendar/feeds", {"center_id": center["id"]})
    await call("DELETE", "/api/v1/calendar/feeds/{feed_id:int}", feed_id=feed["id"])
    user = await call(
        "POST",
        "/api/v1/users",
        {
            "username": "zhangxian",
            "password": "long-enough-1",
            "role": "center",
            "center_id": center["id"],
        },
    )
    assert user["center_id"] == center["id"]
    teacher = await call("POST", "/api/v1/teachers", {"name": "赵老师"})
    await call(
        "PATCH", "/api/v1/teachers/{teacher_id:int}", {"bio": "物理"}, teacher_id=teacher["id"]
    )
    course = await call(
        "POST", "/api/v1/courses", {"title": "物理", "subject": "科学", "teacher_id": teacher["id"]}
    )
    await call("PATCH", "/api/v1/courses/{course_id:int}", {"grade_min": 7}, course_id=course["id"])
    session = await call(
        "POST",
        "/api/v1/sessions",
        {"course_id": course["id"], "starts_at": soon(), "ends_at": soon(0.5)},
    )
    await call(
        "PATCH",
        "/api/v1/sessions/{session_id:int}",
        {"starts_at": soon(0.1), "ends_at": soon(0.6)},
        session_id=session["id"],
    )
    await call("POST", "/api/v1/sessions/{session_id:int}/ingest/rotate", session_id=session["id"])
    booking = await call(
        "POST",
        "/api/v1/sessions/{session_id:int}/bookings",
        {"center_id": world.ids["center"]},
        session_id=session["id"],
    )
    await call(
        "POST",
        "/api/v1/bookings/{booking_id:int}/check-in",
        {"children": 25},
        booking_id=booking["id"],
    )
    await call("POST", "/api/v1/bookings/{booking_id:int}/check-out", booking_id=booking["id"])
    other = await call(
        "POST",
        "/api/v1/sessions/{session_id:int}/bookings",
        {"center_id": world.ids["center2"]},
        session_id=session["id"],
    )
    await call("DELETE", "/api/v1/bookings/{booking_id:int}", booking_id=other["id"])
    await call("POST", "/api/v1/sessions/{session_id:int}/start", session_id=session["id"])
    await call("POST", "/api/v1/sessions/{session_id:int}/end", session_id=session["id"])
    later = await call(
        "POST",
        "/api/v1/sessions",
        {"course_id": course["id"], "starts_at": soon(3), "ends_at": soon(4)},
    )
    await call("POST", "/api/v1/sessions/{session_id:int}/cancel", session_id=later["id"])
    await call(
        "POST",
        "/api/v1/terms",
        {"name": "2027年春季学期", "starts_on": "2027-03-01", "ends_on": "2027-07-10"},
    )
    series = await call(
        "POST",
        "/api/v1/series",
        {
            "course_id": world.ids["course2"],
            "first_start": "2027-03-01T09:00:00",
            "duration_minutes": 45,
            "rrule": "FREQ=WEEKLY;COUNT=3",
        },
    )
    cancelled = await call(
        "POST",
        "/api/v1/series/{series_id:int}/cancel",
        {"from_date": "2027-03-08"},
        series_id=series["id"],
    )
    assert cancelled["cancelled"] == 2
    await call(
        "PUT", "/api/v1/notifications/preferences", {"quiet_start": "22:00", "quiet_end": "07:00"}
    )
    await call("POST", "/api/v1/notifications/read-all")
    await notify_outbox.fan_out(
        notify_outbox.EventPayload(kind="report_failed", key="walk", facts={"title": "walk"}),
        app_settings(world),
        app_plugins(world),
    )
    mine = (await world.get("/api/v1/notifications", who="admin")).json()[0]
    await call(
        "POST", "/api/v1/notifications/{notification_id:int}/read", notification_id=mine["id"]
    )
    made = await call("POST", "/api/v1/tokens", {"name": "script"})
    await call("DELETE", "/api/v1/tokens/{token_id:int}", token_id=made["id"])
    await call(
        "POST",
        "/api/v1/me/password",
        {"current_password": "password-admin", "new_password": "a-new-password-1"},
    )
    report = await call(
        "POST",
        "/api/v1/reports",
        {"reporter": "webhook", "from": "2026-10-01", "to": "2026-10-31"},
    )
    await call("POST", "/api/v1/reports/{report_id:int}/publish", report_id=report["id"])
    await call("POST", "/api/v1/exports", {"dataset": "attendance", "format": "csv"})
    job = (await a_job(world))["job"]
    await call("POST", "/api/v1/jobs/{job_id:int}/cancel", job_id=job)
    await call("POST", "/api/v1/jobs/{job_id:int}/retry", job_id=job)
    mine = {"teacher_id": world.ids["teacher_id"]}
    await call(
        "PATCH",
        "/api/v1/volunteer/teachers/{teacher_id:int}/profile",
        {"organisation": "志愿队"},
        **mine,
    )
    await call(
        "POST",
        "/api/v1/volunteer/teachers/{teacher_id:int}/records",
        {"kind": "evaluation", "day": "2026-11-20", "title": "优秀"},
        **mine,
    )
    entry = await call(
        "POST",
        "/api/v1/volunteer/entries",
        {**mine, "kind": "training", "day": "2026-11-02", "hours": 2, "content": "直播培训"},
    )
    fix = await call(
        "POST",
        "/api/v1/volunteer/corrections",
        {"entry_id": entry["id"], "hours": 1.5, "reason": "实为一个半小时"},
    )
    await call(
        "POST",
        "/api/v1/volunteer/corrections/{correction_id:int}/decide",
        {"approve": True, "reason": "核实"},
        correction_id=fix["id"],
    )
    await call(
        "POST",
        "/api/v1/volunteer/entries/{entry_id:int}/decide",
        {"approve": False, "reason": "重复录入"},
        entry_id=entry["id"],
    )
    period = {**mine, "from": "2026-11-01", "to": "2026-11-30"}
    issued = await call("POST", "/api/v1/volunteer/certificates", period)
    again = await call(
        "POST",
        "/api/v1/volunteer/certificates/{certificate_id:int}/reissue",
        certificate_id=issued["id"],
    )
    await call(
        "POST",
        "/api/v1/volunteer/certificates/{certificate_id:int}/revoke",
        {"reason": "时长有误"},
        certificate_id=again["id"],
    )
    asked = await world.post("/api/v1/volunteer/certificates", period, "teacher")
    assert asked.status_code == 201, asked.text
    await call(
        "POST",
        "/api/v1/volunteer/certificates/{certificate_id:int}/decide",
        {"approve": True},
        certificate_id=asked.json()["id"],
    )

    pdf = material_files.pdf()
    asked = await call(
        "POST",
        "/api/v1/courses/{course_id:int}/materials",
        {"filename": "讲义.pdf", "size": len(pdf), "title": "讲义"},
        course_id=course["id"],
    )
    content = "/api/v1/materials/{material_id:int}/content"
    material_id = asked["material"]["id"]
    r = await world.client.put(
        _fill(content, {"material_id": material_id}), content=pdf, headers=world.auth("admin")
    )
    assert r.status_code == 204, r.text
    done.add(("PUT", content))
    await call("POST", "/api/v1/materials/{material_id:int}/complete", material_id=material_id)
    await call("DELETE", "/api/v1/materials/{material_id:int}", material_id=material_id)

    await call(
        "POST",
        "/api/v1/centers/{center_id:int}/packs",
        {"week": "2027-03-01"},
        center_id=center["id"],
    )
    # classroom mode: a room asks (rooms send, admins are no room), the admin acts as teacher
    began = datetime.now(UTC) - timedelta(minutes=20)
    held = await call(
        "POST",
        "/api/v1/sessions",
        {
            "course_id": course["id"],
            "starts_at": began.isoformat(),
            "ends_at": (began + timedelta(minutes=15)).isoformat(),
        },
    )
    room = await call(
        "POST",
        "/api/v1/sessions/{session_id:int}/bookings",
        {"center_id": world.ids["center"]},
        session_id=held["id"],
    )
    await call("POST", "/api/v1/bookings/{booking_id:int}/check-in", {"children": 9},
               booking_id=room["id"])  # fmt: skip
    asked = []
    for n in range(2):
        r = await world.post(
            f"/api/v1/sessions/{held['id']}/classroom/messages",
            {"kind": "hand", "text": "老师", "key": f"walk-hand-{n}"},
            "center",
        )
        assert r.status_code == 201, r.text
        asked.append(r.json()["id"])
    ids = {"session_id": held["id"]}
    await call("POST", CLASSROOM + "/messages/{message_id:int}/answer", {}, **ids,
               message_id=asked[0])  # fmt: skip
    await call("POST", CLASSROOM + "/messages/{message_id:int}/dismiss", {}, **ids,
               message_id=asked[1])  # fmt: skip
    await call("POST", CLASSROOM + "/messages/{message_id:int}/show-all", {"answer": "答"},
               **ids, message_id=asked[0])  # fmt: skip
    await call("POST", CLASSROOM + "/roll-call", {}, **ids)
    await call("POST", CLASSROOM + "/centers/{center_id:int}/mute", {"muted": True}, **ids,
               center_id=world.ids["center"])  # fmt: skip

    assert done == set(EXPECTED) - PAGE_FORMS - ROOM_ONLY, "the walk missed a mutating route"


def _fill(route: str, ids: dict[str, int]) -> str:
    out = route
    for name, value in ids.items():
        out = out.replace("{" + name + ":int}", str(value))
    return out
