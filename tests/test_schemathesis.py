"""Schemathesis against the hub's own OpenAPI schema: every operation, as anonymous and as each
role, with a bounded number of generated requests (valid and invalid ones): no answer is a
500, every answer conforms to the schema, and every status code answered is documented (the
error answers 400/401/403/404/409/413/415/429/503 with their body, hub.api.common).

The cases are drawn from schemathesis' strategies (derandomized, so a run is repeatable) and
sent through httpx's ASGI transport on the test's own event loop, where the database pool
lives; ``bench/schemathesis_long.py`` runs the same with many more examples.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from hub.settings import Settings
from plugins.self_hosted.callbacks import CALLBACK_PATH, callback_secret
from tests.conftest import World, reseeded
from tests.test_permissions import build_app

ROLES: list[str | None] = [None, "admin", "teacher", "teacher2", "center", "center2"]
BASE_URL = "http://testserver.local"
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]

# operations with a finding not fixed yet: "METHOD /path" -> the bug
KNOWN_BUGS: dict[str, str] = {}
# server-sent event streams run until ``seconds`` (5 minutes by default): fuzzed with 0 (catch
# up and end), every other value as generated
STREAMS = {"GET /api/v1/sessions/{session_id}/classroom/stream"}


def load_schema() -> Any:
    return schemathesis.openapi.from_dict(build_app().openapi_schema.to_schema())


SCHEMA = load_schema()
OPERATIONS = {
    f"{op.method.upper()} {op.path}": op for op in (r.ok() for r in SCHEMA.get_all_operations())
}


def draw(strategy: Any, count: int) -> list[Any]:
    """``count`` examples of a strategy, the same on every run."""
    cases: list[Any] = []

    @hypothesis.settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(strategy)
    def collect(case: Any) -> None:
        if len(cases) < count:
            cases.append(case)

    try:
        collect()
    except hypothesis.errors.Unsatisfiable:
        pass
    return cases


def cases_for(operation: Any, ids: dict[str, int], count: int) -> list[Any]:
    """Valid and invalid requests, with generated ids and with the programme's real ids."""
    names = {p.name for p in operation.path_parameters}
    real = {name: ids[name] for name in names if name in ids}
    out: list[Any] = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        out += draw(operation.as_strategy(generation_mode=mode), count)
    if real and len(real) == len(names):
        out += draw(operation.as_strategy(path_parameters=real), count)
    return out


def request_kwargs(case: Any) -> dict[str, Any]:
    """schemathesis' request (requests-style keyword arguments) for httpx."""
    kw = case.as_transport_kwargs(base_url=BASE_URL)
    out: dict[str, Any] = {"method": kw["method"], "url": kw["url"]}
    for key in ("headers", "params", "cookies", "json", "files"):
        if kw.get(key) is not None:
            out[key] = kw[key]
    data = kw.get("data")
    if isinstance(data, (bytes, str)):
        out["content"] = data
    elif data is not None:
        out["data"] = data
    return out


@dataclass
class Tally:
    operations: int = 0
    requests: int = 0
    server_errors: int = 0
    schema_failures: int = 0
    """Answers whose body or headers do not match what the schema says of their status."""
    undocumented_status_codes: int = 0
    """Answers with a status code the operation does not document."""
    failures: list[str] = field(default_factory=list)


async def run_operation(
    world: World, name: str, ids: dict[str, int], count: int, tally: Tally
) -> None:
    operation = OPERATIONS[name]
    cases = cases_for(operation, ids, count)
    tally.operations += 1
    for who in ROLES:
        for case in cases:
            kw = request_kwargs(case)
            kw["headers"] = {**{k: str(v) for k, v in (kw.get("headers") or {}).items()}}
            kw["headers"].pop("Authorization", None)
            kw["headers"].update(world.auth(who))
            kw["cookies"] = None
            if name in STREAMS:
                kw["params"] = {**(kw.get("params") or {}), "seconds": "0"}
            response = await world.client.request(**kw)
            tally.requests += 1
            if response.status_code >= 500:
                tally.server_errors += 1
            for check in CHECKS:
                try:
                    case.validate_response(response, checks=[check])
                except (Exception, BaseExceptionGroup) as exc:  # a group of failures
                    if check is status_code_conformance:
                        tally.undocumented_status_codes += 1
                    elif check is response_schema_conformance:
                        tally.schema_failures += 1
                    tally.failures.append(
                        f"{name} as {who or 'anonymous'}: {kw['method']} {response.url} "
                        f"-> {response.status_code} ({check.__name__}): {str(exc)[:600]}"
                    )


async def programme(world: World) -> dict[str, int]:
    """Real objects for path parameters: the teacher's session, the center's booking..."""
    ids = dict(world.ids)
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
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
    ids["course_id"] = ids["course"]
    ids["center_id"] = ids["center"]
    return ids


def selected(names: Iterable[str]) -> list[Any]:
    out = []
    for name in sorted(names):
        marks = (
            [pytest.mark.xfail(reason=KNOWN_BUGS[name], strict=False)] if name in KNOWN_BUGS else []
        )
        out.append(pytest.param(name, id=name, marks=marks))
    return out


@pytest.fixture(scope="module")
async def fuzzed(module_client: World) -> tuple[World, dict[str, int]]:
    world = await reseeded(module_client)
    return world, await programme(world)


EXAMPLES = 3  # per mode and role: about 20-40 requests per operation


@pytest.mark.parametrize("name", selected(OPERATIONS))
async def test_operation_holds_its_schema(fuzzed: tuple[World, dict[str, int]], name: str) -> None:
    world, ids = fuzzed
    tally = Tally()
    started = time.monotonic()
    await run_operation(world, name, ids, EXAMPLES, tally)
    assert tally.requests > 0
    assert tally.server_errors == 0, "\n".join(tally.failures)
    assert tally.undocumented_status_codes == 0, "\n".join(tally.failures[:5])
    assert tally.schema_failures == 0, "\n".join(tally.failures[:5])
    assert tally.failures == [], "\n".join(tally.failures[:5])
    assert time.monotonic() - started < 60


def test_every_operation_is_covered() -> None:
    assert len(OPERATIONS) > 50
    assert set(KNOWN_BUGS) <= set(OPERATIONS)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"id": "not-an-int"}),
        (500, {"status_code": 500, "detail": "internal error"}),
        (418, {"status_code": 418, "detail": "an answer the schema does not document"}),
        (404, {"status_code": "404"}),  # a documented error with a body off its shape
    ],
)
def test_the_checks_catch_a_broken_answer(status: int, body: dict[str, Any]) -> None:
    """The checks are live: a body off its schema, a 500, or an undocumented status is a
    failure."""
    case = draw(OPERATIONS["GET /api/v1/centers/{center_id}"].as_strategy(), 1)[0]
    request = httpx.Request("GET", f"{BASE_URL}/api/v1/centers/1")
    response = httpx.Response(status, json=body, request=request)
    response.read()
    response.elapsed = timedelta(0)
    with pytest.raises(BaseExceptionGroup):
        case.validate_response(response, checks=CHECKS)


async def test_findings_stay_fixed(world: World, settings: Settings) -> None:
    """What the fuzzing found, as plain requests: page ids beyond 32 bits (SQLite overflowed),
    a pathological id on the watch page, and digits that are not ASCII ("³".isdigit() is True
    but int("³") fails) in the schedule filter and in an RTMP stream name."""
    for url in ("/watch/99999999999999999999", "/courses/99999999999999999999", "/?grade=³"):
        r = await world.client.get(url)
        assert r.status_code < 500, (url, r.status_code)
    r = await world.get("/center?center=99999999999999999999", who="admin")
    assert r.status_code == 400
    r = await world.client.post(
        f"{CALLBACK_PATH}/publish",
        data={"app": "live", "call": "publish", "name": "sh³", "key": "x"},
        params={"secret": callback_secret(settings)},
    )
    assert r.status_code < 500, r.text
    r = await world.patch(f"/api/v1/sessions/{await teacher_session(world)}", {}, who="teacher2")
    assert r.status_code == 403  # an empty patch of another teacher's class is refused too


async def teacher_session(world: World) -> int:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=45)).isoformat(),
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])
