"""Sign in, sign out, change password, and the language switch."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie

from hub import accounts
from hub.api.accounts import session_cookie
from hub.auth import SESSION_COOKIE, signed_in
from hub.pages import i18n
from hub.pages.forms import form_of, home_of, safe_next, see_other
from hub.pages.render import page, principal_of, settings_of
from hub.tables import User

N_ = str  # marks a message id for extraction; translated where it is shown


@get("/login", name="pages:login")
async def login_form(request: Request[Any, Any, Any], next: str | None = None) -> Response[Any]:
    """The sign-in form."""
    return page(request, "login.html", {"next": safe_next(next, ""), "username": ""})


@post("/login", name="pages:login-post")
async def login(request: Request[Any, Any, Any]) -> Response[Any]:
    """Check the password; on success set the session cookie and go where the user wanted."""
    form = await form_of(request)
    username = form.get("username", "").strip()[:64]
    password = form.get("password", "")[:256]
    principal = await accounts.authenticate(username, password) if username else None
    target = safe_next(form.get("next"), "")
    if principal is None:
        return page(
            request,
            "login.html",
            {"next": target, "username": username, "error": N_("Wrong username or password.")},
            status_code=401,
        )
    cookie = session_cookie(principal.user_id, settings_of(request), request)
    return see_other(target or home_of(principal), cookies=[cookie])


@post("/logout", name="pages:logout")
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    """Sign out: the session cookie is cleared."""
    await form_of(request)
    gone = Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True)
    return see_other("/", cookies=[gone])


@get("/account/password", guards=[signed_in], name="pages:password")
async def password_form(request: Request[Any, Any, Any]) -> Response[Any]:
    """The change-password form."""
    return page(request, "password.html", {})


@post("/account/password", guards=[signed_in], name="pages:password-post")
async def change_password(request: Request[Any, Any, Any]) -> Response[Any]:
    """Change your own password (the current one is asked for)."""
    form = await form_of(request)
    who = principal_of(request)
    assert who is not None
    errors: dict[str, str] = {}
    new = form.get("new_password", "")
    if await accounts.authenticate(who.username, form.get("current_password", "")) is None:
        errors["current_password"] = N_("The current password is wrong.")
    if not 8 <= len(new) <= 256:
        errors["new_password"] = N_("The new password needs at least 8 characters.")
    elif new != form.get("repeat_password", ""):
        errors["repeat_password"] = N_("The two new passwords differ.")
    if errors:
        return page(request, "password.html", {"errors": errors}, status_code=400)
    await (
        User.update({User.password_hash: accounts.hash_password(new)})
        .where(User.id == who.user_id)
        .run()
    )
    return page(request, "password.html", {"done": True})


@post("/lang", name="pages:lang")
async def switch_language(request: Request[Any, Any, Any]) -> Response[Any]:
    """Keep the chosen language in a cookie (a year) and go back to the page."""
    form = await form_of(request)
    choice = form.get("lang", "")
    target = safe_next(form.get("next"))
    if choice not in i18n.LOCALES:
        return see_other(target)
    cookie = Cookie(key=i18n.COOKIE, value=choice, max_age=365 * 86400, path="/", samesite="lax")
    return see_other(target, cookies=[cookie])


HANDLERS = [login_form, login, logout, password_form, change_password, switch_language]
