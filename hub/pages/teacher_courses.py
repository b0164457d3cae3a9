"""The page where a teacher (or an administrator, for any teacher) creates a course. The values
are checked by the JSON API's ``CourseIn`` and saved by its ``add_course``."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from hub.api import teachers as teachers_api
from hub.api.teachers import CourseIn
from hub.auth import teacher_or_admin
from hub.errors import DomainError
from hub.pages.forms import checked, error_into, form_of, see_other
from hub.pages.render import lang_of, page, principal_of
from hub.tables import Teacher, Visibility

N_ = str
COURSE_HINTS = {
    "title": N_("1 to 200 characters."),
    "subject": N_("1 to 30 characters."),
    "grade_min": N_("A grade from 1 to 12."),
    "grade_max": N_("A grade from 1 to 12, not below the lowest."),
    "description": N_("At most 5000 characters."),
    "visibility": N_("Choose who may see the course."),
    "teacher_id": N_("Choose a teacher."),
}
NO_PROFILE = N_("Your account has no teacher profile yet; ask an administrator to link one.")


async def form_context(request: Request[Any, Any, Any], form: dict[str, str]) -> dict[str, Any]:
    who = principal_of(request)
    assert who is not None
    teachers = (
        await Teacher.select(Teacher.id, Teacher.name).order_by(Teacher.name).run()
        if who.is_admin
        else []
    )
    options = [("", "—")] + [(t["id"], t["name"]) for t in teachers]
    problem = ""
    if not who.is_admin and who.teacher_id is None:
        problem = lang_of(request).gettext(NO_PROFILE)
    return {"form": form, "teacher_options": options, "problem": problem}


@get("/teacher/courses/new", guards=[teacher_or_admin], name="pages:new-course")
async def new_course(request: Request[Any, Any, Any]) -> Response[Any]:
    """The form to create a course: title, subject, grade band, description, visibility."""
    form = {"grade_min": "1", "grade_max": "9", "visibility": Visibility.public.value}
    return page(request, "teacher/course_new.html", await form_context(request, form))


@post("/teacher/courses", guards=[teacher_or_admin], name="pages:add-course")
async def add_course(request: Request[Any, Any, Any]) -> Response[Any]:
    """Create a course; a teacher creates it for themself, an administrator for anyone."""
    form = await form_of(request)
    who = principal_of(request)
    assert who is not None
    values: dict[str, Any] = {
        "title": form.get("title", "").strip(),
        "subject": form.get("subject", "").strip(),
        "grade_min": form.get("grade_min", "").strip(),
        "grade_max": form.get("grade_max", "").strip(),
        "description": form.get("description", "").strip(),
        "visibility": form.get("visibility", Visibility.public.value),
        "teacher_id": form.get("teacher_id", "") if who.is_admin else who.teacher_id or 0,
    }
    data, errors = checked(CourseIn, values, COURSE_HINTS)
    if data is not None:
        try:
            await teachers_api.add_course(who, data)
            return see_other("/teacher?ok=course-added")
        except DomainError as exc:
            error_into(errors, exc, COURSE_HINTS)
    ctx = await form_context(request, form)
    ctx["errors"] = errors
    return page(request, "teacher/course_new.html", ctx, status_code=400)


HANDLERS = [new_course, add_course]
