"""API tokens (issue 16, points 2 and 4): an expiry, a name and a last-used time; list and
revoke your own, administrators anyone's; only a hash stored; an administrator's password
reset, deactivation or role change ends every sign-in and token of the user."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hub import tokens
from hub.settings import Settings
from hub.tables import ApiToken
from tests.conftest import World, hub_client, seed

TOKENS = "/api/v1/tokens"
ME = "/api/v1/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make(world: World, who: str, **body: object) -> dict[str, object]:
    r = await world.post(TOKENS, {"name": "script", **body}, who=who)
    assert r.status_code == 201, r.text
    return dict(r.json())


def when(value: object) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


async def test_a_token_expires_in_90_days_unless_asked_at_most_a_year(world: World) -> None:
    made = await make(world, "teacher")
    assert str(made["token"]).startswith("shk_") and made["name"] == "script"
    days = (when(made["expires_at"]) - datetime.now(UTC)).total_seconds() / 86400
    assert 89.9 < days <= 90.01
    made = await make(world, "teacher", expires_in_days=365)
    assert 364.9 < (when(made["expires_at"]) - datetime.now(UTC)).total_seconds() / 86400 <= 365.01
    for days_asked in (366, 0, -1):
        r = await world.post(TOKENS, {"expires_in_days": days_asked}, who="teacher")
        assert r.status_code == 400, r.text
        assert "expires_in_days" in r.text


async def test_only_a_hash_is_stored(world: World) -> None:
    made = await make(world, "center")
    token = str(made["token"])
    rows = await ApiToken.select().where(ApiToken.id == made["id"]).run()
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for value in rows[0].values())


async def test_list_your_own_tokens_with_last_use(world: World) -> None:
    made = await make(world, "teacher")
    r = await world.get(TOKENS, who="teacher")
    assert r.status_code == 200, r.text
    listed = {t["id"]: t for t in r.json()}
    assert made["id"] in listed
    assert {t["username"] for t in r.json()} == {"teacher"}
    assert all("token" not in t and "token_hash" not in t for t in r.json())
    assert listed[made["id"]]["last_used_at"] is None
    assert (await world.client.get(ME, headers=bearer(str(made["token"])))).status_code == 200
    r = await world.get(TOKENS, who="teacher")
    used = {t["id"]: t for t in r.json()}[made["id"]]["last_used_at"]
    assert used is not None and abs((when(used) - datetime.now(UTC)).total_seconds()) < 300
    # another user's: refused unless an administrator asks
    r = await world.get(TOKENS, who="center", params={"user_id": world.ids["user_teacher"]})
    assert r.status_code == 403
    assert (await world.get(TOKENS, who="center", params={"all": "true"})).status_code == 403
    r = await world.get(TOKENS, who="admin", params={"user_id": world.ids["user_teacher"]})
    assert made["id"] in {t["id"] for t in r.json()}
    r = await world.get(TOKENS, who="admin", params={"all": "true"})
    assert {"teacher", "center", "admin"} <= {t["username"] for t in r.json()}
    assert (await world.client.get(TOKENS)).status_code == 401


async def test_revoke_your_own_token_or_as_admin_anyones(world: World) -> None:
    mine = await make(world, "teacher")
    theirs = await make(world, "teacher2")
    # another user's token is not found for a non-administrator
    r = await world.delete(f"{TOKENS}/{theirs['id']}", who="teacher")
    assert r.status_code == 404
    assert (await world.client.get(ME, headers=bearer(str(theirs["token"])))).status_code == 200
    r = await world.delete(f"{TOKENS}/{mine['id']}", who="teacher")
    assert r.status_code == 204, r.text
    assert (await world.client.get(ME, headers=bearer(str(mine["token"])))).status_code == 401
    revoked = {t["id"]: t for t in (await world.get(TOKENS, who="teacher")).json()}
    assert revoked[mine["id"]]["revoked"] is True
    r = await world.delete(f"{TOKENS}/{theirs['id']}", who="admin")
    assert r.status_code == 204
    assert (await world.client.get(ME, headers=bearer(str(theirs["token"])))).status_code == 401
    assert (await world.delete(f"{TOKENS}/999999", who="admin")).status_code == 404
    assert (await world.client.delete(f"{TOKENS}/{mine['id']}")).status_code == 401


@pytest.mark.in_process("an app of its own that remembers who a credential is")
async def test_a_revoked_token_is_forgotten_at_once_by_the_process_that_revoked_it(
    settings: Settings,
) -> None:
    """With the credential memory on (the default), the process that handles a revocation
    forgets the token at once; other processes within ``credential_cache_seconds``."""
    async with hub_client(replace(settings, credential_cache_seconds=60), None) as client:
        world = World(client=client)
        await seed(world)
        made = await make(world, "teacher")
        token = str(made["token"])
        for _ in range(3):  # remembered from the first on
            assert (await client.get(ME, headers=bearer(token))).status_code == 200
        r = await world.delete(f"{TOKENS}/{made['id']}", who="teacher")
        assert r.status_code == 204, r.text
        assert (await client.get(ME, headers=bearer(token))).status_code == 401


@pytest.mark.in_process("moves the tokens' clock")
async def test_an_expired_token_signs_nothing_in(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await make(world, "teacher", expires_in_days=1)
    token = str(made["token"])
    assert (await world.client.get(ME, headers=bearer(token))).status_code == 200
    later = datetime.now(UTC) + timedelta(days=1, seconds=1)
    monkeypatch.setattr(tokens, "now", lambda: later)
    assert (await world.client.get(ME, headers=bearer(token))).status_code == 401


def token_in(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def signed_in_browser(world: World, who: str) -> httpx.AsyncClient:
    """A second client signed in by cookie as ``who`` (a browser on the hub's own origin)."""
    client = httpx.AsyncClient(
        transport=world.client._transport,
        base_url=str(world.client.base_url),
        headers={"origin": str(world.client.base_url).rstrip("/")},
    )
    r = await client.post(
        "/api/v1/auth/login", json={"username": who, "password": "password-" + who}
    )
    assert r.status_code == 200, r.text
    return client


async def admin_saves_user(world: World, user_id: int, **changes: str) -> None:
    page = await world.get(f"/admin/users/{user_id}", who="admin")
    assert page.status_code == 200, page.text
    current = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    form = {
        "display_name": current.get("display_name", ""),
        "role": changes.pop("role", "center"),
        "center_id": str(world.ids["center"]),
        "active": "on",
        **changes,
    }
    if form["active"] == "":
        del form["active"]
    r = await world.post(f"/admin/users/{user_id}", data=form, who="admin")
    assert r.status_code == 303, r.text


@pytest.mark.parametrize(
    "change",
    [
        {"password": "a-fresh-reset-password"},
        {"active": ""},
        {"role": "teacher"},
    ],
    ids=["reset", "deactivate", "role"],
)
async def test_an_admin_reset_deactivation_or_role_change_ends_every_sign_in(
    world: World, change: dict[str, str]
) -> None:
    browser = await signed_in_browser(world, "center")
    try:
        extra = await make(world, "center")
        assert (await browser.get(ME)).status_code == 200
        await admin_saves_user(world, world.ids["user_center"], **change)
        assert (await browser.get(ME)).status_code == 401
        for token in (world.tokens["center"], str(extra["token"])):
            assert (await world.client.get(ME, headers=bearer(token))).status_code == 401
        # another user's sign-ins are not touched
        assert (await world.get(ME, who="center2")).status_code == 200
    finally:
        await browser.aclose()


async def test_an_admin_edit_without_those_changes_keeps_sign_ins(world: World) -> None:
    await admin_saves_user(world, world.ids["user_center"], display_name="改个名字")
    assert (await world.get(ME, who="center")).status_code == 200
