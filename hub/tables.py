"""Piccolo tables of the hub's core registry. Times are stored in UTC (``Timestamptz``)."""

from __future__ import annotations

from enum import StrEnum

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    Bytea,
    Date,
    DoublePrecision,
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
    sessions_after = BigInt(default=0)
    """Session cookies issued before this (Unix ms) are void: set by sign-out, password change."""


class ApiToken(Table, tablename="api_token"):
    user = ForeignKey(User, on_delete=OnDelete.cascade)
    name = Varchar(length=100, default="")
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked = Boolean(default=False)
    expires_at = Timestamptz(null=True, default=None)
    """After this the token signs nothing in (hub.tokens); older tokens got one by migration."""


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
    provider = Varchar(length=50, default="")
    """The streaming provider's name (a plugin's); always written with the session."""
    provider_settings = JSON(default={})
    series = ForeignKey(Series, null=True, on_delete=OnDelete.set_null, index=True)
    stream_key = Varchar(length=64, default="", secret=True)
    """The teacher's push secret (stream key or SRT passphrase); empty until first asked for."""
    live_at = Timestamptz(null=True, default=None)
    """When the stream actually started (the first publish)."""
    pushing_since = Timestamptz(null=True, default=None)
    """When the current push started (a rehearsal before the live window); None: no push."""
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


class ViewTally(Table, tablename="view_tally"):
    """Counted views and seconds watched per session per local day per kind (live, replay).

    One row per (session_id, day, kind) (unique index); flushes add to it with upserts.
    """

    session_id = Integer()
    day = Date()
    kind = Varchar(length=8)
    views = Integer(default=0)
    center_views = Integer(default=0)
    """Views from a signed-in share-center's screen (one viewer per center, not per child)."""
    seconds_watched = DoublePrecision(default=0.0)


class CenterDayTally(Table, tablename="center_day_tally"):
    """A share-center's screens per local day per kind: counted views and milliseconds
    watched (what ``viewer_window`` holds for the center's windows, summed). One row per
    (center_id, day, kind) (unique index); the beacon flush adds to it in its transaction."""

    center_id = Integer()
    day = Date()
    kind = Varchar(length=8)
    views = Integer(default=0)
    millis = BigInt(default=0)


class ViewerFirst(Table, tablename="viewer_first"):
    """The first local day on which a viewer had a counted view, per span: ``all`` (the whole
    programme, ``span_start`` 2000-01-01), ``year`` and ``month`` (``span_start`` the span's
    first day). One row per (viewer, span, span_start) (unique index), kept by the beacon
    flush in its transaction: the distinct viewers of the days ``span_start``..D are the rows
    of that span with ``first_day`` <= D (``hub.impact``)."""

    viewer = Varchar(length=32)
    span = Varchar(length=8)
    span_start = Date()
    first_day = Date()


class CenterEnrolment(Table, tablename="center_enrolment"):
    """How many children a share-center serves, from ``effective_from`` on. Each change is a
    new row (the history is kept); the one in effect on a day is the latest from on or before
    it."""

    center = Integer()
    children = Integer(default=0)
    effective_from = Date()
    recorded_by = Integer(null=True, default=None)
    recorded_at = Timestamptz(default=TimestamptzNow())


class CalendarFeed(Table, tablename="calendar_feed"):
    """A private .ics feed of a share-center (``kind`` center) or a teacher: its classes of
    any visibility. Only the token's SHA-256 is kept; a revoked feed answers 403."""

    kind = Varchar(length=10)
    owner_id = Integer()
    token_hash = Varchar(length=64, unique=True)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    revoked_at = Timestamptz(null=True, default=None)


class ViewerWindow(Table, tablename="viewer_window"):
    """One viewer's watching of one session in one counting window (unique together).

    ``viewer`` is a keyed hash of the player's random id; ``window_start`` and ``last_seen``
    are epoch seconds. The view counts (``counted``) once ``millis`` reaches the threshold and
    the server has taken two or more beacons at least the threshold apart (``first_ms``,
    ``last_ms``): a view is earned in server time, whatever the beacons claim.
    """

    session_id = Integer()
    viewer = Varchar(length=32)
    window_start = BigInt()
    day = Date()
    kind = Varchar(length=8)
    center_id = Integer(null=True, default=None)
    millis = BigInt(default=0)
    """Milliseconds watched in this window (integers: the threshold test is exact)."""
    counted = Boolean(default=False)
    last_seen = BigInt()
    first_ms = BigInt(default=0)
    """When the server took this window's first beacon (epoch milliseconds)."""
    last_ms = BigInt(default=0)
    """When the server took its last beacon (epoch milliseconds)."""
    beacons = Integer(default=0)
    """Beacons taken in this window: a view needs two or more."""
    counted_by = BigInt(null=True, default=None)
    """The flush whose statement made this window count (a random token)."""


class BeaconSeen(Table, tablename="beacon_seen"):
    """Beacon ids already counted (a retried beacon counts once); pruned after a day."""

    beacon_id = Varchar(length=64, unique=True)
    seen_at = BigInt(index=True)


class ViewPeak(Table, tablename="view_peak"):
    """Peak concurrent viewers of a session (viewers seen within the concurrency interval)."""

    session_id = Integer(unique=True)
    peak = Integer(default=0)
    peak_at = BigInt(default=0)


class ImpactReport(Table, tablename="impact_report"):
    """A generated charity report: which reporter, which period, where the file is kept and
    the figures it was made from; publishing state for reporters that publish."""

    reporter = Varchar(length=50, index=True)
    period_start = Date()
    period_end = Date()
    trigger = Varchar(length=10, default="manual")
    storage_key = Varchar(length=300, default="")
    figures_key = Varchar(length=300, default="")
    content_type = Varchar(length=100, default="")
    size = BigInt(default=0)
    figures = JSON(default={})
    publish_state = Varchar(length=12, default="none")
    publish_attempts = Integer(default=0)
    publish_error = Text(default="")
    published_at = Timestamptz(null=True, default=None)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class JobState(StrEnum):
    todo = "todo"
    doing = "doing"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class Job(Table):
    """Durable work for the media worker (record, finalize, transcode, publish-report).

    A worker claims a ``todo`` job whose ``run_after`` has come (or a ``doing`` job whose
    lease expired), holds it by renewing ``lease_expires_at``, and ends it ``succeeded``,
    back in ``todo`` with a back-off, or ``failed`` with ``last_error`` kept. ``dedupe_key``
    is unique: one record job per session, one finalize job per session.
    """

    kind = Varchar(length=32, index=True)
    state = Varchar(length=12, choices=JobState, default=JobState.todo)
    payload = JSON(default={})
    attempts = Integer(default=0)
    max_attempts = Integer(default=5)
    run_after = Timestamptz(default=TimestamptzNow())
    lease_owner = Varchar(length=120, default="")
    lease_expires_at = Timestamptz(null=True, default=None)
    last_error = Text(default="")
    dedupe_key = Varchar(length=200, null=True, default=None, unique=True)
    rerun = Boolean(default=False)
    """Enqueued again while running: back to ``todo`` when this run ends."""
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class RecordingState(StrEnum):
    recording = "recording"
    processing = "processing"
    ready = "ready"
    failed = "failed"


class Recording(Table):
    """One session's recording: storage keys of its artefacts, durations and byte sizes."""

    session_id = Integer(unique=True)
    state = Varchar(length=12, choices=RecordingState, default=RecordingState.recording)
    key_prefix = Varchar(length=200)
    playlist_key = Varchar(length=300, default="")
    mp4_key = Varchar(length=300, default="")
    poster_key = Varchar(length=300, default="")
    duration = DoublePrecision(default=0.0)
    """Seconds of the replay (the VOD playlist's total)."""
    segments = Integer(default=0)
    bytes_total = BigInt(default=0)
    mp4_bytes = BigInt(default=0)
    lost_seconds = DoublePrecision(default=0.0)
    """Seconds of the class missing from the replay (a recorder cut off, another went on)."""
    renditions = JSON(default={})
    """Name (low, audio) -> {key, bytes, duration}."""
    error = Text(default="")
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class LiveWindowSegment(Table, tablename="live_window_segment"):
    """The live edge of a class while the store is unreachable: the last few segments the
    recorder had to spool, so that the hub can keep serving live viewers from the database
    (see ``hub.live_window``). Emptied when the store is back."""

    session_id = Integer(index=True)
    name = Varchar(length=64)
    position = Integer()
    """The segment's index in the session's playlist (its media sequence number)."""
    duration = DoublePrecision(default=0.0)
    data = Bytea()
    created_at = Timestamptz(default=TimestamptzNow())


class ExportFile(Table, tablename="export_file"):
    """A large export made in the background: its filters, progress and where the file is."""

    dataset = Varchar(length=20)
    format = Varchar(length=8)
    filters = JSON(default={})
    state = Varchar(length=12, default="queued")
    """queued, running, done or failed."""
    rows_total = Integer(default=0)
    rows_done = Integer(default=0)
    storage_key = Varchar(length=300, default="")
    size = BigInt(default=0)
    error = Text(default="")
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)


class LoginFailure(Table, tablename="login_failure"):
    """Failed sign-ins per username or client address, shared by every serve process."""

    key = Varchar(length=200, unique=True)
    failures = Integer(default=0)
    last_failure = BigInt(default=0)
    """Unix ms of the latest failure."""


class MaterialUse(StrEnum):
    print = "print"
    show = "show"


class MaterialState(StrEnum):
    pending = "pending"
    ready = "ready"


class Material(Table):
    """A file a teacher attaches to a course or to one class of it (``session_id``): a PDF,
    an image, a slide deck or document (PPTX, DOCX) or audio. ``pending`` until the stored
    object is checked (size, type by its content); ``attached_at`` is when it became ready."""

    course_id = Integer(index=True)
    session_id = Integer(null=True, default=None, index=True)
    title = Varchar(length=200)
    filename = Varchar(length=200)
    use = Varchar(length=8, choices=MaterialUse, default=MaterialUse.show)
    content_type = Varchar(length=100, default="")
    size = BigInt(default=0)
    declared_size = BigInt(default=0)
    storage_key = Varchar(length=300, default="")
    preview_key = Varchar(length=300, default="")
    state = Varchar(length=10, choices=MaterialState, default=MaterialState.pending)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    attached_at = Timestamptz(null=True, default=None)


class CenterPack(Table, tablename="center_pack"):
    """An offline lesson pack of one center and week (``hub.packs``): the manifest (paths,
    sizes, SHA-256) and, kept apart, where each file is stored."""

    center_id = Integer(index=True)
    week = Varchar(length=10)
    slot = Varchar(length=40, unique=True)
    """``<center>:<week>``: one pack per center and week."""
    state = Varchar(length=12, default="queued")
    manifest = JSON(default={})
    keys = JSON(default={})
    bytes = BigInt(default=0)
    files = Integer(default=0)
    built_at = Timestamptz(null=True, default=None)


class PackUsage(Table, tablename="pack_usage"):
    """Bytes of packs served to a center, per week of pack and calendar month of serving."""

    center_id = Integer(index=True)
    week = Varchar(length=10)
    month = Varchar(length=7, index=True)
    slot = Varchar(length=60, unique=True)
    """``<center>:<week>:<month>``."""
    bytes = BigInt(default=0)


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
    ViewTally,
    ViewerWindow,
    CenterDayTally,
    ViewerFirst,
    BeaconSeen,
    ViewPeak,
    ImpactReport,
    Job,
    Recording,
    LiveWindowSegment,
    ExportFile,
    LoginFailure,
    CenterEnrolment,
    CalendarFeed,
    Material,
    CenterPack,
    PackUsage,
]
