"""Security at the edge: headers and CSP, body limits, sign-in throttling, session cookies,
and secrets that must never leak (logs, viewer pages, exports, error bodies)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import accounts, security
from hub.app import create_app
from hub.auth import SESSION_COOKIE
from hub.security import content_security_policy, wait_seconds
from hub.settings import Settings
from plugins.self_hosted.callbacks import CALLBACK_PATH, callback_secret
from tests import cluster
from tests.cluster import Cluster
from tests.conftest import World, hub_client, seed

pytestmark = pytest.mark.cross_process

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/me"
CLIENT_LOGGERS = ("httpx", "httpcore")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def app_client(settings: Settings, address: str = "127.0.0.1") -> httpx.AsyncClient:
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver.local",
        headers={"origin": "http://testserver.local"},  # a browser on the hub's own pages
    )


@pytest.fixture
async def seeded(settings: Settings, hub_cluster: Cluster | None) -> AsyncIterator[World]:
    """conftest's programme, served by an app on ``settings`` (or by the cluster)."""
    async with hub_client(settings, hub_cluster) as client:
        world = World(client=client, cluster=hub_cluster)
        await seed(world)
        yield world


# ---------------------------------------------------------------------------- headers


def csp_of(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in policy.split(";")
        if part.strip()
    }


async def test_every_answer_carries_the_security_headers(seeded: World) -> None:
    for url in ("/", "/login", ME, "/api/v1/sessions", "/no/such/page", "/healthz"):
        r = await seeded.client.get(url)
        assert r.headers["x-content-type-options"] == "nosniff", url
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin", url
        assert r.headers["x-frame-options"] == "DENY", url
        csp = csp_of(r)
        assert csp["frame-ancestors"] == "'none'", url
        assert csp["script-src"] == "'self'", url  # no inline script, no CDN, no eval
        assert csp["style-src"] == "'self'", url
        assert csp["default-src"] == "'self'", url
        assert csp["object-src"] == "'none'", url
    # no HSTS over plain http
    assert "strict-transport-security" not in r.headers


async def test_static_assets_load_under_the_policy(seeded: World) -> None:
    """Every script and stylesheet a page names is served by the hub itself."""
    for url in ("/", "/login"):
        html = (await seeded.client.get(url)).text
        sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
        assert sources, url
        for src in sources:
            assert src.startswith("/"), f"{url} loads {src} from elsewhere"
            assert (await seeded.client.get(src)).status_code == 200, src


def test_templates_hold_no_inline_script_or_handler() -> None:
    """The CSP refuses inline scripts and event-handler attributes: none may be written."""
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
    handler = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
    inline_style = re.compile(r"<style\b|\sstyle\s*=", re.I)
    pages = [p for p in TEMPLATES.rglob("*.html") if "reports" not in p.parts]
    assert pages
    for path in pages:
        text = path.read_text(encoding="utf-8")
        assert not inline_script.search(text), f"inline <script> in {path.name}"
        assert not handler.search(text), f"on...= handler in {path.name}"
        assert not inline_style.search(text), f"inline style in {path.name}"


async def test_a_waiting_watch_page_runs_only_script_files(seeded: World) -> None:
    """The waiting room updates itself from a script file (the CSP allows no inline script)."""
    starts = datetime.now(UTC) + timedelta(hours=2)
    r = await seeded.post(
        "/api/v1/sessions",
        {
            "course_id": seeded.ids["course"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=45)).isoformat(),
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text
    html = (await seeded.client.get(f"/watch/{r.json()['id']}")).text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    watch = re.search(r'<script src="(/static/js/watch\.[0-9a-f]+\.js)"', html)
    assert watch, html
    body = (await seeded.client.get(watch.group(1))).text
    assert "/state" in body  # it asks the session's state and follows it


def test_policy_allows_players_to_fetch_media_from_storage() -> None:
    tls = Settings(public_url="https://hub.example.cn", s3_endpoint_url="http://minio.lan:9000")
    policy = content_security_policy(tls)
    assert "media-src 'self' blob: https: http://minio.lan:9000;" in policy
    assert "connect-src 'self' blob: https: http://minio.lan:9000;" in policy
    assert "script-src 'self';" in policy
    plain = content_security_policy(Settings(public_url="http://127.0.0.1:8000"))
    assert "media-src 'self' blob: https: http:;" in plain


async def test_https_public_url_adds_hsts_and_secure_cookies(settings: Settings) -> None:
    async with app_client(replace(settings, public_url="https://hub.example.cn")) as client:
        world = World(client=client)
        await seed(world)
        r = await client.post(LOGIN, json={"username": "teacher", "password": "password-teacher"})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert r.headers["strict-transport-security"].startswith("max-age=")
        form = await client.get("/login")  # the CSRF cookie of the page forms
        csrf = form.headers["set-cookie"].lower()
        assert csrf.startswith("sharehub_csrf=") and "secure" in csrf and "httponly" in csrf


async def test_swagger_ui_gets_its_own_policy(seeded: World) -> None:
    r = await seeded.client.get("/schema/swagger")
    assert r.status_code == 200
    csp = csp_of(r)
    assert "https://cdn.jsdelivr.net" in csp["script-src"]
    assert csp["frame-ancestors"] == "'none'"


# ------------------------------------------------------------------------- body limits


async def test_oversized_bodies_answer_413(settings: Settings) -> None:
    async with app_client(replace(settings, max_body_bytes=64 * 1024)) as client:
        world = World(client=client)
        await seed(world)
        big = "x" * (65 * 1024)
        r = await client.post(LOGIN, json={"username": "teacher", "password": big})
        assert r.status_code == 413, r.text
        r = await client.post("/login", data={"username": "teacher", "password": big})
        assert r.status_code == 413, r.text
        r = await world.post("/api/v1/centers", {"name": big, "province": "云南省"}, who="admin")
        assert r.status_code == 413, r.text
        # a body just under the limit is read as usual (and refused on its merits)
        r = await client.post(LOGIN, json={"username": "teacher", "password": "y" * 1000})
        assert r.status_code in (400, 401), r.text


# --------------------------------------------------------------------- sign-in throttling


def test_wait_rule() -> None:
    now = 10_000_000
    assert wait_seconds(4, now, free=5, cap=900, now_ms=now) == 0
    assert wait_seconds(5, now, free=5, cap=900, now_ms=now) == 1
    assert wait_seconds(7, now, free=5, cap=900, now_ms=now) == 4
    assert wait_seconds(7, now - 3500, free=5, cap=900, now_ms=now) == 1
    assert wait_seconds(7, now - 4000, free=5, cap=900, now_ms=now) == 0
    assert wait_seconds(40, now, free=5, cap=900, now_ms=now) == 900
    assert wait_seconds(40, now - 901_000, free=5, cap=900, now_ms=now) == 0  # forgotten
    assert wait_seconds(40, now, free=0, cap=900, now_ms=now) == 0  # throttle off


class Clock:
    """A clock the test moves by hand: the throttle's waits never run out while a slow machine
    works through the requests, and they run out the moment the test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def throttle_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(security, "clock", clock)
    return clock


async def test_failed_sign_ins_slow_down_then_429_across_processes(
    settings: Settings, throttle_clock: Clock
) -> None:
    limited = replace(settings, login_free_failures=3, login_address_free_failures=100)
    async with app_client(limited) as one, app_client(limited) as two:
        world = World(client=one)
        await seed(world)
        wrong = {"username": "teacher", "password": "not-the-password"}
        right = {"username": "teacher", "password": "password-teacher"}
        for client in (one, two, one):  # the failures add up over two serve processes
            assert (await client.post(LOGIN, json=wrong)).status_code == 401
        r = await two.post(LOGIN, json=right)  # even the right password waits now
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert "username" in r.json()["detail"]
        # another user is not affected
        ok = await one.post(LOGIN, json={"username": "center", "password": "password-center"})
        assert ok.status_code == 200
        # after the wait: one more try; a failure doubles the wait
        throttle_clock.advance(int(r.headers["retry-after"]))
        assert (await one.post(LOGIN, json=wrong)).status_code == 401
        r = await one.post(LOGIN, json=right)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 2
        # the page form is throttled by the same counts
        form = await two.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        page = await two.post("/login", data={**right, "csrf_token": token.group(1)})
        assert page.status_code == 429 and "retry-after" in page.headers
        assert 'name="username"' in page.text
        throttle_clock.advance(int(r.headers["retry-after"]))
        assert (await two.post(LOGIN, json=right)).status_code == 200
        # a good sign-in clears the username's count
        assert (await one.post(LOGIN, json=wrong)).status_code == 401
        assert (await one.post(LOGIN, json=right)).status_code == 200


async def test_one_address_trying_many_usernames_is_throttled(
    settings: Settings, throttle_clock: Clock
) -> None:
    limited = replace(settings, login_free_failures=100, login_address_free_failures=4)
    async with (
        app_client(limited, "198.51.100.7") as attacker,
        app_client(limited, "198.51.100.8") as neighbour,
    ):
        await seed(World(client=attacker))
        for name in ("admin", "teacher", "teacher2", "center"):
            r = await attacker.post(LOGIN, json={"username": name, "password": "guess-guess"})
            assert r.status_code == 401
        r = await attacker.post(LOGIN, json={"username": "center2", "password": "guess-guess"})
        assert r.status_code == 429 and "address" in r.json()["detail"]
        r = await neighbour.post(LOGIN, json={"username": "admin", "password": "password-admin"})
        assert r.status_code == 200


# ------------------------------------------------------------------------------ sessions


async def sign_in(
    world: World, settings: Settings, username: str, remember: float = 0
) -> httpx.AsyncClient:
    """A new browser signed in as ``username``, on the same hub as ``world``: on the cluster,
    its servers; else an app of its own (another process) that remembers who a credential is
    for ``remember`` seconds (the read cache's bound; 0: it asks the database every time)."""
    own = replace(settings, credential_cache_seconds=remember)
    client = cluster.client(world.cluster) if world.cluster else app_client(own)
    client.headers["origin"] = "http://testserver.local"  # a browser on the hub's own pages
    r = await client.post(LOGIN, json={"username": username, "password": "password-" + username})
    assert r.status_code == 200, r.text
    return client


async def test_session_cookie_attributes(seeded: World, settings: Settings) -> None:
    r = await seeded.client.post(LOGIN, json={"username": "admin", "password": "password-admin"})
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith(SESSION_COOKIE + "=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert f"max-age={settings.session_max_age}" in cookie
    assert "secure" not in cookie  # http public URL, http request


@pytest.mark.in_process("sets how long each process remembers who a credential is")
async def test_a_sign_out_reaches_other_processes_within_the_cache_bound(
    seeded: World, settings: Settings
) -> None:
    """A process remembers who a cookie is for ``public_cache_seconds``: the process that
    handles the sign-out forgets at once, another one within that bound."""
    laptop = await sign_in(seeded, settings, "teacher", remember=0.5)
    phone = await sign_in(seeded, settings, "teacher", remember=0.5)
    try:
        assert (await phone.get(ME)).status_code == 200  # remembered from here on
        assert (await laptop.post("/api/v1/auth/logout")).status_code == 200
        assert (await laptop.get(ME)).status_code == 401
        deadline = time.monotonic() + 10
        while (await phone.get(ME)).status_code != 401:
            assert time.monotonic() < deadline, "the other process never forgot the sign-in"
            await asyncio.sleep(0.1)
    finally:
        await laptop.aclose()
        await phone.aclose()


async def test_sign_out_ends_the_users_other_sessions(seeded: World, settings: Settings) -> None:
    laptop = await sign_in(seeded, settings, "teacher")
    phone = await sign_in(seeded, settings, "teacher")
    other = await sign_in(seeded, settings, "teacher2")
    try:
        for c in (laptop, phone, other):
            assert (await c.get(ME)).status_code == 200
        assert (await laptop.post("/api/v1/auth/logout")).status_code == 200
        assert (await laptop.get(ME)).status_code == 401
        assert (await phone.get(ME)).status_code == 401  # the other sign-in ended too
        assert (await other.get(ME)).status_code == 200  # another user's did not
        # API tokens are not sessions: the script keeps working
        assert (await seeded.get(ME, who="teacher")).status_code == 200
        again = await sign_in(seeded, settings, "teacher")
        assert (await again.get(ME)).status_code == 200  # signing in again works
        await again.aclose()
    finally:
        for c in (laptop, phone, other):
            await c.aclose()


async def test_password_change_ends_other_sessions_and_keeps_this_one(
    seeded: World, settings: Settings
) -> None:
    here = await sign_in(seeded, settings, "center")
    there = await sign_in(seeded, settings, "center")
    try:
        r = await here.post(
            "/api/v1/me/password",
            json={"current_password": "password-center", "new_password": "a-brand-new-one"},
        )
        assert r.status_code == 200, r.text
        assert SESSION_COOKIE in r.headers.get("set-cookie", "")
        assert (await here.get(ME)).status_code == 200
        assert (await there.get(ME)).status_code == 401
    finally:
        await here.aclose()
        await there.aclose()


async def test_page_password_change_ends_other_sessions(seeded: World, settings: Settings) -> None:
    here = await sign_in(seeded, settings, "teacher2")
    there = await sign_in(seeded, settings, "teacher2")
    try:
        form = await here.get("/account/password")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        r = await here.post(
            "/account/password",
            data={
                "csrf_token": token.group(1),
                "current_password": "password-teacher2",
                "new_password": "another-new-one",
                "repeat_password": "another-new-one",
            },
        )
        assert r.status_code == 200, r.text
        assert (await here.get(ME)).status_code == 200
        assert (await there.get(ME)).status_code == 401
    finally:
        await here.aclose()
        await there.aclose()


@pytest.mark.in_process("an app of its own with a short session lifetime")
async def test_session_max_age_is_honoured(seeded: World, settings: Settings) -> None:
    short = replace(settings, session_max_age=120)
    uid = seeded.ids["user_admin"]
    async with app_client(short) as client:
        fresh = accounts.sign_session(uid, short.secret_key, now=time.time() - 60)
        stale = accounts.sign_session(uid, short.secret_key, now=time.time() - 180)
        ok = await client.get(ME, headers={"Cookie": f"{SESSION_COOKIE}={fresh}"})
        assert ok.status_code == 200
        gone = await client.get(ME, headers={"Cookie": f"{SESSION_COOKIE}={stale}"})
        assert gone.status_code == 401
        r = await client.post(LOGIN, json={"username": "admin", "password": "password-admin"})
        assert "max-age=120" in r.headers["set-cookie"].lower()


# ------------------------------------------------------------------- secrets never leak


async def recording_started(running: Cluster, session_id: int) -> None:
    """Until a worker of the cluster has logged the start of the session's recording."""
    work = f"{Path('sessions') / str(session_id)} "

    async def logged() -> bool:
        return work in running.worker_logs()

    await cluster.until(f"a worker to record session {session_id}", logged, running)


async def test_secrets_never_appear_in_logs_pages_exports_or_errors(
    seeded: World, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the production level for libraries ...
    caplog.set_level(logging.DEBUG, logger="sharehub")  # ... and everything the hub logs
    w = seeded
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    sessions = []
    for ingest in ("srt", "rtmp"):
        r = await w.post(
            "/api/v1/sessions",
            {
                "course_id": w.ids["course"],
                "starts_at": (starts + timedelta(hours=len(sessions))).isoformat(),
                "ends_at": (starts + timedelta(hours=len(sessions), minutes=40)).isoformat(),
                "provider_settings": {"ingest": ingest},
            },
            who="teacher",
        )
        assert r.status_code == 201, r.text
        sessions.append(int(r.json()["id"]))
    secrets: set[str] = {settings.secret_key, callback_secret(settings), *w.tokens.values()}
    for session_id in sessions:
        shown = (await w.get(f"/api/v1/sessions/{session_id}/ingest", "teacher")).json()
        for endpoint in shown["endpoints"]:
            if endpoint["stream_key"]:
                secrets.add(endpoint["stream_key"])
        if shown["passphrase"]:
            secrets.add(shown["passphrase"])
    assert len(secrets) >= len(w.tokens) + 4, secrets  # keys and a passphrase were shown
    booked = await w.post(
        f"/api/v1/sessions/{sessions[0]}/bookings", {"center_id": w.ids["center"]}, "center"
    )
    assert booked.status_code == 201, booked.text

    seen: list[tuple[str, str]] = []

    async def look(method: str, url: str, who: str | None = None, **kw: Any) -> None:
        headers = {**w.auth(who), **kw.pop("headers", {})}
        r = await w.client.request(method, url, headers=headers, **kw)
        seen.append((f"{method} {url} as {who} -> {r.status_code}", r.text))

    # what viewers see
    for who in (None, "center"):
        for url in ("/", f"/courses/{w.ids['course']}", "/calendar/public.ics", "/api/v1/sessions"):
            await look("GET", url, who)
        for s in sessions:
            for url in (f"/watch/{s}", f"/api/v1/sessions/{s}", f"/api/v1/sessions/{s}/playback"):
                await look("GET", url, who)
    # exports and figures (administrators)
    for url in (
        "/api/v1/exports/attendance.csv",
        "/api/v1/exports/views.csv",
        "/api/v1/impact",
        "/api/v1/plugins",
        "/admin",
    ):
        await look("GET", url, "admin")
    # error bodies: wrong keys, wrong secrets, bad tokens, bad input
    name = f"sh{sessions[1]}"
    form = {"app": "live", "call": "publish", "name": name, "addr": "203.0.113.9"}
    await look(
        "POST",
        f"{CALLBACK_PATH}/publish",
        data={**form, "key": "wrong"},
        params={"secret": callback_secret(settings)},
    )
    await look("POST", f"{CALLBACK_PATH}/publish", data=form, params={"secret": "nope"})
    await look("GET", ME, headers={"Authorization": "Bearer shk_not-a-token"})
    await look("POST", LOGIN, json={"username": "teacher", "password": "wrong-password"})
    await look("POST", "/api/v1/sessions", "teacher", json={"course_id": "x"})
    await look("GET", f"/api/v1/sessions/{sessions[0]}/ingest", "teacher2")
    await look("GET", f"/api/v1/sessions/{sessions[0]}/ingest", "center")
    await look("GET", "/api/v1/sessions/999999/ingest", "admin")
    await look(
        "PATCH",
        f"/api/v1/sessions/{sessions[0]}",
        "teacher",
        json={"provider_settings": {"ingest": "carrier-pigeon"}},
    )

    assert len(seen) > 20
    if w.cluster is not None:  # a worker records the SRT class (it starts within the lead)
        await recording_started(w.cluster, sessions[0])
    for secret in secrets:
        assert len(secret) >= 8
        for what, body in seen:
            assert secret not in body, f"a secret appears in {what}"
        if w.cluster is not None:  # the processes' logs, whole
            for name, text in w.cluster.log_texts().items():
                assert secret not in text, f"a secret in the log of {name}"
            continue
        for record in caplog.records:
            if record.name.startswith(CLIENT_LOGGERS):
                continue  # this test's own HTTP client, not the hub
            assert secret not in record.getMessage(), f"a secret in the log of {record.name}"
    if w.cluster is not None:
        assert all(" sharehub." in t for t in w.cluster.log_texts().values())  # they did log
    else:
        assert any(r.name.startswith("sharehub") for r in caplog.records)  # the hub did log
