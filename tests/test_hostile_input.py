"""Hostile input, second round (issue 16): deep JSON, bodies that are not JSON, cross-site
requests with the session cookie. Runs on SQLite, PostgreSQL and the cluster."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from tests.conftest import World
from tests.test_permissions import build_app, mutating_routes

DEEP = "[" * 1000 + "]" * 1000  # 2 KB, nested 1,000 levels
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
ORIGIN = "http://testserver.local"
JSON = {"content-type": "application/json"}


def concrete(path: str) -> str:
    """A route path with each ``{name:type}`` filled in with 1 (or a word)."""
    return re.sub(r"\{[^}:]+:(\w+)\}", lambda m: "1" if m.group(1) == "int" else "x", path)


ROUTES = sorted(mutating_routes(build_app()))


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_deep_json_is_a_400_on_every_route(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for method, path in ROUTES:
        url = concrete(path)
        for body in (DEEP, DEEP_OBJECT):
            r = await world.client.request(
                method, url, content=body, headers={**JSON, **world.auth("admin")}
            )
            assert r.status_code == 400, (method, url, r.status_code, r.text[:200])
            assert "nested" in r.json()["detail"], (method, url)
    # anonymous: the open JSON endpoints answer 400 too (the others 401 before reading)
    for url in ("/api/v1/auth/login", "/api/v1/sessions/1/beacons", "/api/v1/beacons/check"):
        r = await world.client.post(url, content=DEEP, headers=JSON)
        assert r.status_code == 400, (url, r.status_code, r.text[:200])
    if world.cluster is None:
        assert tracebacks(caplog) == []


async def test_shallow_json_still_works(world: World) -> None:
    r = await world.post("/api/v1/centers", {"name": "深" * 3, "tags": [[["x"]]]}, who="admin")
    assert r.status_code == 400  # an unknown field, named: parsed, not refused as deep
    assert "nested" not in r.text


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
async def test_json_endpoints_refuse_other_content_types(world: World, content_type: str) -> None:
    body = '{"username": "admin", "password": "password-admin"}'
    headers = {"content-type": content_type} if content_type else {}
    r = await world.client.post("/api/v1/auth/login", content=body, headers=headers)
    assert r.status_code == 415, (content_type, r.status_code, r.text)
    assert "application/json" in r.json()["detail"]
    r = await world.client.post(
        "/api/v1/centers",
        content='{"name": "x"}',
        headers={**headers, **world.auth("admin")},
    )
    assert r.status_code == 415, r.text
    r = await world.client.post(
        "/api/v1/auth/login",
        content=body,
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 200, r.text


async def signed_in(world: World, who: str = "admin") -> httpx.AsyncClient:
    r = await world.client.post(
        "/api/v1/auth/login", json={"username": who, "password": "password-" + who}
    )
    assert r.status_code == 200, r.text
    return world.client


async def test_cookie_changes_must_come_from_the_hubs_origin(world: World) -> None:
    client = await signed_in(world)
    body = {"name": "夜校中心", "province": "云南省", "city": "昭通市", "county": "镇雄县"}
    refused: list[dict[str, str]] = [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
        {"sec-fetch-site": "same-site"},
        {},  # neither header nor the token: not from a page of ours
        {"x-csrf-token": "guessed-" + "x" * 40},
    ]
    for headers in refused:
        r = await client.post("/api/v1/centers", json=body, headers=headers)
        assert r.status_code == 403, (headers, r.status_code, r.text)
        assert r.json()["extra"][0]["key"] == "origin"
    allowed: list[dict[str, str]] = [
        {"origin": ORIGIN},
        {"sec-fetch-site": "same-origin", "origin": ORIGIN},
        {"sec-fetch-site": "same-origin"},
    ]
    for headers in allowed:
        r = await client.post("/api/v1/centers", json=body, headers=headers)
        assert r.status_code == 201, (headers, r.status_code, r.text)
    # the CSRF token a page handed out, sent as a header
    page = await client.get("/login")
    token = page.cookies.get("sharehub_csrf") or client.cookies.get("sharehub_csrf")
    assert token
    r = await client.post("/api/v1/centers", json=body, headers={"x-csrf-token": token})
    assert r.status_code == 201, r.text
    # reading needs no origin
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_bearer_requests_need_no_origin(world: World) -> None:
    body: dict[str, Any] = {"name": "令牌中心", "province": "云南省", "city": "昭通市"}
    body["county"] = "镇雄县"
    r = await world.client.post(
        "/api/v1/centers",
        json=body,
        headers={"origin": "https://evil.example", **world.auth("admin")},
    )
    assert r.status_code == 201, r.text


async def test_cross_site_page_form_with_the_cookie_is_refused(world: World) -> None:
    client = await signed_in(world)
    page = await client.get("/account/password")
    token = client.cookies.get("sharehub_csrf")
    assert page.status_code == 200 and token
    form = {
        "csrf_token": token,
        "current_password": "x",
        "new_password": "y",
        "repeat_password": "y",
    }
    r = await client.post(
        "/account/password", data=form, headers={"origin": "https://evil.example"}
    )
    assert r.status_code == 403, r.text


def test_nginx_access_log_has_no_query_strings(tmp_path: Path) -> None:
    """Issue 16, point 8: the ingest nginx's access log never holds a stream key."""
    from plugins.self_hosted.nginx import NginxPaths, render
    from plugins.self_hosted.provider import SelfHostedSettings

    text = render(Settings(secret_key="k" * 20), SelfHostedSettings(), NginxPaths.under(tmp_path))
    assert "log_format sharehub '" in text
    assert f"access_log {tmp_path / 'access.log'} sharehub;" in text
    log_format = text.split("log_format sharehub '", 1)[1].split("'", 1)[0]
    for variable in ("$args", "$tcurl", "$pageurl", "$swfurl", "$request", "$query"):
        assert variable not in log_format, variable
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    conf = tmp_path / "rtmp.conf"
    conf.write_text(
        render(
            Settings(secret_key="k" * 20),
            SelfHostedSettings(),
            NginxPaths.under(tmp_path),
            daemon=False,
        )
    )
    result = subprocess.run(
        ["nginx", "-t", "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "e.log")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------- passwords (point 11)


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short-pw", ">= 10"),
        ("1234567890", "common"),
        ("Password123", "common"),
        ("woaini1314", "common"),
        ("qwertyuiop!", "common"),
        ("my-new.user-pass", "username"),
    ],
)
async def test_weak_passwords_are_refused(world: World, password: str, why: str) -> None:
    r = await world.post(
        "/api/v1/users",
        {"username": "new.user", "password": password, "role": "teacher"},
        who="admin",
    )
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "password", r.text
    assert why in r.text
    r = await world.post(
        "/api/v1/me/password",
        {
            "current_password": "password-teacher",
            "new_password": password.replace("new.user", "teacher"),
        },
        who="teacher",
    )
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "new_password", r.text


async def test_good_passwords_are_taken(world: World) -> None:
    r = await world.post(
        "/api/v1/users",
        {"username": "new.user", "password": "sharehub-demo", "role": "teacher"},
        who="admin",
    )
    assert r.status_code == 201, r.text
    login = {"username": "new.user", "password": "sharehub-demo"}
    assert (await world.client.post("/api/v1/auth/login", json=login)).status_code == 200
