"""Bad input to the POST/PATCH endpoints and the list filters: always a 4xx naming the field.

Each row of ``CASES`` is one request: wrong types, missing and unknown fields, overlong
strings, unknown ids, end before start, unknown time zones, impossible dates, page sizes out
of range, negative head counts. Every answer must be a 4xx with a JSON body whose ``extra``
(or, when there is no ``extra``, whose ``detail``) names the field; never a 500.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import World, reseeded

LONG = "x" * 10_000
NO_BODY = object()
HUGE_ID = 99_999_999_999  # above PostgreSQL's integer range; must still be a plain 404


@dataclass(frozen=True)
class Ref:
    """An id from the seeded world (``world.ids``) or from ``prepare``, put into a body."""

    name: str


@dataclass(frozen=True)
class Case:
    method: str
    url: str
    body: Any = NO_BODY
    field: str = ""
    status: int = 400
    who: str | None = "admin"
    pg_bug: str = ""  # a reason when this case fails on PostgreSQL only


def case(
    case_id: str,
    method: str,
    url: str,
    body: Any = NO_BODY,
    field: str = "",
    status: int = 400,
    who: str | None = "admin",
    bug: str = "",
    pg_bug: str = "",
) -> Any:
    marks = [pytest.mark.xfail(reason="BUG: " + bug, strict=True)] if bug else []
    return pytest.param(
        Case(method, url, body, field, status, who, pg_bug), id=case_id, marks=marks
    )


CENTER = {"name": "岷县共享中心", "province": "甘肃省", "city": "定西市", "county": "岷县"}
SESSION = {
    "course_id": Ref("course"),
    "starts_at": "2027-03-01T09:00:00",
    "ends_at": "2027-03-01T09:45:00",
}
SERIES = {
    "course_id": Ref("course"),
    "first_start": "2027-03-01T09:00:00",
    "duration_minutes": 45,
    "rrule": "FREQ=WEEKLY;COUNT=3",
}
TERM = {"name": "2027年春季学期", "starts_on": "2027-03-01", "ends_on": "2027-07-10"}
USER = {"username": "new.user", "password": "long-enough-1", "role": "teacher"}
COURSE = {"title": "趣味科学", "subject": "科学", "teacher_id": Ref("teacher_id")}

OVERFLOW_BUG = "a date at the edge of the calendar overflows datetime arithmetic and answers 500: "
PG_INT_BUG = (
    "on PostgreSQL an id path parameter above 2**31-1 reaches asyncpg as int4 and raises "
    "DataError (500); the {..:int} path parameters have no bounds (e.g. "
    "hub/api/centers.py:139, hub/api/bookings.py:58)"
)

CASES = [
    # --- centers
    case("center-name-wrong-type", "post", "/api/v1/centers", {**CENTER, "name": 5}, "name"),
    case(
        "center-name-missing",
        "post",
        "/api/v1/centers",
        {k: v for k, v in CENTER.items() if k != "name"},
        "name",
    ),
    case("center-unknown-field", "post", "/api/v1/centers", {**CENTER, "wifi": True}, "wifi"),
    case("center-name-10000-chars", "post", "/api/v1/centers", {**CENTER, "name": LONG}, "name"),
    case(
        "center-province-too-long",
        "post",
        "/api/v1/centers",
        {**CENTER, "province": "省" * 51},
        "province",
    ),
    case("center-rooms-zero", "post", "/api/v1/centers", {**CENTER, "rooms": 0}, "rooms"),
    case("center-rooms-wrong-type", "post", "/api/v1/centers", {**CENTER, "rooms": "two"}, "rooms"),
    case("center-kind-unknown", "post", "/api/v1/centers", {**CENTER, "kind": "boat"}, "kind"),
    case(
        "center-timezone-unknown",
        "post",
        "/api/v1/centers",
        {**CENTER, "timezone": "Mars/Olympus"},
        "timezone",
    ),
    case(
        "center-timezone-too-long",
        "post",
        "/api/v1/centers",
        {**CENTER, "timezone": "Asia/" + "x" * 100},
        "timezone",
    ),
    case(
        "center-phone-too-long",
        "post",
        "/api/v1/centers",
        {**CENTER, "contact_phone": "1" * 41},
        "contact_phone",
    ),
    case(
        "center-patch-name-10000-chars", "patch", "/api/v1/centers/{center}", {"name": LONG}, "name"
    ),
    case(
        "center-patch-timezone-unknown",
        "patch",
        "/api/v1/centers/{center}",
        {"timezone": "Mars/Olympus"},
        "timezone",
    ),
    case(
        "center-patch-active-wrong-type",
        "patch",
        "/api/v1/centers/{center}",
        {"active": "yes"},
        "active",
    ),
    case("center-patch-unknown-field", "patch", "/api/v1/centers/{center}", {"id": 7}, "id"),
    case(
        "center-patch-unknown-id",
        "patch",
        "/api/v1/centers/987654",
        {"name": "x"},
        "center_id",
        404,
    ),
    case(
        "center-patch-huge-id",
        "patch",
        f"/api/v1/centers/{HUGE_ID}",
        {"name": "x"},
        "center_id",
        400,
    ),
    # --- teachers
    case("teacher-name-missing", "post", "/api/v1/teachers", {"school": "北京四中"}, "name"),
    case("teacher-name-wrong-type", "post", "/api/v1/teachers", {"name": ["王"]}, "name"),
    case("teacher-name-10000-chars", "post", "/api/v1/teachers", {"name": LONG}, "name"),
    case(
        "teacher-grade-13", "post", "/api/v1/teachers", {"name": "王", "grades": [13]}, "grades[0]"
    ),
    case(
        "teacher-subjects-not-a-list",
        "post",
        "/api/v1/teachers",
        {"name": "王", "subjects": "数学"},
        "subjects",
    ),
    case(
        "teacher-bio-too-long", "post", "/api/v1/teachers", {"name": "王", "bio": "x" * 5001}, "bio"
    ),
    case(
        "teacher-unknown-user",
        "post",
        "/api/v1/teachers",
        {"name": "王", "user_id": 987654},
        "user_id",
        404,
    ),
    case(
        "teacher-user-not-a-teacher",
        "post",
        "/api/v1/teachers",
        {"name": "王", "user_id": Ref("user_center")},
        "user_id",
    ),
    case("teacher-unknown-field", "post", "/api/v1/teachers", {"name": "王", "age": 40}, "age"),
    case(
        "teacher-patch-unknown-id",
        "patch",
        "/api/v1/teachers/987654",
        {"name": "x"},
        "teacher_id",
        404,
    ),
    case(
        "teacher-patch-name-10000-chars",
        "patch",
        "/api/v1/teachers/{teacher_id}",
        {"name": LONG},
        "name",
    ),
    case(
        "teacher-patch-user-not-patchable",
        "patch",
        "/api/v1/teachers/{teacher_id}",
        {"user_id": 1},
        "user_id",
    ),
    # --- courses
    case(
        "course-subject-missing",
        "post",
        "/api/v1/courses",
        {"title": "科学", "teacher_id": Ref("teacher_id")},
        "subject",
    ),
    case(
        "course-unknown-teacher",
        "post",
        "/api/v1/courses",
        {**COURSE, "teacher_id": 987654},
        "teacher_id",
        404,
    ),
    case(
        "course-teacher-wrong-type",
        "post",
        "/api/v1/courses",
        {**COURSE, "teacher_id": "one"},
        "teacher_id",
    ),
    case(
        "course-teacher-id-a-list",
        "post",
        "/api/v1/courses",
        {**COURSE, "teacher_id": [1]},
        "teacher_id",
    ),
    case(
        "course-grades-reversed",
        "post",
        "/api/v1/courses",
        {**COURSE, "grade_min": 6, "grade_max": 2},
        "grade_max",
    ),
    case("course-grade-zero", "post", "/api/v1/courses", {**COURSE, "grade_min": 0}, "grade_min"),
    case(
        "course-visibility-unknown",
        "post",
        "/api/v1/courses",
        {**COURSE, "visibility": "secret"},
        "visibility",
    ),
    case("course-title-10000-chars", "post", "/api/v1/courses", {**COURSE, "title": LONG}, "title"),
    case("course-unknown-field", "post", "/api/v1/courses", {**COURSE, "price": 0}, "price"),
    case(
        "course-patch-unknown-id",
        "patch",
        "/api/v1/courses/987654",
        {"title": "x"},
        "course_id",
        404,
    ),
    case(
        "course-patch-grades-reversed",
        "patch",
        "/api/v1/courses/{course}",
        {"grade_min": 10, "grade_max": 9},
        "grade_max",
    ),
    case(
        "course-patch-description-too-long",
        "patch",
        "/api/v1/courses/{course}",
        {"description": "x" * 5001},
        "description",
    ),
    case(
        "course-patch-teacher-not-patchable",
        "patch",
        "/api/v1/courses/{course}",
        {"teacher_id": Ref("teacher2_id")},
        "teacher_id",
    ),
    # --- sessions
    case(
        "session-ends-missing",
        "post",
        "/api/v1/sessions",
        {k: v for k, v in SESSION.items() if k != "ends_at"},
        "ends_at",
    ),
    case(
        "session-unknown-course",
        "post",
        "/api/v1/sessions",
        {**SESSION, "course_id": 987654},
        "course_id",
        404,
    ),
    case(
        "session-course-wrong-type",
        "post",
        "/api/v1/sessions",
        {**SESSION, "course_id": "abc"},
        "course_id",
    ),
    case(
        "session-course-id-too-big",
        "post",
        "/api/v1/sessions",
        {**SESSION, "course_id": 2**40},
        "course_id",
    ),
    case(
        "session-end-before-start",
        "post",
        "/api/v1/sessions",
        {**SESSION, "ends_at": "2027-03-01T08:00:00"},
        "ends_at",
    ),
    case(
        "session-end-equals-start",
        "post",
        "/api/v1/sessions",
        {**SESSION, "ends_at": SESSION["starts_at"]},
        "ends_at",
    ),
    case(
        "session-13-hours",
        "post",
        "/api/v1/sessions",
        {**SESSION, "ends_at": "2027-03-01T22:00:00"},
        "ends_at",
    ),
    case(
        "session-start-not-a-datetime",
        "post",
        "/api/v1/sessions",
        {**SESSION, "starts_at": "next tuesday"},
        "starts_at",
    ),
    case(
        "session-timezone-unknown",
        "post",
        "/api/v1/sessions",
        {**SESSION, "timezone": "Mars/Olympus"},
        "timezone",
    ),
    case(
        "session-provider-invalid",
        "post",
        "/api/v1/sessions",
        {**SESSION, "provider": "Zoom Meetings!"},
        "provider",
    ),
    case("session-unknown-field", "post", "/api/v1/sessions", {**SESSION, "room": 3}, "room"),
    case(
        "session-year-1",
        "post",
        "/api/v1/sessions",
        {**SESSION, "starts_at": "0001-01-01T00:30:00", "ends_at": "0001-01-01T01:00:00"},
        "starts_at",
    ),
    case(
        "session-last-hours-of-year-9999",
        "post",
        "/api/v1/sessions",
        {**SESSION, "starts_at": "9999-12-31T20:00:00Z", "ends_at": "9999-12-31T21:00:00Z"},
        "starts_at",
    ),
    case(
        "session-patch-unknown-id",
        "patch",
        "/api/v1/sessions/987654",
        {"status": "cancelled"},
        "session_id",
        404,
    ),
    case(
        "session-patch-end-before-start",
        "patch",
        "/api/v1/sessions/{session}",
        {"ends_at": "2000-01-01T00:00:00"},
        "ends_at",
    ),
    case(
        "session-patch-status-live",
        "patch",
        "/api/v1/sessions/{session}",
        {"status": "live"},
        "status",
    ),
    case(
        "session-patch-status-unknown",
        "patch",
        "/api/v1/sessions/{session}",
        {"status": "paused"},
        "status",
    ),
    case(
        "session-patch-timezone-unknown",
        "patch",
        "/api/v1/sessions/{session}",
        {"starts_at": "2027-03-02T09:00:00", "timezone": "Mars/Olympus"},
        "timezone",
    ),
    case(
        "session-patch-start-wrong-type",
        "patch",
        "/api/v1/sessions/{session}",
        {"starts_at": ["2027-03-02T09:00:00"]},
        "starts_at",
    ),
    case(
        "session-cancel-unknown-id",
        "post",
        "/api/v1/sessions/987654/cancel",
        NO_BODY,
        "session_id",
        404,
    ),
    # --- series
    case(
        "series-rrule-without-end",
        "post",
        "/api/v1/series",
        {**SERIES, "rrule": "FREQ=WEEKLY;BYDAY=MO"},
        "rrule",
    ),
    case(
        "series-rrule-yearly",
        "post",
        "/api/v1/series",
        {**SERIES, "rrule": "FREQ=YEARLY;COUNT=3"},
        "rrule",
    ),
    case(
        "series-rrule-garbage",
        "post",
        "/api/v1/series",
        {**SERIES, "rrule": "every monday"},
        "rrule",
    ),
    case(
        "series-rrule-with-rdate-line",
        "post",
        "/api/v1/series",
        {**SERIES, "rrule": "FREQ=WEEKLY;COUNT=2\nRDATE:20270310T090000"},
        "rrule",
    ),
    case(
        "series-rrule-too-long",
        "post",
        "/api/v1/series",
        {**SERIES, "rrule": "FREQ=WEEKLY;COUNT=3;" + "BYDAY=MO;" * 60},
        "rrule",
    ),
    case(
        "series-rrule-too-many-classes",
        "post",
        "/api/v1/series",
        {**SERIES, "rrule": "FREQ=DAILY;COUNT=5000"},
        "rrule",
    ),
    case(
        "series-duration-5-minutes",
        "post",
        "/api/v1/series",
        {**SERIES, "duration_minutes": 5},
        "duration_minutes",
    ),
    case(
        "series-duration-wrong-type",
        "post",
        "/api/v1/series",
        {**SERIES, "duration_minutes": "three quarters"},
        "duration_minutes",
    ),
    case(
        "series-unknown-course",
        "post",
        "/api/v1/series",
        {**SERIES, "course_id": 987654},
        "course_id",
        404,
    ),
    case(
        "series-unknown-term",
        "post",
        "/api/v1/series",
        {**SERIES, "term_id": 987654},
        "term_id",
        404,
    ),
    case(
        "series-timezone-unknown",
        "post",
        "/api/v1/series",
        {**SERIES, "timezone": "Mars/Olympus"},
        "timezone",
    ),
    case(
        "series-first-start-not-a-datetime",
        "post",
        "/api/v1/series",
        {**SERIES, "first_start": "soon"},
        "first_start",
    ),
    case(
        "series-rrule-missing",
        "post",
        "/api/v1/series",
        {k: v for k, v in SERIES.items() if k != "rrule"},
        "rrule",
    ),
    case(
        "series-cancel-unknown-id",
        "post",
        "/api/v1/series/987654/cancel",
        {"from_date": "2027-03-01"},
        "series_id",
        404,
    ),
    case(
        "series-cancel-impossible-date",
        "post",
        "/api/v1/series/{series}/cancel",
        {"from_date": "2027-02-30"},
        "from_date",
    ),
    case(
        "series-cancel-from-year-1",
        "post",
        "/api/v1/series/{series}/cancel",
        {"from_date": "0001-01-01"},
        "from_date",
    ),
    # --- terms
    case(
        "term-ends-before-start",
        "post",
        "/api/v1/terms",
        {**TERM, "ends_on": "2027-02-01"},
        "ends_on",
    ),
    case(
        "term-break-ends-before-start",
        "post",
        "/api/v1/terms",
        {**TERM, "breaks": [{"name": "期中", "starts_on": "2027-04-30", "ends_on": "2027-04-27"}]},
        "breaks[0].ends_on",
    ),
    case(
        "term-impossible-date",
        "post",
        "/api/v1/terms",
        {**TERM, "starts_on": "2027-02-30"},
        "starts_on",
    ),
    case(
        "term-name-missing",
        "post",
        "/api/v1/terms",
        {k: v for k, v in TERM.items() if k != "name"},
        "name",
    ),
    case("term-name-10000-chars", "post", "/api/v1/terms", {**TERM, "name": LONG}, "name"),
    # --- users and accounts
    case("user-role-unknown", "post", "/api/v1/users", {**USER, "role": "wizard"}, "role"),
    case(
        "user-username-with-space", "post", "/api/v1/users", {**USER, "username": "a b"}, "username"
    ),
    case(
        "user-username-too-long",
        "post",
        "/api/v1/users",
        {**USER, "username": "a" * 65},
        "username",
    ),
    case("user-password-short", "post", "/api/v1/users", {**USER, "password": "short"}, "password"),
    case(
        "user-center-operator-without-center",
        "post",
        "/api/v1/users",
        {**USER, "role": "center"},
        "center_id",
    ),
    case(
        "user-unknown-center",
        "post",
        "/api/v1/users",
        {**USER, "role": "center", "center_id": 987654},
        "center_id",
        404,
    ),
    case(
        "user-username-taken",
        "post",
        "/api/v1/users",
        {**USER, "username": "teacher"},
        "username",
        409,
    ),
    case("user-unknown-field", "post", "/api/v1/users", {**USER, "is_admin": True}, "is_admin"),
    case(
        "login-password-missing",
        "post",
        "/api/v1/auth/login",
        {"username": "admin"},
        "password",
        who=None,
    ),
    case(
        "login-unknown-field",
        "post",
        "/api/v1/auth/login",
        {"username": "admin", "password": "x", "remember": True},
        "remember",
        who=None,
    ),
    case(
        "password-change-new-too-short",
        "post",
        "/api/v1/me/password",
        {"current_password": "password-admin", "new_password": "short"},
        "new_password",
    ),
    case(
        "password-change-wrong-current",
        "post",
        "/api/v1/me/password",
        {"current_password": "not-my-password", "new_password": "long-enough-2"},
        "current_password",
    ),
    case("token-name-too-long", "post", "/api/v1/tokens", {"name": "x" * 101}, "name"),
    # --- bookings and attendance
    case(
        "booking-unknown-session",
        "post",
        "/api/v1/sessions/987654/bookings",
        {"center_id": Ref("center")},
        "session_id",
        404,
    ),
    case(
        "booking-huge-session-id",
        "post",
        f"/api/v1/sessions/{HUGE_ID}/bookings",
        {"center_id": Ref("center")},
        "session_id",
        400,
    ),
    case(
        "booking-unknown-center",
        "post",
        "/api/v1/sessions/{session}/bookings",
        {"center_id": 987654},
        "center_id",
        404,
    ),
    case(
        "booking-center-wrong-type",
        "post",
        "/api/v1/sessions/{session}/bookings",
        {"center_id": "one"},
        "center_id",
    ),
    case("booking-center-missing", "post", "/api/v1/sessions/{session}/bookings", {}, "center_id"),
    case(
        "check-in-negative-children",
        "post",
        "/api/v1/bookings/{booking}/check-in",
        {"children": -1},
        "children",
        who="center",
    ),
    case(
        "check-in-2001-children",
        "post",
        "/api/v1/bookings/{booking}/check-in",
        {"children": 2001},
        "children",
        who="center",
    ),
    case(
        "check-in-children-wrong-type",
        "post",
        "/api/v1/bookings/{booking}/check-in",
        {"children": "thirty"},
        "children",
        who="center",
    ),
    case(
        "check-in-children-float",
        "post",
        "/api/v1/bookings/{booking}/check-in",
        {"children": 1e30},
        "children",
        who="center",
    ),
    case(
        "check-in-key-too-short",
        "post",
        "/api/v1/bookings/{booking}/check-in",
        {"children": 3, "key": "abc"},
        "key",
        who="center",
    ),
    case(
        "check-in-unknown-booking",
        "post",
        "/api/v1/bookings/987654/check-in",
        {"children": 3},
        "booking_id",
        404,
    ),
    case(
        "check-out-unknown-booking",
        "post",
        "/api/v1/bookings/987654/check-out",
        NO_BODY,
        "booking_id",
        404,
    ),
    case("unbook-unknown-booking", "delete", "/api/v1/bookings/987654", NO_BODY, "booking_id", 404),
    # --- query parameters
    case("list-tz-unknown", "get", "/api/v1/sessions?tz=Mars/Olympus", field="tz"),
    case("list-tz-too-long", "get", "/api/v1/sessions?tz=" + "x" * 100, field="tz"),
    case("one-session-tz-unknown", "get", "/api/v1/sessions/{session}?tz=Mars/Olympus", field="tz"),
    case(
        "upcoming-tz-unknown",
        "get",
        "/api/v1/teachers/{teacher_id}/upcoming?tz=Mars/Olympus",
        field="tz",
    ),
    case(
        "list-from-invalid-date",
        "get",
        "/api/v1/sessions?from=2026-13-45",
        field="from",
    ),
    case(
        "list-to-before-from", "get", "/api/v1/sessions?from=2026-12-05&to=2026-12-01", field="to"
    ),
    case("list-from-year-1", "get", "/api/v1/sessions?from=0001-01-01", field="from"),
    case("list-to-year-9999", "get", "/api/v1/sessions?to=9999-12-31", field="to"),
    case("list-per-page-0", "get", "/api/v1/sessions?per_page=0", field="per_page"),
    case("list-per-page-1000", "get", "/api/v1/sessions?per_page=1000", field="per_page"),
    case("list-page-0", "get", "/api/v1/sessions?page=0", field="page"),
    case("list-grade-not-a-number", "get", "/api/v1/sessions?grade=abc", field="grade"),
    case("list-grade-13", "get", "/api/v1/sessions?grade=13", field="grade"),
    case("list-status-unknown", "get", "/api/v1/sessions?status=paused", field="status"),
    case("list-teacher-id-negative", "get", "/api/v1/sessions?teacher_id=-1", field="teacher_id"),
    case("centers-per-page-0", "get", "/api/v1/centers?per_page=0", field="per_page"),
    case("courses-per-page-1000", "get", "/api/v1/courses?per_page=1000", field="per_page"),
    case("teachers-per-page-1000", "get", "/api/v1/teachers?per_page=1000", field="per_page"),
]


@pytest.fixture
async def world(module_client: World) -> World:
    return await reseeded(module_client)


async def prepare(world: World, wanted: str) -> dict[str, int]:
    """The ids the case refers to: the seeded ones, plus a session, booking or series."""
    ids = dict(world.ids)
    if "{session}" in wanted or "{booking}" in wanted:
        start = datetime.now(UTC) + timedelta(days=20)
        r = await world.post(
            "/api/v1/sessions",
            {
                "course_id": ids["course"],
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(minutes=45)).isoformat(),
            },
            who="teacher",
        )
        assert r.status_code == 201, r.text
        ids["session"] = r.json()["id"]
    if "{booking}" in wanted:
        r = await world.post(
            f"/api/v1/sessions/{ids['session']}/bookings",
            {"center_id": ids["center"]},
            who="center",
        )
        assert r.status_code == 201, r.text
        ids["booking"] = r.json()["id"]
    if "{series}" in wanted:
        r = await world.post(
            "/api/v1/series", {**SERIES, "course_id": ids["course"]}, who="teacher"
        )
        assert r.status_code == 201, r.text
        ids["series"] = r.json()["id"]
    return ids


def resolve(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, Ref):
        return ids[value.name]
    if isinstance(value, dict):
        return {k: resolve(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ids) for v in value]
    return value


def names_field(body: dict[str, Any], field: str) -> bool:
    """``extra`` names the field (as its key, or as the missing/unknown field of the body);
    only an answer without ``extra`` may name it in ``detail``."""
    extra = body.get("extra")
    if isinstance(extra, list) and extra:
        for item in extra:
            key = str(item.get("key", ""))
            if key == field:
                return True
            if key == "data" and f"`{field}`" in str(item.get("message", "")):
                return True
        return False
    detail = str(body.get("detail", ""))
    return re.search(rf"(?<![\w.]){re.escape(field)}(?!\w)", detail) is not None


@pytest.mark.parametrize("c", CASES)
async def test_bad_input_answers_4xx_naming_the_field(
    world: World, c: Case, backend: str, request: pytest.FixtureRequest
) -> None:
    if c.pg_bug and not backend.startswith("sqlite"):
        request.applymarker(pytest.mark.xfail(reason="BUG: " + c.pg_bug, strict=True))
    ids = await prepare(world, c.url)
    url = c.url.format_map(ids) if "{" in c.url.split("?")[0] else c.url
    headers = world.auth(c.who)
    if c.body is NO_BODY:
        r = await world.client.request(c.method.upper(), url, headers=headers)
    else:
        r = await world.client.request(
            c.method.upper(), url, json=resolve(c.body, ids), headers=headers
        )
    assert r.status_code < 500, f"{r.status_code}: {r.text}"
    assert r.status_code == c.status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["status_code"] == c.status
    assert names_field(body, c.field), f"{c.field!r} not named in {body}"


@pytest.mark.parametrize(
    "url",
    ["/api/v1/centers", "/api/v1/sessions", "/api/v1/series", "/api/v1/terms", "/api/v1/users"],
)
@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"", b"null", b'"text"'], ids=repr)
async def test_body_that_is_not_an_object_is_400(world: World, url: str, content: bytes) -> None:
    r = await world.client.post(
        url, content=content, headers={**world.auth("admin"), "content-type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert r.json()["status_code"] == 400 and r.json()["detail"]


async def test_a_far_future_session_does_not_break_the_schedule(world: World) -> None:
    await world.post(
        "/api/v1/sessions",
        {
            **SESSION,
            "course_id": world.ids["course"],
            "starts_at": "9999-12-31T20:00:00Z",
            "ends_at": "9999-12-31T21:00:00Z",
        },
        who="teacher",
    )
    r = await world.get("/api/v1/sessions")
    assert r.status_code == 200, r.text
