"""Reading page forms: the CSRF check, fields with their errors, safe redirects."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Redirect

from hub.accounts import Principal
from hub.pages import csrf
from hub.tables import Role


async def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The posted form (urlencoded or multipart) after the CSRF check."""
    raw = await request.form()
    form = {key: str(value) for key, value in raw.items()}
    csrf.check(request, form)
    return form


def safe_next(target: str | None, default: str = "/") -> str:
    """Only paths on this site (``/x``, not ``//host`` or ``http://``)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def home_of(principal: Principal | None) -> str:
    if principal is None:
        return "/"
    return {Role.admin: "/admin", Role.teacher: "/teacher", Role.center: "/center"}.get(
        principal.role, "/"
    )


def see_other(url: str, **cookies: Any) -> Redirect:
    return Redirect(url, status_code=303, **cookies)


def int_field(form: dict[str, str], name: str, low: int, high: int) -> int | None:
    try:
        value = int(form.get(name, "").strip())
    except ValueError:
        return None
    return value if low <= value <= high else None
