"""Sign in, sign out, change password, and the language switch."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie

from hub import accounts, passwords, security
from hub.api.accounts import cleared_cookie, session_cookie
from hub.auth import SESSION_COOKIE, signed_in
from hub.pages import i18n
from hub.pages.forms import form_of, home_of, safe_next, see_other
from hub.pages.render import page, principal_of, settings_of
from hub.tables import User

N_ = str  # marks a message id for extraction; translated where it is shown
THROTTLED = N_("Too many failed sign-ins. Please wait a moment and try again.")


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
    target = safe_next(form.get("next"), "")
    settings = settings_of(request)
    try:
        principal = (
            await security.throttled_authenticate(
                username, password, security.client_address(request), settings
            )
            if username
            else None
        )
    except security.Throttled as exc:
        return page(
            request,
            "login.html",
            {"next": target, "username": username, "error": THROTTLED},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if principal is None:
        wrong = N_("Wrong username or password.")
        if username and await accounts.deactivated(username, password):
            wrong = N_(
                "This account has been deactivated. Ask your programme's administrator"
                " to turn it back on."
            )
        return page(
            request,
            "login.html",
            {"next": target, "username": username, "error": wrong},
            status_code=401,
        )
    cookie = session_cookie(principal.user_id, settings, request)
    return see_other(target or home_of(principal), cookies=[cookie])


@post("/logout", name="pages:logout")
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    """Sign out: the session cookie is cleared and the user's other sign-ins end."""
    await form_of(request)
    who = principal_of(request)
    if who is not None and SESSION_COOKIE in request.cookies:
        await accounts.end_sessions(who.user_id)
    return see_other("/", cookies=[cleared_cookie(settings_of(request), request)])


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
    settings = settings_of(request)
    try:
        right = await security.throttled_check_password(
            who, form.get("current_password", "")[:256], security.client_address(request), settings
        )
    except security.Throttled as exc:
        return page(
            request,
            "password.html",
            {"errors": {"current_password": THROTTLED}},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if not right:
        errors["current_password"] = N_("The current password is wrong.")
    weak = passwords.problem(new, who.username)
    if weak == passwords.TOO_SHORT or len(new) > passwords.MAX_LENGTH:
        errors["new_password"] = N_("The new password needs at least 10 characters.")
    elif weak:
        errors["new_password"] = N_(
            "This password is too common or contains the username; choose another."
        )
    elif new != form.get("repeat_password", ""):
        errors["repeat_password"] = N_("The two new passwords differ.")
    if errors:
        return page(request, "password.html", {"errors": errors}, status_code=400)
    await (
        User.update({User.password_hash: accounts.hash_password(new)})
        .where(User.id == who.user_id)
        .run()
    )
    await accounts.end_sessions(who.user_id)  # other sign-ins end; this one gets a new cookie
    fresh = session_cookie(who.user_id, settings_of(request), request)
    return page(request, "password.html", {"done": True}, cookies=[fresh])


@post("/lang", name="pages:lang")
async def switch_language(request: Request[Any, Any, Any]) -> Response[Any]:
    """Keep the chosen language in a cookie (a year) and go back to the page."""
    form = await form_of(request)
    choice = form.get("lang", "")
    target = safe_next(form.get("next"))
    if choice not in i18n.LOCALES:
        return see_other(target)
    cookie = Cookie(
        key=i18n.COOKIE,
        value=choice,
        max_age=365 * 86400,
        path="/",
        samesite="lax",
        httponly=True,
        secure=security.secure_cookies(settings_of(request), request),
    )
    return see_other(target, cookies=[cookie])


HANDLERS = [login_form, login, logout, password_form, change_password, switch_language]
