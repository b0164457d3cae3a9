"""Accounts: Argon2 password hashes, the session cookie, API tokens, password change, sign-out.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from argon2 import PasswordHasher

from hub import accounts
from hub.auth import SESSION_COOKIE
from hub.settings import Settings
from hub.tables import ApiToken, User
from tests.conftest import World

pytestmark = pytest.mark.cross_process

ORIGIN = "http://testserver.local"
ME = "/api/v1/me"
LOGIN = "/api/v1/auth/login"


async def login(world: World, username: str, password: str) -> object:
    return await world.client.post(LOGIN, json={"username": username, "password": password})


def with_cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={value}"}


async def test_passwords_are_stored_as_argon2id_hashes(world: World) -> None:
    password = "correct horse battery"
    r = await world.post(
        "/api/v1/users",
        {"username": "wang.fang", "password": password, "role": "teacher"},
        who="admin",
    )
    assert r.status_code == 201, r.text
    assert "password" not in r.text and "argon" not in r.text  # the answer shows no hash
    row = await User.select(User.password_hash).where(User.username == "wang.fang").first().run()
    assert row is not None
    stored = row["password_hash"]
    assert stored.startswith("$argon2id$")
    assert password not in stored
    assert PasswordHasher().verify(stored, password)
    # Argon2's own parameters are in the hash: id variant, memory, time and lanes, salt
    variant, version, params, salt, digest = stored.split("$")[1:]
    assert (variant, version) == ("argon2id", "v=19")
    assert {p.split("=")[0] for p in params.split(",")} == {"m", "t", "p"}
    assert len(salt) >= 16 and len(digest) >= 32


async def test_login_sets_an_httponly_cookie_that_signs_in(world: World) -> None:
    r = await login(world, "teacher", "password-teacher")
    assert r.status_code == 200, r.text
    assert r.json()["username"] == "teacher" and r.json()["role"] == "teacher"
    set_cookie = r.headers["set-cookie"]
    assert set_cookie.startswith(f"{SESSION_COOKIE}=")
    attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert "secure" not in attributes  # plain http in the tests; https sets it

    me = await world.client.get(ME)  # no Authorization header: the cookie alone
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "teacher"
    assert me.json()["teacher_id"] == world.ids["teacher_id"]
    # the cookie also passes the guards of routes that change data (from the hub's origin)
    r = await world.client.post(
        "/api/v1/tokens", json={"name": "from the browser"}, headers={"origin": ORIGIN}
    )
    assert r.status_code == 201, r.text


async def test_wrong_password_or_unknown_user_is_401(world: World) -> None:
    r = await login(world, "teacher", "password-teacher2")
    assert r.status_code == 401
    assert r.json()["extra"][0]["key"] == "password"
    assert "set-cookie" not in r.headers
    unknown = await login(world, "nobody", "password-teacher")
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == r.json()["detail"]  # does not tell which was wrong
    assert (await world.client.get(ME)).status_code == 401


async def test_a_tampered_cookie_is_anonymous(world: World, settings: Settings) -> None:
    teacher_id = world.ids["user_teacher"]
    admin_id = world.ids["user_admin"]
    good = accounts.sign_session(teacher_id, settings.secret_key)
    assert (await world.client.get(ME, headers=with_cookie(good))).status_code == 200

    user, issued, mac = good.split(".")
    forged_user = f"{admin_id}.{issued}.{mac}"  # someone else's id under the teacher's MAC
    later = f"{user}.{int(issued) + 3600}.{mac}"
    flipped = f"{user}.{issued}.{mac[:-2]}{'A' if mac[-2] != 'A' else 'B'}{mac[-1]}"
    other_key = accounts.sign_session(admin_id, "not-the-hub-secret-key")
    for value in (forged_user, later, flipped, other_key, "garbage", "1.2", "", "a.b.c"):
        r = await world.client.get(ME, headers=with_cookie(value))
        assert r.status_code == 401, value
    assert accounts.read_session(forged_user, settings.secret_key, 3600) is None
    assert accounts.read_session(good, settings.secret_key, 3600) == teacher_id


async def test_an_expired_cookie_is_anonymous(world: World, settings: Settings) -> None:
    uid = world.ids["user_center"]
    max_age = settings.session_max_age
    now = time.time()
    expired = accounts.sign_session(uid, settings.secret_key, now=now - max_age - 5)
    assert (await world.client.get(ME, headers=with_cookie(expired))).status_code == 401
    nearly = accounts.sign_session(uid, settings.secret_key, now=now - max_age + 60)
    r = await world.client.get(ME, headers=with_cookie(nearly))
    assert r.status_code == 200 and r.json()["center_id"] == world.ids["center"]

    # the boundary, with the clock given
    issued = 1_800_000_000
    value = accounts.sign_session(uid, settings.secret_key, now=issued)
    assert accounts.read_session(value, settings.secret_key, 3600, now=issued + 3600) == uid
    assert accounts.read_session(value, settings.secret_key, 3600, now=issued + 3601) is None
    # issued in the future (a clock far ahead, or a forged stamp): refused
    assert accounts.read_session(value, settings.secret_key, 3600, now=issued - 61) is None
    assert accounts.read_session(value, settings.secret_key, 3600, now=issued - 30) == uid


async def test_bearer_tokens(world: World) -> None:
    r = await world.get(ME, who="center2")
    assert r.status_code == 200 and r.json()["username"] == "center2"

    for header in (
        "Bearer shk_not-a-real-token",
        "Bearer ",
        "Bearer",
        "Basic YWRtaW46eA==",
        "bearer " + "x" * 500,
    ):
        r = await world.client.get(ME, headers={"Authorization": header})
        assert r.status_code == 401, header
        r = await world.client.post(
            "/api/v1/centers",
            json={"name": "x", "province": "x", "city": "x", "county": "x"},
            headers={"Authorization": header},
        )
        assert r.status_code == 401, header

    # a new token works at once; only its SHA-256 is stored
    r = await world.post("/api/v1/tokens", {"name": "nightly export"}, who="teacher")
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert token.startswith("shk_") and r.json()["name"] == "nightly export"
    r = await world.client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["username"] == "teacher"
    stored = await ApiToken.select(ApiToken.token_hash).where(ApiToken.name == "nightly export")
    assert [row["token_hash"] for row in stored] == [hashlib.sha256(token.encode()).hexdigest()]

    # a token revoked elsewhere (another process, the database) is refused within the bound a
    # process remembers who a credential is (the read cache's, 2 s)
    await ApiToken.update({ApiToken.revoked: True}).where(ApiToken.name == "nightly export").run()
    deadline = time.monotonic() + 10
    while (
        await world.client.get(ME, headers={"Authorization": f"Bearer {token}"})
    ).status_code != 401:
        assert time.monotonic() < deadline, "a revoked token kept working"
        await asyncio.sleep(0.2)


async def test_a_deactivated_user_is_refused(world: World) -> None:
    await User.update({User.active: False}).where(User.username == "teacher2").run()
    assert (await world.get(ME, who="teacher2")).status_code == 401
    assert (await login(world, "teacher2", "password-teacher2")).status_code == 401


async def test_change_password(world: World) -> None:
    url = "/api/v1/me/password"
    r = await world.post(
        url,
        {"current_password": "wrong-password", "new_password": "brand-new-pass"},
        who="center",
    )
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "current_password"

    r = await world.post(
        url,
        {"current_password": "password-center", "new_password": "brand-new-pass"},
        who="center",
    )
    assert r.status_code == 200, r.text
    world.client.cookies.clear()
    assert (await login(world, "center", "password-center")).status_code == 401
    r = await login(world, "center", "brand-new-pass")
    assert r.status_code == 200 and r.json()["center_id"] == world.ids["center"]
    row = await User.select(User.password_hash).where(User.username == "center").first().run()
    assert row is not None and row["password_hash"].startswith("$argon2id$")
    assert "brand-new-pass" not in row["password_hash"]


async def test_logout_clears_the_cookie(world: World) -> None:
    assert (await login(world, "admin", "password-admin")).status_code == 200
    assert (await world.client.get(ME)).status_code == 200
    r = await world.client.post("/api/v1/auth/logout", headers={"origin": ORIGIN})
    assert r.status_code == 200, r.text
    set_cookie = r.headers["set-cookie"].lower()
    assert set_cookie.startswith(f"{SESSION_COOKIE}=")
    assert "max-age=0" in set_cookie or "expires=thu, 01 jan 1970" in set_cookie
    assert SESSION_COOKIE not in world.client.cookies
    assert (await world.client.get(ME)).status_code == 401
