"""Anonymous pages and playback answers are rendered once per process for a short while.

Each anonymous viewer still gets their own form token; a write through the process shows at
once; signed-in users and hidden sessions are never served from the shared copy.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from hub.pages.render import CSRF_MARK
from hub.settings import Settings
from hub.tables import Course, LiveSession
from tests.conftest import World, hub_settings
from tests.test_views import new_session

pytestmark = pytest.mark.in_process("reads the process's own anonymous read cache")

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(tmp_path: Path, database: str) -> Settings:
    """A shared copy lasts ten minutes here: no test depends on being faster than two seconds."""
    return replace(hub_settings(tmp_path, database), public_cache_seconds=600)


def new_browser(world: World) -> httpx.AsyncClient:
    """Another anonymous browser on the same app (its own cookie jar)."""
    return httpx.AsyncClient(transport=world.client._transport, base_url=world.client.base_url)


async def test_each_anonymous_viewer_gets_their_own_token_in_the_shared_page(
    world: World,
) -> None:
    sid = await new_session(world)
    async with new_browser(world) as one, new_browser(world) as two:
        first = await one.get(f"/watch/{sid}")
        second = await two.get(f"/watch/{sid}")
        again = await one.get(f"/watch/{sid}")
        for r in (first, second, again):
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/html")
            assert CSRF_MARK not in r.text
        tokens = [TOKEN.findall(r.text) for r in (first, second, again)]
        assert tokens[0] and set(tokens[0]) == {one.cookies["sharehub_csrf"]}
        assert set(tokens[1]) == {two.cookies["sharehub_csrf"]}
        assert tokens[0] != tokens[1]
        assert tokens[2] == tokens[0]
        assert "set-cookie" not in again.headers  # the browser already holds its token
        # the token works: the language switch on the cached page is accepted
        lang = await one.post("/lang", data={"csrf_token": tokens[2][0], "lang": "en", "next": "/"})
        assert lang.status_code in (302, 303)


async def test_a_write_shows_at_once_and_each_language_has_its_page(world: World) -> None:
    sid = await new_session(world)
    before = await world.client.get(f"/watch/{sid}")
    assert "数学直播课" in before.text
    english = await world.client.get(f"/watch/{sid}", headers={"Accept-Language": "en"})
    assert english.text != before.text and 'lang="en"' in english.text
    # a change this process did not make (another process, the database): the shared copy
    # stays for a moment; a signed-in user sees it at once
    await Course.update({Course.title: "代数直播课"}).where(Course.id == world.ids["course"])
    assert "数学直播课" in (await world.client.get(f"/watch/{sid}")).text
    assert "代数直播课" in (await world.get(f"/watch/{sid}", who="teacher")).text
    changed = await world.patch(
        f"/api/v1/courses/{world.ids['course']}", {"title": "几何直播课"}, "teacher"
    )
    assert changed.status_code == 200, changed.text
    after = await world.client.get(f"/watch/{sid}")
    assert "几何直播课" in after.text and "数学直播课" not in after.text
    assert "几何直播课" in (await world.client.get(f"/courses/{world.ids['course']}")).text


async def test_signed_in_users_and_hidden_sessions_skip_the_shared_copy(world: World) -> None:
    sid = await new_session(world)
    assert (await world.client.get(f"/watch/{sid}")).status_code == 200  # now cached
    hidden = await world.patch(
        f"/api/v1/courses/{world.ids['course']}", {"visibility": "centers"}, "admin"
    )
    assert hidden.status_code == 200
    assert (await world.client.get(f"/watch/{sid}")).status_code == 404
    assert (await world.get(f"/api/v1/sessions/{sid}/playback")).status_code == 404
    page = await world.get(f"/watch/{sid}", who="center")
    assert page.status_code == 200 and 'href="/center"' in page.text  # rendered for them
    answer = await world.get(f"/api/v1/sessions/{sid}/playback", who="center")
    assert answer.status_code == 200 and answer.json()["session_id"] == sid
    # what was made for the signed-in center was not kept for everyone
    assert (await world.client.get(f"/watch/{sid}")).status_code == 404
    assert (await world.get(f"/api/v1/sessions/{sid}/playback")).status_code == 404


async def test_a_planted_csrf_cookie_is_replaced_not_put_in_the_page(world: World) -> None:
    sid = await new_session(world)
    hostile = "a" * 32 + '"><meta http-equiv="refresh" content="0;url=https://evil.example/">'
    async with new_browser(world) as browser:
        browser.cookies.set("sharehub_csrf", hostile, domain="testserver.local")
        r = await browser.get(f"/watch/{sid}")
        assert r.status_code == 200
        assert "evil.example" not in r.text
        fresh = r.cookies.get("sharehub_csrf")  # a new, well-formed token replaces it
        assert fresh and re.fullmatch(r"[A-Za-z0-9_-]{32,128}", fresh)
        assert set(TOKEN.findall(r.text)) == {fresh}


async def test_each_query_has_its_own_page(world: World) -> None:
    this_week = await world.client.get("/")
    next_week = await world.client.get("/", params={"week": "next"})
    assert this_week.status_code == next_week.status_code == 200
    assert this_week.text != next_week.text


async def test_playback_answer_is_shared_by_anonymous_viewers_until_a_write(
    world: World,
) -> None:
    sid = await new_session(world)
    first = await world.get(f"/api/v1/sessions/{sid}/playback")
    second = await world.get(f"/api/v1/sessions/{sid}/playback")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content  # the same signed URLs, not signed again
    assert first.headers["cache-control"] == second.headers["cache-control"]
    await LiveSession.update({LiveSession.status: "cancelled"}).where(LiveSession.id == sid)
    assert (await world.get(f"/api/v1/sessions/{sid}/playback")).content == first.content
    assert (await world.get(f"/api/v1/sessions/{sid}/playback", who="admin")).status_code == 409
    await LiveSession.update({LiveSession.status: "live"}).where(LiveSession.id == sid)
    cancelled = await world.post(f"/api/v1/sessions/{sid}/cancel", who="teacher")
    assert cancelled.status_code == 200, cancelled.text
    assert (await world.get(f"/api/v1/sessions/{sid}/playback")).status_code == 409
