"""The authorization matrix: every route of the app's route table x every role.

Roles: anonymous, admin, teacher, another teacher, center, another center. ``ACCESS`` says who
may call each route (read from the route table, so a new route without a rule fails
``test_every_route_has_a_rule``); the status each role gets follows from it:

- a role the rule refuses gets 401 (anonymous) or 403, on the real objects of the programme
  (the teacher's session, the center's booking...), so a refusal by ownership is tested too;
- a role the rule admits gets ``ADMITTED[route]`` (200 unless said otherwise). Reads use the
  real objects; changes use an id that does not exist (404) or an empty body (400), so the
  guard is passed but nothing is changed and every case can run on one shared programme.

tests/test_permissions.py holds the cases that really change data for each role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import get
from litestar.routes import HTTPRoute

from hub import jobs
from hub.pages.assets import Assets
from tests import cluster, material_files
from tests.conftest import World, reseeded
from tests.test_permissions import EXPECTED, OPEN, build_app

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db40000000049454e44ae426082"
)
"""A 1x1 PNG: the programme's room sends it as a photo."""
ROLES = ["anonymous", "admin", "teacher", "teacher2", "center", "center2"]
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
MISSING = 999_999

# who may call a route: anyone | signed in | admin | teachers | the teacher | centers |
# the center | secret (a shared secret no role holds)
ADMITS: dict[str, set[str]] = {
    "anyone": set(ROLES),
    "signed in": set(ROLES) - {"anonymous"},
    "admin": {"admin"},
    "teachers": {"admin", "teacher", "teacher2"},
    "the teacher": {"admin", "teacher"},
    "centers": {"admin", "center", "center2"},
    "the center": {"admin", "center"},
    "the teacher, centers": {"admin", "teacher", "center", "center2"},
    "the teacher, the room": {"admin", "teacher", "center"},
    "the room": {"center"},
    "secret": set(),
}


def _from_permissions(rule: str) -> str:
    """tests/test_permissions.py's words for a mutating route, as an ACCESS rule."""
    if rule == "the center's operator, booked":
        return "the room"  # a room of the class (not an admin: admins are no room)
    if rule == "admin":
        return "admin"
    if rule == "signed in":
        return "signed in"
    if "center" in rule:
        return "the center"
    return "the teacher"


CLASSROOM = "/api/v1/sessions/{session_id:int}/classroom"
ACCESS: dict[tuple[str, str], str] = {
    **{route: _from_permissions(rule) for route, rule in EXPECTED.items()},
    **{route: "anyone" for route in OPEN},
    # any teacher creates, for their own courses (the course is in the body: tested with
    # real bodies in tests/test_permissions.py)
    ("POST", "/api/v1/courses"): "teachers",
    ("POST", "/api/v1/series"): "teachers",
    ("POST", "/api/v1/sessions"): "teachers",
    ("POST", "/teacher/courses"): "teachers",
    ("POST", "/teacher/sessions"): "teachers",
    # any center books a class for itself (the center is in the body)
    ("POST", "/api/v1/sessions/{session_id:int}/bookings"): "centers",
    ("POST", "/center/sessions/{session_id:int}/book"): "centers",
    # whose feed is in the body / the feed: ownership tested in tests/test_calendar.py
    ("POST", "/api/v1/calendar/feeds"): "signed in",
    ("DELETE", "/api/v1/calendar/feeds/{feed_id:int}"): "signed in",
    ("POST", "/api/v1/ingest/rtmp/publish"): "secret",
    ("POST", "/api/v1/ingest/rtmp/publish-done"): "secret",
    # cloud stream callbacks: signed with the provider's callback key (unset here: 403)
    ("POST", "/api/v1/ingest/tencent/events"): "secret",
    ("GET", "/api/v1/ingest/aliyun/events"): "secret",
    # reads
    ("GET", "/healthz"): "anyone",
    ("GET", "/readyz"): "anyone",
    ("GET", "/metrics"): "anyone",
    ("GET", "/api/v1/users"): "admin",
    ("GET", "/api/v1/me"): "signed in",
    ("GET", "/api/v1/tokens"): "signed in",  # own; admins anyone's (tests/test_tokens.py)
    ("GET", "/api/v1/centers"): "anyone",
    ("GET", "/api/v1/centers/{center_id:int}"): "anyone",
    ("GET", "/api/v1/centers/{center_id:int}/upcoming"): "the center",
    ("GET", "/api/v1/centers/{center_id:int}/enrolment"): "the center",
    ("GET", "/impact/method"): "anyone",
    ("GET", "/calendar/private.ics"): "secret",
    ("GET", "/api/v1/teachers"): "anyone",
    ("GET", "/api/v1/teachers/{teacher_id:int}"): "anyone",
    ("GET", "/api/v1/teachers/{teacher_id:int}/upcoming"): "anyone",
    ("GET", "/api/v1/courses"): "anyone",
    ("GET", "/api/v1/courses/{course_id:int}"): "anyone",
    ("GET", "/api/v1/sessions"): "anyone",
    ("GET", "/api/v1/sessions/{session_id:int}"): "anyone",
    ("GET", "/api/v1/series/{series_id:int}"): "anyone",
    ("GET", "/api/v1/terms"): "anyone",
    ("GET", "/api/v1/terms/{term_id:int}"): "anyone",
    ("GET", "/api/v1/sessions/{session_id:int}/bookings"): "the teacher, centers",
    ("GET", "/api/v1/bookings"): "centers",
    ("GET", "/calendar/centers/{center_id:int}/schedule.ics"): "anyone",
    ("GET", "/calendar/public.ics"): "anyone",
    ("GET", "/calendar/teachers/{teacher_id:int}/schedule.ics"): "anyone",
    ("GET", "/api/v1/sessions/{session_id:int}/views"): "anyone",
    ("GET", "/api/v1/impact"): "anyone",
    ("GET", "/api/v1/exports/files/{export_id:int}/download"): "admin",
    ("GET", "/api/v1/exports/{name:str}"): "admin",
    ("GET", "/api/v1/exports/files/{export_id:int}"): "admin",
    ("GET", "/api/v1/reports"): "admin",
    ("GET", "/api/v1/reports/{report_id:int}/figures"): "admin",
    ("GET", "/api/v1/reports/{report_id:int}/file"): "admin",
    ("GET", "/api/v1/reports/{report_id:int}"): "admin",
    ("GET", "/api/v1/reporters"): "admin",
    ("GET", "/api/v1/sessions/{session_id:int}/ingest"): "the teacher",
    ("GET", "/api/v1/sessions/{session_id:int}/ingest/qr.svg"): "the teacher",
    ("GET", "/api/v1/sessions/{session_id:int}/playback"): "anyone",
    ("GET", "/api/v1/sessions/{session_id:int}/state"): "anyone",
    ("GET", "/api/v1/plugins"): "anyone",
    ("GET", "/api/v1/jobs/{job_id:int}"): "admin",
    ("GET", "/api/v1/jobs"): "admin",
    # notifications: everyone their own (tests/test_notify.py shows only one's own)
    ("GET", "/api/v1/notifications"): "signed in",
    ("GET", "/api/v1/notifications/unread-count"): "signed in",
    ("GET", "/api/v1/notifications/preferences"): "signed in",
    ("GET", "/notifications"): "signed in",
    ("GET", "/api/v1/sessions/{session_id:int}/hls/{name:str}"): "anyone",
    ("GET", "/api/v1/sessions/{session_id:int}/recording"): "anyone",
    ("GET", "/media/{key:path}"): "anyone",
    ("GET", "/static/{name:path}"): "anyone",
    ("GET", "/center/sw.js"): "anyone",
    ("GET", "/login"): "anyone",
    ("GET", "/account/password"): "signed in",
    ("GET", "/"): "anyone",
    ("GET", "/courses/{course_id:int}"): "anyone",
    ("GET", "/courses"): "anyone",
    ("GET", "/teachers/{teacher_id:int}"): "anyone",
    ("GET", "/help"): "anyone",
    ("GET", "/watch/{session_id:int}"): "anyone",
    ("GET", "/teacher"): "teachers",
    ("GET", "/teacher/sessions/{session_id:int}"): "the teacher",
    ("GET", "/teacher/courses/new"): "teachers",
    ("GET", "/center"): "centers",
    ("GET", "/center/bookings/{booking_id:int}"): "the center",
    ("GET", "/center/bookings/{booking_id:int}/class"): "the center",
    ("GET", "/center/replays"): "centers",
    ("GET", "/admin"): "admin",
    ("GET", "/admin/reports"): "admin",
    ("GET", "/admin/{kind:str}"): "admin",
    ("GET", "/admin/{kind:str}/{item_id:int}"): "admin",
    ("GET", "/schema/swagger"): "anyone",
    ("GET", "/schema"): "anyone",
    ("GET", "/schema/{path:str}"): "anyone",
    ("GET", "/schema/openapi.json"): "anyone",
    ("GET", "/schema/oauth2-redirect.html"): "anyone",
    # materials of a public course (the programme's): anyone; centers-only courses' are not
    # readable anonymously nor by centers that did not book (tests/test_materials.py)
    ("GET", "/api/v1/courses/{course_id:int}/materials"): "anyone",
    ("GET", "/api/v1/sessions/{session_id:int}/materials"): "anyone",
    ("GET", "/api/v1/materials/{material_id:int}/file"): "anyone",
    ("GET", "/api/v1/materials/{material_id:int}/preview"): "anyone",
    ("GET", "/api/v1/sessions/{session_id:int}/replay.mp4"): "anyone",
    ("GET", "/api/v1/centers/{center_id:int}/packs"): "the center",
    ("GET", "/api/v1/centers/{center_id:int}/packs/{week:str}/{path:path}"): "the center",
    ("GET", "/api/v1/packs/usage"): "admin",
    # volunteer records: a teacher's own ledger; the session or entry of a correction is in
    # the body (ownership tested in tests/test_volunteer_ledger.py)
    ("GET", "/api/v1/volunteer/teachers/{teacher_id:int}/ledger"): "the teacher",
    ("GET", "/api/v1/volunteer/corrections"): "admin",
    ("GET", "/api/v1/volunteer/audit"): "admin",
    ("POST", "/api/v1/volunteer/corrections"): "teachers",
    ("POST", "/api/v1/volunteer/certificates"): "teachers",
    ("GET", "/api/v1/volunteer/certificates/{certificate_id:int}/pdf"): "the teacher",
    ("GET", "/api/v1/volunteer/teachers/{teacher_id:int}/certificates"): "the teacher",
    ("GET", "/verify/{number:str}"): "anyone",
    ("GET", "/api/v1/volunteer/ledger.csv"): "admin",
    ("GET", "/teacher/volunteer"): "teachers",
    ("GET", "/admin/volunteer"): "admin",
    ("GET", "/admin/volunteer/export"): "admin",
    # the page forms of a teacher's record: the line or the teacher is in the form (ownership
    # tested in tests/test_volunteer_pages.py)
    ("POST", "/teacher/volunteer/corrections"): "teachers",
    ("POST", "/teacher/volunteer/certificates"): "teachers",
    ("GET", "/api/v1/volunteer/ledger.xlsx"): "admin",
    # classroom mode: the session's teacher and admins, and the rooms that booked it
    ("GET", CLASSROOM): "the teacher, the room",
    ("GET", CLASSROOM + "/events"): "the teacher, the room",
    ("GET", CLASSROOM + "/stream"): "the teacher, the room",
    ("GET", CLASSROOM + "/photos/{event_id:int}"): "the teacher",
}

# a valid body for changes that take one: a refused role must be refused for who it is,
# not for a bad body; an admitted role sends it to an id that does not exist (404)
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/centers/{center_id:int}"): {"rooms": 2},
    ("POST", "/api/v1/centers/{center_id:int}/enrolment"): {"children": 120},
    ("PATCH", "/api/v1/courses/{course_id:int}"): {"title": "改名"},
    ("PATCH", "/api/v1/teachers/{teacher_id:int}"): {"bio": "x"},
    ("PATCH", "/api/v1/sessions/{session_id:int}"): {},  # an empty patch is refused too
    ("POST", "/api/v1/series/{series_id:int}/cancel"): {"from_date": "2027-03-08"},
    ("POST", "/api/v1/bookings/{booking_id:int}/check-in"): {"children": 12},
    ("POST", "/center/bookings/{booking_id:int}/check-in"): {"children": "12"},
    ("POST", "/api/v1/courses/{course_id:int}/materials"): {"filename": "a.pdf", "size": 10},
    ("POST", "/api/v1/centers/{center_id:int}/packs"): {"week": "2027-03-01"},
    ("PATCH", "/api/v1/volunteer/teachers/{teacher_id:int}/profile"): {"organisation": "志愿队"},
    ("POST", "/api/v1/volunteer/teachers/{teacher_id:int}/records"): {
        "kind": "award",
        "day": "2026-11-01",
        "title": "优秀志愿教师",
    },
    ("POST", "/api/v1/volunteer/entries/{entry_id:int}/decide"): {"approve": True},
    ("POST", "/api/v1/volunteer/corrections/{correction_id:int}/decide"): {
        "approve": False,
        "reason": "不符",
    },
    ("POST", "/api/v1/volunteer/certificates/{certificate_id:int}/decide"): {"approve": True},
    ("POST", "/api/v1/volunteer/certificates/{certificate_id:int}/revoke"): {"reason": "有误"},
    ("POST", CLASSROOM + "/messages"): {"kind": "hand", "text": "问", "key": "matrix-01"},
    ("POST", CLASSROOM + "/health"): {
        "rendition": "low",
        "stalls": 1,
        "latency_ms": 900,
        "watching": True,
    },
    ("POST", CLASSROOM + "/messages/{message_id:int}/show-all"): {"answer": "答"},
    ("POST", CLASSROOM + "/centers/{center_id:int}/mute"): {"muted": True},
}
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/api/v1/sessions/{session_id:int}/ingest/qr.svg"): {"protocol": "srt"},
    ("GET", CLASSROOM + "/stream"): {"seconds": "0"},  # catch up, then end
    ("POST", CLASSROOM + "/photos"): {"key": "matrix-photo"},
}

ANONYMOUS_FORM = 403  # a page form without the CSRF token (Bearer requests skip the check)

# what an admitted role gets, when not 200 (see the module's docstring)
DOWNLOAD = ("GET", "/api/v1/exports/files/{export_id:int}/download")
ADMITTED: dict[tuple[str, str], int | dict[str, int]] = {
    DOWNLOAD: 409,  # not made yet (no worker in the test's process)
    ("GET", "/api/v1/sessions/{session_id:int}/hls/{name:str}"): 404,  # no recording yet
    ("GET", "/api/v1/sessions/{session_id:int}/recording"): 404,
    ("GET", "/media/{key:path}"): 404,
    ("GET", "/api/v1/materials/{material_id:int}/preview"): 404,  # a DOCX has no preview
    ("GET", "/api/v1/sessions/{session_id:int}/replay.mp4"): 404,  # no recording yet
    # the week's pack is not built (no worker in the test's process)
    ("GET", "/api/v1/centers/{center_id:int}/packs/{week:str}/{path:path}"): 404,
    ("POST", "/api/v1/auth/login"): 400,
    ("POST", "/api/v1/beacons/check"): 400,
    ("POST", "/api/v1/sessions/{session_id:int}/beacons"): 400,
    ("POST", "/api/v1/tokens"): 201,
    ("POST", "/api/v1/auth/logout"): 200,
    ("POST", "/api/v1/sessions/{session_id:int}/bookings"): 400,  # no center_id given
    ("POST", "/login"): {"anonymous": ANONYMOUS_FORM, "*": 401},
    ("POST", "/logout"): {"anonymous": ANONYMOUS_FORM, "*": 303},
    ("POST", "/lang"): {"anonymous": ANONYMOUS_FORM, "*": 303},
    ("GET", "/admin/volunteer/export"): 303,  # on to the API's file
    ("POST", "/api/v1/notifications/read-all"): 204,  # one's own: nothing else to name
    ("POST", "/notifications/read"): 303,
    ("PUT", "/api/v1/notifications/preferences"): 200,  # all optional: none chosen is valid
}


ADMITTED_HERE: dict[tuple[str, str], int] = {}
"""What differs on the current backend (the cluster's workers make the export)."""


async def export_made(world: World, export_id: int) -> None:
    async def done() -> bool:
        r = await world.get(f"/api/v1/exports/files/{export_id}", who="admin")
        assert r.json()["state"] != "failed", r.text
        return bool(r.json()["state"] == "done")

    await cluster.until("the export", done, world.cluster)


def admitted_change(route: tuple[str, str]) -> int:
    """A change by an admitted role: 404 for a missing id, else 400 for an empty body."""
    return 404 if ":int}" in route[1] else 400


def every_route(app: Any) -> list[tuple[str, str]]:
    found = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        for method in handler.http_methods
        if method not in SKIPPED_METHODS
    }
    return sorted(found)


ROUTES = every_route(build_app())


def test_every_route_has_a_rule() -> None:
    assert set(ROUTES) - set(ACCESS) == set(), "new routes: decide who may call them"
    assert set(ACCESS) - set(ROUTES) == set(), "rules for routes the app no longer has"
    assert set(ADMITTED) <= set(ACCESS)
    assert set(ACCESS.values()) <= set(ADMITS)


def test_a_new_route_without_a_rule_is_noticed() -> None:
    @get("/api/v1/new-report-view")
    async def new_read() -> None:
        return None

    app = build_app()
    app.register(new_read)
    assert set(every_route(app)) - set(ACCESS) == {("GET", "/api/v1/new-report-view")}


def expected_status(route: tuple[str, str], role: str) -> int:
    if ACCESS[route] == "secret":
        return 403
    if role not in ADMITS[ACCESS[route]]:
        return 401 if role == "anonymous" else 403
    default = 200 if route[0] == "GET" else admitted_change(route)
    admitted = ADMITTED_HERE.get(route, ADMITTED.get(route, default))
    return admitted if isinstance(admitted, int) else admitted.get(role, admitted["*"])


# ------------------------------------------------------------------------- the programme


@pytest.fixture(scope="module")
async def programme(module_client: World) -> AsyncIterator[tuple[World, dict[str, Any]]]:
    """One programme for the whole module: the teacher's session, series and course, the
    center's booking, a term, a report, an export, a job, a static asset."""
    world = await reseeded(module_client)
    ADMITTED_HERE.clear()
    ids: dict[str, Any] = dict(world.ids)
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": ids["course"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=45)).isoformat(),
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text
    ids["session_id"] = r.json()["id"]
    r = await world.post(
        f"/api/v1/sessions/{ids['session_id']}/bookings", {"center_id": ids["center"]}, "center"
    )
    assert r.status_code == 201, r.text
    ids["booking_id"] = r.json()["id"]
    r = await world.post(
        "/api/v1/series",
        {
            "course_id": ids["course"],
            "first_start": "2027-03-01T09:00:00",
            "duration_minutes": 45,
            "rrule": "FREQ=WEEKLY;COUNT=2",
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text
    ids["series_id"] = r.json()["id"]
    r = await world.post(
        "/api/v1/terms",
        {"name": "2027年春季学期", "starts_on": "2027-03-01", "ends_on": "2027-07-10"},
        who="admin",
    )
    assert r.status_code in (200, 201), r.text
    ids["term_id"] = r.json()["id"]
    r = await world.post(
        "/api/v1/reports",
        {"reporter": "impact_printable", "from": "2026-10-01", "to": "2026-10-31"},
        who="admin",
    )
    assert r.status_code in (200, 201, 202), r.text
    ids["report_id"] = r.json()["id"]
    r = await world.post("/api/v1/exports", {"dataset": "attendance", "format": "csv"}, "admin")
    assert r.status_code == 202, r.text
    ids["export_id"] = r.json()["id"]
    if world.cluster is not None:  # its workers make the file: the download is there
        await export_made(world, ids["export_id"])
        ADMITTED_HERE[DOWNLOAD] = 200
    ids["job_id"] = await jobs.enqueue(jobs.FINALIZE, {"session_id": MISSING})
    r = await world.post("/api/v1/tokens", {"name": "matrix"}, who="teacher")
    assert r.status_code == 201, r.text
    ids["token_id"] = r.json()["id"]
    r = await world.post("/api/v1/calendar/feeds", {"center_id": ids["center"]}, who="center")
    assert r.status_code == 201, r.text
    ids["feed_id"] = r.json()["id"]
    r = await material_files.attach(
        world, ids["course"], material_files.docx(), "作业.docx", "teacher"
    )
    assert r.status_code == 200, r.text
    ids["material_id"] = r.json()["id"]
    r = await world.post(
        "/api/v1/volunteer/entries",
        {
            "teacher_id": ids["teacher_id"],
            "kind": "visit",
            "day": "2026-11-02",
            "hours": 3,
            "content": "送教下乡",
        },
        who="admin",
    )
    assert r.status_code == 201, r.text
    ids["entry_id"] = r.json()["id"]
    r = await world.post(
        "/api/v1/volunteer/corrections",
        {"entry_id": ids["entry_id"], "hours": 4, "reason": "实为4小时"},
        who="teacher",
    )
    assert r.status_code == 201, r.text
    ids["correction_id"] = r.json()["id"]
    r = await world.post(
        "/api/v1/volunteer/certificates",
        {"teacher_id": ids["teacher_id"], "from": "2026-11-01", "to": "2026-11-30"},
        who="admin",
    )
    assert r.status_code == 201, r.text
    ids["certificate_id"] = r.json()["id"]
    ids["number"] = r.json()["number"]
    r = await world.client.post(
        f"/api/v1/sessions/{ids['session_id']}/classroom/photos",
        params={"key": "matrix-photo-0"},
        content=PNG,
        headers=world.auth("center"),
    )
    assert r.status_code == 201, r.text
    ids["event_id"] = ids["message_id"] = r.json()["id"]
    # the center's notice of its booking (a refusal by owner: tests/test_notify.py)
    ids["notification_id"] = MISSING
    ids["teacher_id"] = ids["teacher_id"]
    ids["center_id"] = ids["center"]
    ids["course_id"] = ids["course"]
    ids["name"] = "attendance.csv"
    ids["kind"] = "centers"
    ids["item_id"] = ids["center"]
    ids["key"] = "sessions/1/nothing.ts"
    ids["path"] = "swagger"
    ids["week"] = "2027-03-01"
    ids["static"] = Assets().url("js/app.js").removeprefix("/static/")
    yield world, ids
    ADMITTED_HERE.clear()


HLS_NAME = "index.m3u8"


def url_for(path: str, ids: dict[str, Any], missing: bool) -> str:
    """A request path for a route: real ids, or (``missing``) ids that do not exist."""
    out, rest = "", path
    while "{" in rest:
        head, _, tail = rest.partition("{")
        spec, _, rest = tail.partition("}")
        name, _, kind = spec.partition(":")
        if kind == "int":
            value: Any = MISSING if missing else ids[name]
        elif path.startswith("/static/"):
            value = ids["static"]
        elif path.startswith("/api/v1/sessions/") and name == "name":
            value = HLS_NAME
        else:
            value = ids[name]
        out += head + str(value)
    return out + rest


async def call(world: World, ids: dict[str, Any], route: tuple[str, str], role: str) -> int:
    method, path = route
    admitted = role in ADMITS[ACCESS[route]]
    changes = method not in {"GET", "HEAD"}
    headers = world.auth(None if role == "anonymous" else role)
    kwargs: dict[str, Any] = {"headers": headers, "params": QUERIES.get(route, {})}
    if changes:
        has_ids = ":int}" in path
        body = BODIES.get(route, {}) if (has_ids or not admitted) else {}
        kwargs["json" if path.startswith("/api/") else "data"] = body
    url = url_for(path, ids, missing=changes and admitted)
    r = await world.client.request(method, url, **kwargs)
    assert r.status_code < 500, f"{method} {url} as {role}: {r.status_code} {r.text[:300]}"
    return r.status_code


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_route_by_role(
    programme: tuple[World, dict[str, Any]], route: tuple[str, str]
) -> None:
    world, ids = programme
    got = {role: await call(world, ids, route, role) for role in ROLES}
    want = {role: expected_status(route, role) for role in ROLES}
    assert got == want, f"got {got}"
