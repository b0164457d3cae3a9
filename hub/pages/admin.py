"""Administrator pages: the impact dashboard with charts, exports, and the lists of centers,
teachers and users with a form to add one (the forms to change one are in ``admin_edit``).
Form values are checked by the JSON API's shapes and saved by its service functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response, get, post

from hub import reporting
from hub.api import accounts as accounts_api
from hub.api import centers as centers_api
from hub.api import teachers as teachers_api
from hub.api.accounts import UserIn
from hub.api.centers import CenterIn
from hub.api.teachers import TeacherIn
from hub.auth import admin_only
from hub.errors import DomainError, Invalid
from hub.impact import Period
from hub.pages import charts, i18n, impact_view, schedule_view, search
from hub.pages.forms import checked, error_into, field_errors, form_of, see_other, words
from hub.pages.render import lang_of, page, principal_of, settings_of
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.tables import Bandwidth, CenterKind, Role, ShareCenter, Teacher, User

N_ = str
KINDS = ("centers", "teachers", "users")


@get("/admin", guards=[admin_only], name="pages:admin")
async def dashboard(request: Request[Any, Any, Any], plugins: PluginHost) -> Response[Any]:
    """Impact figures and charts; links to exports and reports."""
    lang = lang_of(request)
    data = await impact_view.dashboard(lang.tz)
    week_rows = [(f"{d.month}/{d.day}", v) for d, v in data["views_per_week"]]
    return page(
        request,
        "admin/dashboard.html",
        {
            "t": data["totals"],
            "chart_weeks": charts.vbars(week_rows, title=lang.gettext("Online views per week")),
            "chart_provinces": charts.hbars(
                data["children_per_province"][:20],
                title=lang.gettext("Child visits per province"),
            ),
            "chart_centers": charts.hbars(
                data["attendance_per_center"][:20],
                title=lang.gettext("Attendance rate per center (lowest 20)"),
                unit="%",
            ),
            "reporters": list(reporter_labels(plugins, lang.locale).values()),
            "lessons": data["lessons"],
        },
        lang=lang,
    )


PER_PAGE = 50


@dataclass
class Listing:
    """One page of a list of centers, teachers or users, with what it was asked for."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    q: str
    role: str
    place: dict[str, str]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PER_PAGE))


def search_of(kind: str, q: str, role: str, place: dict[str, str]) -> Any:
    """The WHERE of a list's search (``q`` in names; users by role; centers by region)."""
    if kind == "centers":
        where: Any = ShareCenter.id.is_not_null()
        for column, value in place.items():
            if value:
                where &= getattr(ShareCenter, column) == value
        if q:
            where &= (
                search.contains(ShareCenter.name, q)
                | search.contains(ShareCenter.county, q)
                | search.contains(ShareCenter.contact_name, q)
            )
        return where
    if kind == "teachers":
        where = Teacher.id.is_not_null()
        if q:
            where &= search.contains(Teacher.name, q) | search.contains(Teacher.school, q)
        return where
    where = User.id.is_not_null()
    if role in {r.value for r in Role}:
        where &= User.role == role
    if q:
        where &= (
            search.contains(User.username, q)
            | search.contains(User.display_name, q)
            | search.contains(User.center.name, q)
        )
    return where


async def list_rows(
    kind: str, q: str = "", page: int = 1, role: str = "", place: dict[str, str] | None = None
) -> Listing:
    """One page of centers (by province and name), teachers (by name) or users (by username,
    with the teacher or the center each belongs to)."""
    place = place or {}
    where = search_of(kind, q, role, place)
    offset = (page - 1) * PER_PAGE
    if kind == "centers":
        total = await ShareCenter.count().where(where).run()
        rows = (
            await ShareCenter.select()
            .where(where)
            .order_by(ShareCenter.province)
            .order_by(ShareCenter.name)
            .limit(PER_PAGE)
            .offset(offset)
            .run()
        )
    elif kind == "teachers":
        total = await Teacher.count().where(where).run()
        rows = (
            await Teacher.select(
                Teacher.id, Teacher.name, Teacher.school, Teacher.user.username.as_alias("username")
            )
            .where(where)
            .order_by(Teacher.name)
            .limit(PER_PAGE)
            .offset(offset)
            .run()
        )
    else:
        total = await User.count().where(where).run()
        rows = (
            await User.select(
                User.id,
                User.username,
                User.display_name,
                User.role,
                User.active,
                User.center.as_alias("center_id"),
                User.center.name.as_alias("center_name"),
            )
            .where(where)
            .order_by(User.username)
            .limit(PER_PAGE)
            .offset(offset)
            .run()
        )
        ids = [r["id"] for r in rows]
        linked = (
            await Teacher.select(Teacher.id, Teacher.name, Teacher.user)
            .where(Teacher.user.is_in(ids))
            .run()
            if ids
            else []
        )
        by_user = {t["user"]: t for t in linked}
        for row in rows:
            teacher = by_user.get(row["id"])
            row["teacher_id"] = teacher["id"] if teacher else None
            row["teacher_name"] = teacher["name"] if teacher else ""
    return Listing(rows, total, page, q, role, place)


async def list_context(kind: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
    """A list's page of rows, search, filters and the choices of its add form."""
    params = request.query_params
    q = (params.get("q") or "").strip()[:50]
    try:
        number = min(max(int(params.get("page") or 1), 1), 100_000)
    except ValueError:
        number = 1
    place = {k: (params.get(k) or "").strip()[:50] for k in ("province", "city", "county")}
    listing = await list_rows(kind, q, number, (params.get("role") or "")[:10], place)
    ctx: dict[str, Any] = {"listing": listing, "rows": listing.rows, "kind": kind}
    if kind == "centers":
        ctx["regions"] = await schedule_view.regions(place["province"], place["city"])
        ctx["place"] = place
        ctx["known"] = await known_places()
    if kind == "users":
        ctx["centers"] = (
            await ShareCenter.select(ShareCenter.id, ShareCenter.name)
            .order_by(ShareCenter.name)
            .run()
        )
        ctx["center_options"] = [("", "—")] + [(c["id"], c["name"]) for c in ctx["centers"]]
        ctx["teacher_options"] = [
            (t["id"], f"{t['name']}（{t['school']}）" if t["school"] else t["name"])
            for t in await free_teachers()
        ]
    return ctx


async def free_teachers() -> list[dict[str, Any]]:
    """Teachers with no sign-in yet: a new teacher account may be linked to one of them."""
    return (
        await Teacher.select(Teacher.id, Teacher.name, Teacher.school)
        .where(Teacher.user.is_null())
        .order_by(Teacher.name)
        .limit(2000)
        .run()
    )


PROVINCES = (
    "北京市 天津市 上海市 重庆市 河北省 山西省 辽宁省 吉林省 黑龙江省 江苏省 浙江省 安徽省 福建省 "
    "江西省 山东省 河南省 湖北省 湖南省 广东省 海南省 四川省 贵州省 云南省 陕西省 甘肃省 青海省 "
    "台湾省 内蒙古自治区 广西壮族自治区 西藏自治区 宁夏回族自治区 新疆维吾尔自治区 "
    "香港特别行政区 澳门特别行政区"
).split()
"""China's provincial divisions, offered by the centers' province picker (data, not words)."""


async def known_places() -> dict[str, list[str]]:
    """What the region pickers of the center forms offer: every province, and the cities
    and counties that centers are in already (a new one may be typed)."""
    rows = await ShareCenter.select(ShareCenter.city, ShareCenter.county).distinct().run()
    return {
        "province": PROVINCES,
        "city": sorted({r["city"] for r in rows if r["city"]}),
        "county": sorted({r["county"] for r in rows if r["county"]}),
    }


@get("/admin/{kind:str}", guards=[admin_only], name="pages:admin-list")
async def manage(request: Request[Any, Any, Any], kind: str) -> Response[Any]:
    """Centers, teachers or users: a page of 50 with search (and filters by region or role),
    and the form to add one."""
    if kind not in KINDS:
        from hub.errors import NotFound

        raise NotFound(f"no list {kind!r}", field="kind")
    ok = request.query_params.get("ok")
    lang = lang_of(request)
    ctx = await list_context(kind, request)
    ctx.update(form={}, notice=lang.gettext(N_("Added.")) if ok == "added" else None)
    return page(request, f"admin/{kind}.html", ctx, lang=lang)


CENTER_HINTS = {
    "name": N_("1 to 200 characters."),
    "province": N_("1 to 50 characters."),
    "city": N_("1 to 50 characters."),
    "county": N_("1 to 50 characters."),
    "rooms": N_("1 to 50 rooms."),
    "kind": N_("Choose a kind."),
    "bandwidth": N_("Choose a bandwidth class."),
    "timezone": N_("Unknown time zone; give one like Asia/Shanghai."),
    "contact_name": N_("At most 100 characters."),
    "contact_phone": N_("At most 40 characters."),
}
TEACHER_HINTS = {
    "name": N_("1 to 100 characters."),
    "school": N_("At most 200 characters."),
    "subjects": N_("Up to 20 subjects of at most 30 characters each."),
    "grades": N_("Grades 1 to 12, separated by commas."),
    "bio": N_("At most 5000 characters."),
}
USER_HINTS = {
    "username": N_("3 to 64 letters, digits or _ . @ -"),
    "password": N_("At least 10 characters, not a common password, not containing the username."),
    "role": N_("Choose a role."),
    "center_id": N_("A center operator needs a center."),
    "display_name": N_("At most 100 characters."),
}
CENTER_TEXT = ("name", "province", "city", "county", "timezone", "contact_name", "contact_phone")


def center_values(form: dict[str, str], defaults: bool) -> dict[str, Any]:
    """A center form's values for ``CenterIn``/``CenterPatch`` (the add form has fewer)."""
    values: dict[str, Any] = {k: form[k].strip() for k in CENTER_TEXT if k in form or not defaults}
    values["rooms"] = form.get("rooms", "").strip()
    values["kind"] = form.get("kind", CenterKind.fixed.value)
    values["bandwidth"] = form.get("bandwidth", Bandwidth.medium.value)
    if not defaults:
        values["active"] = form.get("active") == "on"
    return values


async def add_center(form: dict[str, str], errors: dict[str, str]) -> None:
    data, errors_found = checked(CenterIn, center_values(form, defaults=True), CENTER_HINTS)
    errors.update(errors_found)
    if data is not None:
        try:
            await centers_api.add_center(data)
        except DomainError as exc:
            error_into(errors, exc, CENTER_HINTS)


def teacher_values(form: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {"name": form.get("name", "").strip()}
    for name in ("school", "bio"):
        if name in form:
            values[name] = form[name].strip()
    for name in ("subjects", "grades"):
        if name in form:
            values[name] = words(form[name])
    return values


async def add_teacher(form: dict[str, str], errors: dict[str, str]) -> None:
    data, errors_found = checked(TeacherIn, teacher_values(form), TEACHER_HINTS)
    errors.update(errors_found)
    if data is not None:
        await teachers_api.add_teacher(data)


async def add_user(form: dict[str, str], errors: dict[str, str]) -> None:
    """Add a sign-in. A teacher's sign-in is linked to an existing teacher (``teacher_id``,
    one with no sign-in yet) or makes a new one (``teacher_name``); a new name that an
    existing teacher has already is refused, so a teacher is not made twice."""
    values = {
        "username": form.get("username", "").strip(),
        "password": form.get("password", ""),
        "role": form.get("role", ""),
        "display_name": form.get("display_name", "").strip(),
        "center_id": form.get("center_id") or None,
    }
    converted, errors_found = field_errors(UserIn, values, USER_HINTS)
    errors.update(errors_found)
    teacher = None
    link: int | None = None
    is_teacher = converted.get("role") is Role.teacher
    if is_teacher and form.get("teacher_id"):
        free = {t["id"] for t in await free_teachers()}
        link = int(form["teacher_id"]) if form["teacher_id"].isdigit() else None
        if link not in free:
            errors["teacher_id"] = N_("Choose a teacher who has no sign-in yet.")
    elif is_teacher and form.get("teacher_name", "").strip():
        name = form["teacher_name"].strip()
        teacher, teacher_errors = checked(TeacherIn, {"name": name}, TEACHER_HINTS)
        if teacher_errors:
            errors["teacher_name"] = TEACHER_HINTS["name"]
        elif await Teacher.exists().where(Teacher.name == name).run():
            errors["teacher_name"] = N_(
                "A teacher of this name exists already: choose them under Existing teacher."
            )
    if "role" in converted and "center_id" in converted:
        try:
            await accounts_api.check_center_of(converted["role"], converted["center_id"])
        except DomainError as exc:
            error_into(errors, exc, USER_HINTS)
    data, _ = checked(UserIn, values, USER_HINTS)
    if errors or data is None:
        return
    try:
        user_id = await accounts_api.add_user(data)
    except DomainError as exc:
        error_into(errors, exc, {**USER_HINTS, "username": N_("This username is taken.")})
        return
    if teacher is not None:
        await teachers_api.add_teacher(msgspec.structs.replace(teacher, user_id=user_id))
    elif link is not None:
        await teachers_api.link_user(link, user_id)


ADDERS = {"centers": add_center, "teachers": add_teacher, "users": add_user}


@post("/admin/{kind:str}", guards=[admin_only], name="pages:admin-add")
async def add(request: Request[Any, Any, Any], kind: str) -> Response[Any]:
    """Add a center, a teacher or a user."""
    form = await form_of(request)
    if kind not in KINDS:
        from hub.errors import NotFound

        raise NotFound(f"no list {kind!r}", field="kind")
    errors: dict[str, str] = {}
    await ADDERS[kind](form, errors)
    if not errors:
        return see_other(f"/admin/{kind}?ok=added")
    ctx = await list_context(kind, request)
    ctx.update(form=form, errors=errors)
    return page(request, f"admin/{kind}.html", ctx, status_code=400)


PUBLISH_STATES = {
    "none": N_("Kept here (not sent anywhere)"),
    "generating": N_("Being made"),
    "pending": N_("Waiting to be sent"),
    "retrying": N_("Sending failed; it will be tried again"),
    "failed": N_("Sending failed; it will not be tried again"),
    "published": N_("Sent"),
}
"""A report's ``publish_state`` in words."""


def reporter_labels(plugins: PluginHost, locale: str) -> dict[str, str]:
    """Every loaded reporter's label in the page's language, by name."""
    return {
        name: i18n.label_in(str(getattr(r, "label", name)), locale)
        for name, r in sorted(plugins.reporters.items())
    }


def ready_reporters(plugins: PluginHost) -> list[str]:
    """The reporters whose settings are complete (a webhook with no address is not one)."""
    return [
        name
        for name, r in sorted(plugins.reporters.items())
        if r.ready(plugins.reporter_options.get(name))
    ]


async def reports_context(plugins: PluginHost, settings: Settings, locale: str) -> dict[str, Any]:
    period = reporting.last_month(datetime.now(UTC), settings)
    labels = reporter_labels(plugins, locale)
    return {
        "reports": await reporting.list_reports(limit=50),
        "reporters": [(name, labels[name]) for name in ready_reporters(plugins)],
        "labels": labels,
        "states": PUBLISH_STATES,
        "form": {"from": period.start.isoformat(), "to": period.end.isoformat()},
    }


@get("/admin/reports", guards=[admin_only], name="pages:reports")
async def reports(request: Request[Any, Any, Any], plugins: PluginHost) -> Response[Any]:
    """Reports made by the reporting plugins, and the form to make one."""
    lang = lang_of(request)
    ctx = await reports_context(plugins, settings_of(request), lang.locale)
    if request.query_params.get("ok") == "made":
        ctx["notice"] = lang.gettext(N_("The report has been made."))
    elif request.query_params.get("ok") == "sending":
        ctx["notice"] = lang.gettext(N_("The report has been made; it is being sent."))
    return page(request, "admin/reports.html", ctx, lang=lang)


@post("/admin/reports", guards=[admin_only], name="pages:reports-make")
async def make_report(request: Request[Any, Any, Any], plugins: PluginHost) -> Response[Any]:
    """Make a report for a period with one reporter (it may then publish it)."""
    form = await form_of(request)
    settings = settings_of(request)
    who = principal_of(request)
    assert who is not None
    errors: dict[str, str] = {}
    try:
        first = date.fromisoformat(form.get("from", ""))
        last = date.fromisoformat(form.get("to", ""))
    except ValueError:
        first = last = None
        errors["from"] = N_("Give the day as YYYY-MM-DD.")
    if first and last and last < first:
        errors["to"] = N_("The last day is before the first.")
    if form.get("reporter") not in ready_reporters(plugins):
        errors["reporter"] = N_("Choose a reporter.")
    if not errors and first and last:
        try:
            period = Period.of(first, last, ZoneInfo(settings.timezone))
            made = await reporting.generate(
                form["reporter"], period, plugins, settings, user_id=who.user_id
            )
            return see_other(
                "/admin/reports?ok=" + ("sending" if made.publish_state == "pending" else "made")
            )
        except Invalid as exc:
            errors["from"] = exc.detail
    lang = lang_of(request)
    ctx = await reports_context(plugins, settings, lang.locale)
    ctx.update(form=form, errors=errors)
    return page(request, "admin/reports.html", ctx, status_code=400, lang=lang)


HANDLERS = [dashboard, reports, make_report, manage, add]
