"""Public pages to find a class: the course catalogue (``/courses``), a teacher's page
(``/teachers/{id}``) and the help page (``/help``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter

from hub.api.common import PathId
from hub.api.sessions import ListQuery, list_rows
from hub.errors import NotFound
from hub.pages import schedule_view, search
from hub.pages.render import lang_of, principal_of, public_page, settings_of
from hub.tables import Course, Teacher, Visibility

PER_PAGE = 30
Text = Annotated[str | None, Parameter(max_length=50)]


def grade_of(value: str | None) -> int | None:
    digits = bool(value) and value.isascii() and value.isdigit()  # type: ignore[union-attr]
    return int(value) if digits and 1 <= int(value) <= 12 else None  # type: ignore[arg-type]


@get("/courses", name="pages:courses")
async def courses_page(
    request: Request[Any, Any, Any],
    subject: Text = None,
    grade: Annotated[str | None, Parameter(max_length=3)] = None,
    q: Text = None,
    page: Annotated[int, Parameter(ge=1, le=10_000)] = 1,
) -> Response[Any]:
    """Every course (public ones for visitors), by subject and title, with filters, a search
    of title and teacher, and pages of ``PER_PAGE``."""
    lang = lang_of(request)
    grade_n = grade_of(grade)
    text = (q or "").strip()

    async def build() -> dict[str, Any]:
        where = Course.id.is_not_null()
        if principal_of(request) is None:
            where &= Course.visibility == Visibility.public.value
        if subject:
            where &= Course.subject == subject
        if grade_n:
            where &= (Course.grade_min <= grade_n) & (Course.grade_max >= grade_n)
        if text:
            where &= search.contains(Course.title, text) | search.contains(
                Course.teacher.name, text
            )
        total = await Course.count().where(where).run()
        rows = (
            await Course.select(
                Course.id,
                Course.title,
                Course.subject,
                Course.grade_min,
                Course.grade_max,
                Course.teacher.as_alias("teacher_id"),
                Course.teacher.name.as_alias("teacher_name"),
                Course.teacher.school.as_alias("teacher_school"),
            )
            .where(where)
            .order_by(Course.subject)
            .order_by(Course.title)
            .order_by(Course.id)
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
            .run()
        )
        return {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PER_PAGE)),
            "subject": subject or "",
            "grade": grade_n,
            "q": text,
            "subjects": await schedule_view.subjects(),
        }

    return await public_page(request, "courses.html", build, lang=lang)


@get("/teachers/{teacher_id:int}", name="pages:teacher-profile")
async def teacher_page(request: Request[Any, Any, Any], teacher_id: PathId) -> Response[Any]:
    """A teacher: school, subjects, grades, about; their courses and classes to come, with
    the teacher's calendar feed."""
    lang = lang_of(request)
    visitor = principal_of(request) is None

    async def build() -> dict[str, Any]:
        teacher = (
            await Teacher.select(
                Teacher.id,
                Teacher.name,
                Teacher.school,
                Teacher.subjects,
                Teacher.grades,
                Teacher.bio,
            )
            .where(Teacher.id == teacher_id)
            .first()
            .run()
        )
        if teacher is None:
            raise NotFound(f"teacher {teacher_id} not found", field="teacher_id")
        where = Course.teacher == teacher_id
        if visitor:
            where &= Course.visibility == Visibility.public.value
        courses = (
            await Course.select(
                Course.id, Course.title, Course.subject, Course.grade_min, Course.grade_max
            )
            .where(where)
            .order_by(Course.title)
            .limit(200)
            .run()
        )
        query = ListQuery(lo=datetime.now(UTC), teacher_id=teacher_id, public_only=visitor)
        coming = await list_rows(*query.where(), limit=20)
        return {"teacher": teacher, "courses": courses, "coming": coming}

    return await public_page(request, "teacher_profile.html", build, lang=lang)


@get("/help", name="pages:help")
async def help_page(request: Request[Any, Any, Any]) -> Response[Any]:
    """How to join a class, what to do when the sound or the picture fails, whom to call."""
    lang = lang_of(request)
    contact = settings_of(request).help_contact

    async def build() -> dict[str, Any]:
        return {"contact": contact}

    return await public_page(request, "help.html", build, lang=lang)


HANDLERS = [courses_page, teacher_page, help_page]
