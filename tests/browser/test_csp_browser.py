"""The pages work under the Content-Security-Policy: Chromium reports no violation on the main
pages, the live player still plays, and an injected inline script is refused."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import TIMEOUT_MS, Hub, sign_in

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def watched(new_page: Any) -> tuple[Any, list[str]]:
    page = new_page()
    page.context.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    page.on(
        "console",
        lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return page, console


def violations(page: Any) -> list[str]:
    return list(page.evaluate("window.__csp || []"))


def test_pages_load_without_policy_violations(hub: Hub, new_page: Any) -> None:
    page, console = watched(new_page)
    for path in ("/", "/login"):
        page.goto(hub.url + path)
        page.wait_for_load_state("load")
        assert violations(page) == [], path
    sign_in(page, hub, "center")
    for path in ("/center", "/center/replays"):
        page.goto(hub.url + path)
        page.wait_for_load_state("load")
        assert violations(page) == [], path
    assert console == []


def test_live_player_plays_under_the_policy(hub: Hub, new_page: Any) -> None:
    page, console = watched(new_page)
    page.goto(hub.url + f"/watch/{hub.ids['live']}")
    page.wait_for_function(
        "() => document.getElementById('video').currentTime > 2", timeout=120_000
    )
    assert violations(page) == []
    assert console == []


def test_an_injected_inline_script_is_refused(hub: Hub, new_page: Any) -> None:
    page, _ = watched(new_page)
    page.goto(hub.url + "/login")
    page.evaluate(
        """() => { const s = document.createElement("script");
        s.textContent = "window.__injected = true"; document.body.appendChild(s); }"""
    )
    page.wait_for_function("() => window.__csp.length > 0", timeout=TIMEOUT_MS)
    assert page.evaluate("window.__injected === undefined")
    assert any(v.startswith("script-src") for v in violations(page))
