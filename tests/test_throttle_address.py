"""The sign-in throttle, second round (issue 16, points 3 and 5): a password change goes
through it (per user and per address), and the client address comes from X-Forwarded-For only
behind the proxies named in SHAREHUB_TRUSTED_PROXIES (right-most untrusted hop)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from hub import security
from hub.security import address_behind_proxies
from hub.settings import Settings, load_settings
from tests.conftest import World, seed
from tests.test_security import LOGIN, Clock, app_client

PASSWORD = "/api/v1/me/password"


@pytest.fixture
def throttle_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(security, "clock", clock)
    return clock


WRONG = {"current_password": "not-my-password", "new_password": "a-brand-new-one-9"}


async def test_api_password_change_is_throttled_per_user(
    settings: Settings, throttle_clock: Clock
) -> None:
    limited = replace(settings, login_free_failures=3, login_address_free_failures=100)
    async with app_client(limited, "198.51.100.20") as one, app_client(limited) as two:
        world = World(client=one)
        await seed(world)
        for _ in range(3):
            r = await one.post(PASSWORD, json=WRONG, headers=world.auth("teacher"))
            assert r.status_code == 400 and "current_password" in r.text
        right = {"current_password": "password-teacher", "new_password": "a-brand-new-one-9"}
        # even the right password waits now, from another address too
        r = await two.post(PASSWORD, json=right, headers=world.auth("teacher"))
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) >= 1
        # and signing in as that user waits as well: one throttle
        r = await two.post(LOGIN, json={"username": "teacher", "password": "password-teacher"})
        assert r.status_code == 429
        throttle_clock.advance(int(r.headers["retry-after"]))
        r = await two.post(PASSWORD, json=right, headers=world.auth("teacher"))
        assert r.status_code == 200, r.text


async def test_api_password_change_is_throttled_per_address(
    settings: Settings, throttle_clock: Clock
) -> None:
    limited = replace(settings, login_free_failures=100, login_address_free_failures=3)
    async with app_client(limited, "198.51.100.30") as attacker:
        world = World(client=attacker)
        await seed(world)
        for who in ("teacher", "teacher2", "center"):
            r = await attacker.post(PASSWORD, json=WRONG, headers=world.auth(who))
            assert r.status_code == 400
        r = await attacker.post(PASSWORD, json=WRONG, headers=world.auth("center2"))
        assert r.status_code == 429 and "address" in r.json()["detail"]


async def test_page_password_change_is_throttled(settings: Settings, throttle_clock: Clock) -> None:
    limited = replace(settings, login_free_failures=2, login_address_free_failures=100)
    async with app_client(limited) as browser:
        world = World(client=browser)
        await seed(world)
        r = await browser.post(LOGIN, json={"username": "center", "password": "password-center"})
        assert r.status_code == 200
        page = await browser.get("/account/password")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text
        form = {
            "csrf_token": token.group(1),
            "current_password": "wrong-wrong",
            "new_password": "a-brand-new-one-9",
            "repeat_password": "a-brand-new-one-9",
        }
        for _ in range(2):
            assert (await browser.post("/account/password", data=form)).status_code == 400
        form["current_password"] = "password-center"
        r = await browser.post("/account/password", data=form)
        assert r.status_code == 429 and "retry-after" in r.headers


def test_forwarded_for_is_read_only_behind_trusted_proxies() -> None:
    xff = ["203.0.113.9, 198.51.100.1", "10.0.0.5"]
    assert address_behind_proxies("127.0.0.1", xff, "") == "127.0.0.1"
    assert address_behind_proxies("127.0.0.1", xff, "10.0.0.0/8") == "127.0.0.1"
    # the proxy at 127.0.0.1 and the one at 10.0.0.5 are ours: the hop before them is the client
    assert address_behind_proxies("127.0.0.1", xff, "127.0.0.1, 10.0.0.0/8") == "198.51.100.1"
    both = "127.0.0.1,10.0.0.0/8,198.51.100.1"
    assert address_behind_proxies("127.0.0.1", xff, both) == "203.0.113.9"
    assert address_behind_proxies("127.0.0.1", ["junk"], "127.0.0.1") == "127.0.0.1"
    assert address_behind_proxies("127.0.0.1", [], "127.0.0.1") == "127.0.0.1"
    assert load_settings({"SHAREHUB_TRUSTED_PROXIES": "10.0.0.1"}).trusted_proxies == "10.0.0.1"
    assert load_settings({}).trusted_proxies == ""


@pytest.mark.parametrize("trusted", ["", "10.9.9.9"])
async def test_rotating_forwarded_for_does_not_dodge_the_address_throttle(
    settings: Settings, throttle_clock: Clock, trusted: str
) -> None:
    """From loopback (no proxy named, or another one named) the header is ignored."""
    limited = replace(
        settings, login_free_failures=100, login_address_free_failures=3, trusted_proxies=trusted
    )
    async with app_client(limited, "127.0.0.1") as attacker:
        await seed(World(client=attacker))
        for n in range(3):
            r = await attacker.post(
                LOGIN,
                json={"username": f"user{n}", "password": "guess-guess"},
                headers={"x-forwarded-for": f"203.0.113.{n}"},
            )
            assert r.status_code == 401
        r = await attacker.post(
            LOGIN,
            json={"username": "admin", "password": "password-admin"},
            headers={"x-forwarded-for": "203.0.113.99"},
        )
        assert r.status_code == 429 and "address" in r.json()["detail"]


async def test_behind_a_trusted_proxy_each_client_is_counted_apart(
    settings: Settings, throttle_clock: Clock
) -> None:
    limited = replace(
        settings,
        login_free_failures=100,
        login_address_free_failures=3,
        trusted_proxies="127.0.0.1",
    )
    async with app_client(limited, "127.0.0.1") as proxy:
        await seed(World(client=proxy))
        attacker = {"x-forwarded-for": "1.1.1.1, 203.0.113.50"}  # 1.1.1.1 is what it claims
        for n in range(3):
            r = await proxy.post(
                LOGIN, json={"username": f"u{n}", "password": "guess-guess"}, headers=attacker
            )
            assert r.status_code == 401
        spoofed = {"x-forwarded-for": "9.9.9.9, 203.0.113.50"}  # the left part is the client's
        r = await proxy.post(
            LOGIN, json={"username": "admin", "password": "password-admin"}, headers=spoofed
        )
        assert r.status_code == 429
        neighbour = {"x-forwarded-for": "203.0.113.51"}
        r = await proxy.post(
            LOGIN, json={"username": "admin", "password": "password-admin"}, headers=neighbour
        )
        assert r.status_code == 200, r.text
