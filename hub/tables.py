"""Piccolo tables of the hub's core registry. Times are stored in UTC (``Timestamptz``)."""

from __future__ import annotations

from enum import StrEnum

from piccolo.columns import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table


class Role(StrEnum):
    admin = "admin"
    teacher = "teacher"
    center = "center"


class CenterKind(StrEnum):
    fixed = "fixed"
    mobile = "mobile"


class Bandwidth(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class Visibility(StrEnum):
    public = "public"
    centers = "centers"


class SessionStatus(StrEnum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"
    archived = "archived"
    cancelled = "cancelled"


class ShareCenter(Table, tablename="share_center"):
    name = Varchar(length=200)
    province = Varchar(length=50, index=True)
    city = Varchar(length=50)
    county = Varchar(length=50)
    kind = Varchar(length=10, choices=CenterKind, default=CenterKind.fixed)
    rooms = Integer(default=1)
    timezone = Varchar(length=64, default="Asia/Shanghai")
    bandwidth = Varchar(length=10, choices=Bandwidth, default=Bandwidth.medium)
    contact_name = Varchar(length=100, default="")
    contact_phone = Varchar(length=40, default="")
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class User(Table, tablename="hub_user"):
    username = Varchar(length=64, unique=True)
    display_name = Varchar(length=100, default="")
    password_hash = Varchar(length=255)
    role = Varchar(length=10, choices=Role)
    center = ForeignKey(ShareCenter, null=True, on_delete=OnDelete.set_null)
    active = Boolean(default=True)
    language = Varchar(length=10, default="")
    timezone = Varchar(length=64, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class ApiToken(Table, tablename="api_token"):
    user = ForeignKey(User, on_delete=OnDelete.cascade)
    name = Varchar(length=100, default="")
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked = Boolean(default=False)


class Teacher(Table):
    name = Varchar(length=100)
    school = Varchar(length=200, default="")
    subjects = JSON(default=[])
    grades = JSON(default=[])
    bio = Text(default="")
    user = ForeignKey(User, null=True, unique=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())


class Course(Table):
    title = Varchar(length=200)
    subject = Varchar(length=50, index=True)
    grade_min = Integer(default=1)
    grade_max = Integer(default=9)
    description = Text(default="")
    teacher = ForeignKey(Teacher, on_delete=OnDelete.restrict, index=True)
    visibility = Varchar(length=10, choices=Visibility, default=Visibility.public)
    created_at = Timestamptz(default=TimestamptzNow())


class Term(Table):
    name = Varchar(length=100)
    starts_on = Date()
    ends_on = Date()


class TermBreak(Table, tablename="term_break"):
    term = ForeignKey(Term, on_delete=OnDelete.cascade)
    name = Varchar(length=100)
    starts_on = Date()
    ends_on = Date()


class Series(Table):
    course = ForeignKey(Course, on_delete=OnDelete.cascade)
    teacher = ForeignKey(Teacher, on_delete=OnDelete.restrict)
    rrule = Varchar(length=500)
    first_start_local = Varchar(length=32)
    duration_minutes = Integer()
    timezone = Varchar(length=64)
    term = ForeignKey(Term, null=True, on_delete=OnDelete.set_null)
    skip_holidays = Boolean(default=True)
    makeup_days = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())


class LiveSession(Table, tablename="live_session"):
    course = ForeignKey(Course, on_delete=OnDelete.cascade, index=True)
    teacher = ForeignKey(Teacher, on_delete=OnDelete.restrict, index=True)
    starts_at = Timestamptz(index=True, index_method=IndexMethod.btree)
    ends_at = Timestamptz()
    status = Varchar(length=12, choices=SessionStatus, default=SessionStatus.scheduled)
    provider = Varchar(length=50, default="self_hosted")
    provider_settings = JSON(default={})
    series = ForeignKey(Series, null=True, on_delete=OnDelete.set_null, index=True)
    stream_key = Varchar(length=64, default="", secret=True)
    """The teacher's push secret (stream key or SRT passphrase); empty until first asked for."""
    live_at = Timestamptz(null=True, default=None)
    """When the stream actually started (the first publish)."""
    ended_at = Timestamptz(null=True, default=None)
    """When the stream actually ended."""
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Booking(Table):
    session = ForeignKey(LiveSession, on_delete=OnDelete.cascade, index=True)
    center = ForeignKey(ShareCenter, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    checked_in_at = Timestamptz(null=True, default=None)
    checked_out_at = Timestamptz(null=True, default=None)
    children_present = Integer(null=True, default=None)
    checkin_key = Varchar(length=64, null=True, default=None)


CORE_TABLES: list[type[Table]] = [
    ShareCenter,
    User,
    ApiToken,
    Teacher,
    Course,
    Term,
    TermBreak,
    Series,
    LiveSession,
    Booking,
]
