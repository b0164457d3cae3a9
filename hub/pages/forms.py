"""Reading page forms: the CSRF check, fields with their errors, safe redirects.

A form that changes something the JSON API also changes is checked by the API's own shapes
(``CenterIn``, ``TeacherPatch``...) through ``checked``/``field_errors``, so the limits live in
one place; the page only says, in the reader's language, what each field needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.response import Redirect

from hub.accounts import Principal
from hub.errors import DomainError
from hub.pages import csrf
from hub.tables import Role

N_ = str
S = TypeVar("S", bound=msgspec.Struct)
NOT_ACCEPTED = N_("This value is not accepted.")


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


def field_errors(
    shape: type[msgspec.Struct], values: Mapping[str, Any], hints: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each value converted to its field's type in ``shape`` (form strings become numbers,
    enums...), and the page's hint for every field whose value the shape refuses."""
    types = {f.name: f.type for f in msgspec.structs.fields(shape)}
    converted: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in values.items():
        try:
            converted[name] = msgspec.convert(value, types[name], strict=False)
        except msgspec.ValidationError:
            errors[name] = hints.get(name, NOT_ACCEPTED)
    return converted, errors


def checked(
    shape: type[S], values: Mapping[str, Any], hints: Mapping[str, str]
) -> tuple[S | None, dict[str, str]]:
    """``values`` as the API shape ``shape``, or None and the errors naming every bad field."""
    _, errors = field_errors(shape, values, hints)
    if errors:
        return None, errors
    try:
        return msgspec.convert(dict(values), shape, strict=False), {}
    except msgspec.ValidationError as exc:
        found = re.search(r"`\$\.(\w+)|field `(\w+)`", str(exc))
        name = next((g for g in found.groups() if g), "form") if found else "form"
        return None, {name: hints.get(name, NOT_ACCEPTED)}


def error_into(errors: dict[str, str], exc: DomainError, hints: Mapping[str, str]) -> None:
    """A service's refusal shown next to its field; a refusal of who asks stays a 403."""
    if exc.status_code == 403:
        raise exc
    name = exc.field or "form"
    errors[name] = hints.get(name, exc.detail)


def words(text: str) -> list[str]:
    """A list typed in one field, split on commas (also Chinese ones) and spaces."""
    return [w for w in re.split(r"[,，、;；\s]+", text) if w]
