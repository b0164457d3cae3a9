"""Teachers (共享名师) and their courses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import Parameter

from hub import schedule
from hub.accounts import Principal
from hub.api.common import (
    LongText,
    Name,
    Page,
    PageNo,
    PathId,
    PerPage,
    ShortText,
    TzParam,
    changes_of,
    need,
    viewer_zone,
)
from hub.api.sessions import SessionOut, list_out
from hub.auth import admin_only, teacher_or_admin
from hub.errors import Forbidden, Invalid, NotFound
from hub.settings import Settings
from hub.tables import Course, Role, SessionStatus, Teacher, User, Visibility

Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=30)]
Grade = Annotated[int, msgspec.Meta(ge=1, le=12)]
TeacherName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]  # Teacher.name's limit


class TeacherIn(msgspec.Struct, forbid_unknown_fields=True):
    name: TeacherName
    school: Annotated[str, msgspec.Meta(max_length=200)] = ""
    subjects: Annotated[list[Tag], msgspec.Meta(max_length=20)] = []
    grades: Annotated[list[Grade], msgspec.Meta(max_length=12)] = []
    bio: LongText = ""
    user_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None


class TeacherPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: TeacherName | msgspec.UnsetType = msgspec.UNSET
    school: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    subjects: Annotated[list[Tag], msgspec.Meta(max_length=20)] | msgspec.UnsetType = msgspec.UNSET
    grades: Annotated[list[Grade], msgspec.Meta(max_length=12)] | msgspec.UnsetType = msgspec.UNSET
    bio: LongText | msgspec.UnsetType = msgspec.UNSET


class TeacherOut(msgspec.Struct):
    id: int
    name: str
    school: str
    subjects: list[str]
    grades: list[int]
    bio: str


class CourseIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Name
    subject: Tag
    teacher_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    grade_min: Grade = 1
    grade_max: Grade = 9
    description: LongText = ""
    visibility: Visibility = Visibility.public


class CoursePatch(msgspec.Struct, forbid_unknown_fields=True):
    title: Name | msgspec.UnsetType = msgspec.UNSET
    subject: Tag | msgspec.UnsetType = msgspec.UNSET
    grade_min: Grade | msgspec.UnsetType = msgspec.UNSET
    grade_max: Grade | msgspec.UnsetType = msgspec.UNSET
    description: LongText | msgspec.UnsetType = msgspec.UNSET
    visibility: Visibility | msgspec.UnsetType = msgspec.UNSET


class CourseOut(msgspec.Struct):
    id: int
    title: str
    subject: str
    grade_min: int
    grade_max: int
    description: str
    teacher_id: int
    visibility: str


def teacher_out(r: dict[str, Any]) -> TeacherOut:
    return TeacherOut(
        id=r["id"],
        name=r["name"],
        school=r["school"],
        subjects=list(r["subjects"] or []),
        grades=list(r["grades"] or []),
        bio=r["bio"],
    )


def course_out(r: dict[str, Any]) -> CourseOut:
    return CourseOut(
        id=r["id"],
        title=r["title"],
        subject=r["subject"],
        grade_min=r["grade_min"],
        grade_max=r["grade_max"],
        description=r["description"],
        teacher_id=r["teacher"],
        visibility=r["visibility"],
    )


async def get_teacher(teacher_id: PathId) -> dict[str, Any]:
    row = (
        await Teacher.select().where(Teacher.id == teacher_id).output(load_json=True).first().run()
    )
    if row is None:
        raise NotFound(f"teacher {teacher_id} not found", field="teacher_id")
    return row


def grades_in_order(grade_min: int, grade_max: int) -> None:
    if grade_max < grade_min:
        raise Invalid("grade_max must not be below grade_min", field="grade_max")


async def link_user(teacher_id: int, user_id: int) -> None:
    """Give an existing teacher a sign-in (the administrator's user form): the user must have
    the teacher role and no teacher yet, the teacher no sign-in yet."""
    user = await User.select(User.role).where(User.id == user_id).first().run()
    if user is None:
        raise NotFound(f"user {user_id} not found", field="user_id")
    if user["role"] != Role.teacher.value:
        raise Invalid("the linked user must have the teacher role", field="user_id")
    if await Teacher.exists().where(Teacher.user == user_id).run():
        raise schedule.Conflict(f"user {user_id} is already linked to a teacher", field="user_id")
    changed = (
        await Teacher.update({Teacher.user: user_id})
        .where((Teacher.id == teacher_id) & Teacher.user.is_null())
        .returning(Teacher.id)
        .run()
    )
    if not changed:
        raise schedule.Conflict(
            f"teacher {teacher_id} does not exist or has a sign-in already", field="teacher_id"
        )


async def add_teacher(data: TeacherIn) -> int:
    """Register a teacher (the API and the administrator's page); the new id."""
    if data.user_id is not None:
        user = await User.select(User.role).where(User.id == data.user_id).first().run()
        if user is None:
            raise NotFound(f"user {data.user_id} not found", field="user_id")
        if user["role"] != Role.teacher.value:
            raise Invalid("the linked user must have the teacher role", field="user_id")
        if await Teacher.exists().where(Teacher.user == data.user_id).run():
            raise schedule.Conflict(
                f"user {data.user_id} is already linked to a teacher", field="user_id"
            )
    rows = await Teacher.insert(
        Teacher(
            name=data.name,
            school=data.school,
            subjects=list(data.subjects),
            grades=list(data.grades),
            bio=data.bio,
            user=data.user_id,
        )
    ).run()
    return int(rows[0]["id"])


async def change_teacher(who: Principal, teacher_id: int, data: TeacherPatch) -> None:
    """Change a teacher's profile (the API and the administrator's page)."""
    await get_teacher(teacher_id)
    schedule.may_teach(who, teacher_id)
    changes = changes_of(data)
    if changes:
        await Teacher.update(changes).where(Teacher.id == teacher_id).run()


async def add_course(who: Principal, data: CourseIn) -> int:
    """Create a course (the API and the course page); a teacher only for themself."""
    await get_teacher(data.teacher_id)
    if not who.is_admin and who.teacher_id != data.teacher_id:
        raise Forbidden("a teacher creates courses only for themself", field="teacher_id")
    grades_in_order(data.grade_min, data.grade_max)
    rows = await Course.insert(
        Course(
            title=data.title,
            subject=data.subject,
            grade_min=data.grade_min,
            grade_max=data.grade_max,
            description=data.description,
            teacher=data.teacher_id,
            visibility=data.visibility.value,
        )
    ).run()
    return int(rows[0]["id"])


class TeacherController(Controller):
    path = "/api/v1/teachers"
    tags = ["teachers"]

    @get("/")
    async def list_teachers(
        self,
        page: PageNo = 1,
        per_page: PerPage = 50,
        subject: Annotated[str | None, Parameter(max_length=30)] = None,
    ) -> Page[TeacherOut]:
        """Teachers, in the order they joined."""
        rows = (
            await Teacher.select().output(load_json=True).order_by(Teacher.id).run()
            if subject
            else None
        )
        if rows is not None:
            matching = [r for r in rows if subject in (r["subjects"] or [])]
            start = (page - 1) * per_page
            return Page(
                items=[teacher_out(r) for r in matching[start : start + per_page]],
                page=page,
                per_page=per_page,
                total=len(matching),
            )
        rows = (
            await Teacher.select()
            .output(load_json=True)
            .order_by(Teacher.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
            .run()
        )
        return Page(
            items=[teacher_out(r) for r in rows],
            page=page,
            per_page=per_page,
            total=await Teacher.count().run(),
        )

    @post("/", guards=[admin_only])
    async def create_teacher(self, data: TeacherIn) -> TeacherOut:
        """Register a teacher, optionally linked to a user account with the teacher role."""
        return teacher_out(await get_teacher(await add_teacher(data)))

    @get("/{teacher_id:int}")
    async def get_one(self, teacher_id: PathId) -> TeacherOut:
        """One teacher."""
        return teacher_out(await get_teacher(teacher_id))

    @patch("/{teacher_id:int}", guards=[teacher_or_admin])
    async def update_teacher(
        self, teacher_id: PathId, data: TeacherPatch, principal: Principal | None
    ) -> TeacherOut:
        """Change a teacher's profile (the teacher themself, or an administrator)."""
        await change_teacher(need(principal), teacher_id, data)
        return teacher_out(await get_teacher(teacher_id))

    @get("/{teacher_id:int}/upcoming")
    async def upcoming(
        self,
        teacher_id: PathId,
        principal: Principal | None,
        settings: Settings,
        limit: PerPage = 50,
        tz: TzParam = None,
    ) -> list[SessionOut]:
        """A teacher's sessions that have not ended yet."""
        await get_teacher(teacher_id)
        zone = viewer_zone(tz, principal, settings.timezone)
        where = "s.teacher = ? AND s.ends_at > ? AND s.status <> ?"
        args: list[Any] = [teacher_id, datetime.now(UTC), SessionStatus.cancelled.value]
        if principal is None:
            where += " AND c.visibility = ?"
            args.append(Visibility.public.value)
        return await list_out(where, args, zone, limit=limit)


class CourseController(Controller):
    path = "/api/v1/courses"
    tags = ["courses"]

    @get("/")
    async def list_courses(
        self,
        principal: Principal | None,
        page: PageNo = 1,
        per_page: PerPage = 50,
        subject: Annotated[str | None, Parameter(max_length=30)] = None,
        grade: Annotated[int | None, Parameter(ge=1, le=12)] = None,
        teacher_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1)] = None,
    ) -> Page[CourseOut]:
        """Courses, filtered by subject, grade and teacher."""
        query, count = Course.select(), Course.count()
        conditions = []
        if subject:
            conditions.append(Course.subject == subject)
        if grade:
            conditions += [Course.grade_min <= grade, Course.grade_max >= grade]
        if teacher_id:
            conditions.append(Course.teacher == teacher_id)
        if principal is None:
            conditions.append(Course.visibility == Visibility.public.value)
        for c in conditions:
            query, count = query.where(c), count.where(c)
        rows = await query.order_by(Course.id).limit(per_page).offset((page - 1) * per_page).run()
        return Page(
            items=[course_out(r) for r in rows],
            page=page,
            per_page=per_page,
            total=await count.run(),
        )

    @post("/", guards=[teacher_or_admin])
    async def create_course(self, data: CourseIn, principal: Principal | None) -> CourseOut:
        """Create a course; a teacher creates courses only for themself."""
        return course_out(await schedule.get_course(await add_course(need(principal), data)))

    @get("/{course_id:int}")
    async def get_one(self, course_id: PathId, principal: Principal | None) -> CourseOut:
        """One course."""
        course = await schedule.get_course(course_id)
        if principal is None and course["visibility"] != Visibility.public.value:
            raise NotFound(f"course {course_id} not found", field="course_id")
        return course_out(course)

    @patch("/{course_id:int}", guards=[teacher_or_admin])
    async def update_course(
        self, course_id: PathId, data: CoursePatch, principal: Principal | None
    ) -> CourseOut:
        """Change a course (its teacher, or an administrator)."""
        course = await schedule.get_course(course_id)
        schedule.may_teach(need(principal), course["teacher"])
        changes = changes_of(data)
        grades_in_order(
            changes.get("grade_min", course["grade_min"]),
            changes.get("grade_max", course["grade_max"]),
        )
        if changes:
            await Course.update(changes).where(Course.id == course_id).run()
        return course_out(await schedule.get_course(course_id))


__all__ = ["CourseController", "ShortText", "TeacherController"]
