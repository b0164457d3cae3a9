"""Administrator pages that change one share-center, teacher or user (rename, move, retire,
reset a password). Values are checked by the JSON API's shapes and saved by its service
functions, so a page and the API refuse the same things; a bad value is shown next to its
field."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from hub import accounts, passwords, schedule, tokens
from hub.accounts import Principal
from hub.api import accounts as accounts_api
from hub.api import centers as centers_api
from hub.api import teachers as teachers_api
from hub.api.accounts import UserIn
from hub.api.centers import CenterPatch
from hub.api.common import PathId
from hub.api.teachers import TeacherPatch
from hub.auth import admin_only
from hub.errors import DomainError, NotFound
from hub.pages import i18n
from hub.pages.admin import (
    CENTER_HINTS,
    CENTER_TEXT,
    TEACHER_HINTS,
    USER_HINTS,
    center_values,
    known_places,
    teacher_values,
)
from hub.pages.forms import checked, error_into, field_errors, form_of, see_other
from hub.pages.render import lang_of, page, principal_of
from hub.tables import Role, ShareCenter, User

N_ = str
TEMPLATES = {
    "centers": "admin/center_edit.html",
    "teachers": "admin/teacher_edit.html",
    "users": "admin/user_edit.html",
}


def known(kind: str) -> None:
    if kind not in TEMPLATES:
        raise NotFound(f"no list {kind!r}", field="kind")


async def current_form(kind: str, item_id: int) -> dict[str, str]:
    """The stored values of one center, teacher or user, as the edit form shows them."""
    if kind == "centers":
        row = await schedule.get_center(item_id)
        form = {k: str(row[k] or "") for k in (*CENTER_TEXT, "kind", "bandwidth", "rooms")}
        form["active"] = "on" if row["active"] else ""
        return form
    if kind == "teachers":
        row = await teachers_api.get_teacher(item_id)
        return {
            "name": row["name"],
            "school": row["school"],
            "subjects": ", ".join(row["subjects"] or []),
            "grades": ", ".join(str(g) for g in row["grades"] or []),
            "bio": row["bio"],
        }
    user = await User.select().where(User.id == item_id).first().run()
    if user is None:
        raise NotFound(f"user {item_id} not found", field="user_id")
    return {
        "username": user["username"],
        "display_name": user["display_name"],
        "role": user["role"],
        "center_id": str(user["center"] or ""),
        "active": "on" if user["active"] else "",
    }


async def edit_context(
    kind: str, item_id: int, current: dict[str, str], form: dict[str, str]
) -> dict[str, Any]:
    ctx: dict[str, Any] = {"kind": kind, "item_id": item_id, "current": current, "form": form}
    if kind == "centers":
        ctx["known"] = await known_places()
        zones = [(k, v) for k, v in i18n.ZONE_LABELS.items() if k in i18n.ZONE_CHOICES]
        if form.get("timezone") and form["timezone"] not in i18n.ZONE_CHOICES:
            zones.append((form["timezone"], form["timezone"]))
        ctx["zone_options"] = zones
    if kind == "users":
        centers = (
            await ShareCenter.select(ShareCenter.id, ShareCenter.name)
            .order_by(ShareCenter.name)
            .run()
        )
        ctx["center_options"] = [("", "—")] + [(c["id"], c["name"]) for c in centers]
    return ctx


@get("/admin/{kind:str}/{item_id:int}", guards=[admin_only], name="pages:admin-edit")
async def edit_form(request: Request[Any, Any, Any], kind: str, item_id: PathId) -> Response[Any]:
    """The form to change one center, teacher or user."""
    known(kind)
    lang = lang_of(request)
    current = await current_form(kind, item_id)
    ctx = await edit_context(kind, item_id, current, current)
    if request.query_params.get("ok") == "saved":
        ctx["notice"] = lang.gettext(N_("Saved."))
    return page(request, TEMPLATES[kind], ctx, lang=lang)


async def save_center(
    who: Principal, center_id: int, form: dict[str, str], errors: dict[str, str]
) -> None:
    data, found = checked(CenterPatch, center_values(form, defaults=False), CENTER_HINTS)
    errors.update(found)
    if data is not None:
        try:
            await centers_api.change_center(who, center_id, data)
        except DomainError as exc:
            error_into(errors, exc, CENTER_HINTS)


async def save_teacher(
    who: Principal, teacher_id: int, form: dict[str, str], errors: dict[str, str]
) -> None:
    blank = {"school": "", "subjects": "", "grades": "", "bio": ""}
    data, found = checked(TeacherPatch, teacher_values({**blank, **form}), TEACHER_HINTS)
    errors.update(found)
    if data is not None:
        try:
            await teachers_api.change_teacher(who, teacher_id, data)
        except DomainError as exc:
            error_into(errors, exc, TEACHER_HINTS)


async def save_user(
    who: Principal, user_id: int, form: dict[str, str], errors: dict[str, str]
) -> None:
    values: dict[str, Any] = {
        "role": form.get("role", ""),
        "display_name": form.get("display_name", "").strip(),
        "center_id": form.get("center_id") or None,
    }
    if form.get("password"):
        values["password"] = form["password"]
    converted, found = field_errors(UserIn, values, USER_HINTS)
    errors.update(found)
    if "password" in converted:
        named = await User.select(User.username).where(User.id == user_id).first().run()
        if passwords.problem(converted["password"], named["username"] if named else ""):
            errors["password"] = USER_HINTS["password"]
    if "role" in converted and "center_id" in converted:
        try:
            await accounts_api.check_center_of(converted["role"], converted["center_id"])
        except DomainError as exc:
            error_into(errors, exc, USER_HINTS)
    active = form.get("active") == "on"
    if user_id == who.user_id and (not active or converted.get("role", Role.admin) != Role.admin):
        errors["role"] = N_("You cannot take away your own administrator access.")
    if errors:
        return
    changes: dict[Any, Any] = {
        User.role: converted["role"].value,
        User.center: converted["center_id"],
        User.active: active,
    }
    if converted["display_name"]:
        changes[User.display_name] = converted["display_name"]
    if "password" in converted:
        changes[User.password_hash] = accounts.hash_password(converted["password"])
    before = await User.select(User.role, User.active).where(User.id == user_id).first().run()
    await User.update(changes).where(User.id == user_id).run()
    if (
        "password" in converted
        or before is None
        or (before["active"] and not active)
        or before["role"] != changes[User.role]
    ):
        # a reset, a deactivation or a role change: every sign-in and API token ends
        await tokens.end_everything(user_id)


SAVERS = {"centers": save_center, "teachers": save_teacher, "users": save_user}


@post("/admin/{kind:str}/{item_id:int}", guards=[admin_only], name="pages:admin-save")
async def save(request: Request[Any, Any, Any], kind: str, item_id: PathId) -> Response[Any]:
    """Change a center, a teacher or a user (role, center, active, a new password)."""
    form = await form_of(request)
    known(kind)
    who = principal_of(request)
    assert who is not None
    current = await current_form(kind, item_id)
    errors: dict[str, str] = {}
    await SAVERS[kind](who, item_id, form, errors)
    if not errors:
        return see_other(f"/admin/{kind}/{item_id}?ok=saved")
    ctx = await edit_context(kind, item_id, current, form)
    ctx["errors"] = errors
    return page(request, TEMPLATES[kind], ctx, status_code=400)


HANDLERS = [edit_form, save]
