"""Administrator pages: the impact dashboard with charts, exports, and the lists of centers,
teachers and users with a form to add one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post

from hub import accounts, reporting
from hub.auth import admin_only
from hub.errors import Invalid
from hub.impact import Period
from hub.pages import charts, impact_view
from hub.pages.forms import form_of, int_field, see_other
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
                title=lang.gettext("Children served per province"),
            ),
            "chart_centers": charts.hbars(
                data["attendance_per_center"][:20],
                title=lang.gettext("Attendance rate per center (lowest 20)"),
                unit="%",
            ),
            "reporters": sorted(getattr(plugins, "reporters", {}) or {}),
        },
        lang=lang,
    )


async def list_rows(kind: str) -> list[dict[str, Any]]:
    if kind == "centers":
        return (
            await ShareCenter.select()
            .order_by(ShareCenter.province)
            .order_by(ShareCenter.name)
            .limit(1000)
            .run()
        )
    if kind == "teachers":
        return (
            await Teacher.select(
                Teacher.id, Teacher.name, Teacher.school, Teacher.user.username.as_alias("username")
            )
            .order_by(Teacher.name)
            .limit(1000)
            .run()
        )
    return (
        await User.select(
            User.id,
            User.username,
            User.display_name,
            User.role,
            User.active,
            User.center.name.as_alias("center_name"),
        )
        .order_by(User.username)
        .limit(1000)
        .run()
    )


@get("/admin/{kind:str}", guards=[admin_only], name="pages:admin-list")
async def manage(request: Request[Any, Any, Any], kind: str) -> Response[Any]:
    """Centers, teachers or users, with the form to add one."""
    if kind not in KINDS:
        from hub.errors import NotFound

        raise NotFound(f"no list {kind!r}", field="kind")
    ok = request.query_params.get("ok")
    lang = lang_of(request)
    return page(
        request,
        f"admin/{kind}.html",
        {
            "rows": await list_rows(kind),
            "kind": kind,
            "form": {},
            "centers": await ShareCenter.select(ShareCenter.id, ShareCenter.name).run()
            if kind == "users"
            else [],
            "notice": lang.gettext(N_("Added.")) if ok == "added" else None,
        },
        lang=lang,
    )


async def add_center(form: dict[str, str], errors: dict[str, str]) -> None:
    for name in ("name", "province", "city", "county"):
        if not 1 <= len(form.get(name, "").strip()) <= 50 + 150 * (name == "name"):
            errors[name] = N_("This field is needed.")
    rooms = int_field(form, "rooms", 1, 100)
    if rooms is None:
        errors["rooms"] = N_("1 to 100 rooms.")
    kind = form.get("kind", CenterKind.fixed.value)
    bandwidth = form.get("bandwidth", Bandwidth.medium.value)
    if kind not in {k.value for k in CenterKind}:
        errors["kind"] = N_("Choose a kind.")
    if bandwidth not in {b.value for b in Bandwidth}:
        errors["bandwidth"] = N_("Choose a bandwidth class.")
    if errors:
        return
    await ShareCenter.insert(
        ShareCenter(
            name=form["name"].strip(),
            province=form["province"].strip(),
            city=form["city"].strip(),
            county=form["county"].strip(),
            kind=kind,
            rooms=rooms,
            bandwidth=bandwidth,
        )
    ).run()


async def add_teacher(form: dict[str, str], errors: dict[str, str]) -> None:
    name = form.get("name", "").strip()
    if not 1 <= len(name) <= 100:
        errors["name"] = N_("This field is needed.")
        return
    await Teacher.insert(Teacher(name=name, school=form.get("school", "").strip()[:200])).run()


async def add_user(form: dict[str, str], errors: dict[str, str]) -> None:
    username = form.get("username", "").strip()
    password = form.get("password", "")
    role = form.get("role", "")
    center_id = int_field(form, "center_id", 1, 2**31 - 1) if form.get("center_id") else None
    if not (3 <= len(username) <= 64) or not all(c.isalnum() or c in "_.@-" for c in username):
        errors["username"] = N_("3 to 64 letters, digits or _ . @ -")
    elif await User.exists().where(User.username == username).run():
        errors["username"] = N_("This username is taken.")
    if not 8 <= len(password) <= 256:
        errors["password"] = N_("The new password needs at least 8 characters.")
    if role not in {r.value for r in Role}:
        errors["role"] = N_("Choose a role.")
    elif role == Role.center.value and center_id is None:
        errors["center_id"] = N_("A center operator needs a center.")
    if errors:
        return
    user_id = await accounts.create_user(
        username, password, Role(role), form.get("display_name", "").strip()[:100], center_id
    )
    if role == Role.teacher.value and form.get("teacher_name", "").strip():
        await Teacher.insert(Teacher(name=form["teacher_name"].strip()[:100], user=user_id)).run()


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
    return page(
        request,
        f"admin/{kind}.html",
        {
            "rows": await list_rows(kind),
            "kind": kind,
            "form": form,
            "errors": errors,
            "centers": await ShareCenter.select(ShareCenter.id, ShareCenter.name).run()
            if kind == "users"
            else [],
        },
        status_code=400,
    )


async def reports_context(plugins: PluginHost, settings: Settings) -> dict[str, Any]:
    period = reporting.last_month(datetime.now(UTC), settings)
    return {
        "reports": await reporting.list_reports(limit=50),
        "reporters": [
            (name, getattr(r, "label", name)) for name, r in sorted(plugins.reporters.items())
        ],
        "form": {"from": period.start.isoformat(), "to": period.end.isoformat()},
    }


@get("/admin/reports", guards=[admin_only], name="pages:reports")
async def reports(request: Request[Any, Any, Any], plugins: PluginHost) -> Response[Any]:
    """Reports made by the reporting plugins, and the form to make one."""
    lang = lang_of(request)
    ctx = await reports_context(plugins, settings_of(request))
    if request.query_params.get("ok") == "made":
        ctx["notice"] = lang.gettext(N_("The report has been made."))
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
    if form.get("reporter") not in plugins.reporters:
        errors["reporter"] = N_("Choose a reporter.")
    if not errors and first and last:
        try:
            period = Period.of(first, last, ZoneInfo(settings.timezone))
            await reporting.generate(
                form["reporter"], period, plugins, settings, user_id=who.user_id
            )
            return see_other("/admin/reports?ok=made")
        except Invalid as exc:
            errors["from"] = exc.detail
    ctx = await reports_context(plugins, settings)
    ctx.update(form=form, errors=errors)
    return page(request, "admin/reports.html", ctx, status_code=400)


HANDLERS = [dashboard, reports, make_report, manage, add]
