"""``sharehub demo``: a programme of the size the real one reports, made through the hub's services.

- 56 share-centers in rural counties of seven provinces (fixed classrooms and mobile kits), each
  with its enrolment recorded (about 11,000 children reached);
- 120 teachers of Shenzhen public schools, 320 courses (two or three per teacher), each a weekly
  series of eight classes inside the current term (holidays skipped), made by
  ``series.create_series`` as an administrator would;
- the classes already held went live at their start and ended at their end through
  ``live.go_live`` / ``live.end_stream`` (the events a push or 开始上课/下课 sends);
- bookings by two to six centers per class (never more at once than a center has rooms),
  dated one to fourteen days before the class, and check-ins with head counts at the
  class's start (written in bulk, see ``plan_bookings``);
- a term of viewing: generated beacons (two per view, sampled around the busiest minute of the
  class for live views, on later days for replays; some viewers leave before a view counts)
  fed through the same rules and tallies as the beacon endpoint (``views.History``), about
  500,000 counted views at ``scale=1``;
- a few held classes get a real recording: a ``record-test-class`` job per class (run by the
  media worker, see ``media/sample_classes.py``) makes a short test picture with the course's
  title and a tone and hands it to the recorder, finalize and transcode jobs a pushed stream
  goes through. The other held classes have no recording and offer no replay.

Everything is written in one transaction: a run cut short leaves nothing. Running it twice
changes nothing: the second run sees the demo marker and stops.
"""

from __future__ import annotations

import logging
import random
import time as clock
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hub import accounts, db, enrolment, jobs, live, schedule, series
from hub.accounts import Principal
from hub.settings import Settings
from hub.tables import (
    Booking,
    Course,
    Job,
    JobState,
    LiveSession,
    Role,
    SessionStatus,
    ShareCenter,
    Teacher,
    Term,
    TermBreak,
    User,
    Visibility,
)
from hub.views import History, SessionInfo, ViewCounter

log = logging.getLogger("sharehub.demo")

MARKER_USER = "demo-admin"
DEMO_PASSWORD = "sharehub-demo"
RECORD_TEST_CLASS = "record-test-class"
"""Job kind (given by the media worker): record a short synthetic class for a held session."""
PUSH_TEST_STREAM = "push-test-stream"
"""Job kind (given by the media worker): push a test stream to a class that is on now."""
RECORDED_CLASSES = 4
TARGET_VIEWS = 500_000
"""Counted online views over the term at ``scale=1`` (the programme reports about 500,000)."""

# province -> city -> counties; two share-centers per county: 28 counties, 56 centers
REGIONS: dict[str, list[tuple[str, list[str]]]] = {
    "云南省": [("昭通市", ["镇雄县", "彝良县", "威信县"]), ("怒江傈僳族自治州", ["福贡县"])],
    "贵州省": [("毕节市", ["赫章县", "纳雍县", "织金县"]), ("黔东南苗族侗族自治州", ["从江县"])],
    "甘肃省": [("定西市", ["岷县", "漳县", "通渭县"]), ("临夏回族自治州", ["东乡族自治县"])],
    "四川省": [("凉山彝族自治州", ["昭觉县", "布拖县", "美姑县"]), ("甘孜藏族自治州", ["石渠县"])],
    "广西壮族自治区": [
        ("河池市", ["都安瑶族自治县", "大化瑶族自治县"]),
        ("百色市", ["乐业县", "那坡县"]),
    ],
    "广东省": [("河源市", ["紫金县", "龙川县"]), ("梅州市", ["五华县", "丰顺县"])],
    "新疆维吾尔自治区": [("喀什地区", ["疏附县", "伽师县"]), ("和田地区", ["墨玉县", "皮山县"])],
}
TOWNS = ["城关镇", "中心学校", "民族小学", "希望小学", "九年一贯制学校", "乡中心校", "镇第二小学"]
SUBJECTS: dict[str, list[str]] = {
    "语文": ["古诗词里的四季", "绘本共读", "看图写话", "成语故事会", "课本剧表演", "小古文启蒙"],
    "数学": ["趣味数独", "生活中的分数", "图形的奥秘", "数学思维训练", "统计与可能性"],
    "英语": ["自然拼读", "英文绘本阅读", "英语口语角", "英文歌曲学唱"],
    "科学": ["身边的科学实验", "天文观测入门", "植物的一生", "水的旅行"],
    "美术": ["水彩入门", "剪纸艺术", "儿童创意画", "陶艺与泥塑"],
    "音乐": ["合唱入门", "民族乐器欣赏", "节奏与律动"],
    "体育": ["室内体能游戏", "跳绳进阶", "健康与运动"],
    "编程": ["图形化编程", "人工智能启蒙", "机器人搭建"],
    "阅读": ["整本书阅读", "名著导读", "故事写作"],
    "心理健康": ["认识我的情绪", "学会交朋友", "成长的烦恼"],
}
SCHOOLS = [
    "深圳实验学校",
    "深圳中学",
    "深圳市红岭中学",
    "深圳市福田区荔园小学",
    "深圳市福田区百花小学",
    "深圳市福田区福田小学",
    "深圳市罗湖区螺岭外国语实验学校",
    "深圳市罗湖区翠竹外国语实验学校",
    "深圳市南山区育才第一小学",
    "深圳市南山区后海小学",
    "深圳市南山区南山实验教育集团麒麟小学",
    "深圳市宝安区新安中学",
    "深圳市宝安区宝城小学",
    "深圳市龙岗区龙城小学",
    "深圳市龙华区行知小学",
    "深圳市盐田区田东小学",
    "深圳市光明区光明小学",
    "深圳市坪山区坪山中心小学",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余"
GIVEN = "芳敏静丽强磊军洋勇艳杰娟涛明超秀英华慧巧美娜晓雪琳婷宇欣然浩瑞嘉思雨晨"
SQLITE_CACHE_KIB = 384 * 1024
"""The page cache of the demo's transaction on SQLite (the connection closes after it)."""
COURSES = 320
CLASSES_PER_COURSE = 4


@dataclass
class DemoSummary:
    centers: int
    teachers: int
    courses: int
    sessions: int
    held: int
    bookings: int
    check_ins: int
    views: int
    recordings_queued: int
    created: bool


def current_term(today: date) -> tuple[str, date, date, list[tuple[str, date, date]]]:
    """The school term around ``today``: autumn (Sep–Jan) or spring (Feb/Mar–Jul)."""
    if today.month >= 8 or today.month == 1:
        year = today.year if today.month >= 8 else today.year - 1
        return (
            f"{year}年秋季学期",
            date(year, 9, 1),
            date(year + 1, 1, 16),
            [("期中考试周", date(year, 11, 9), date(year, 11, 13))],
        )
    return (
        f"{today.year}年春季学期",
        date(today.year, 3, 1),
        date(today.year, 7, 10),
        [("期中考试周", date(today.year, 4, 27), date(today.year, 4, 30))],
    )


async def run_demo(
    settings: Settings,
    admin_password: str | None = None,
    *,
    provider: str,
    scale: float = 1.0,
    record: bool = True,
    recorded: int = RECORDED_CLASSES,
    now: datetime | None = None,
) -> DemoSummary:
    """The demo programme (once: a second run changes nothing); its classes stream through
    ``provider``. ``scale`` multiplies the term's views (1 = the programme's 500,000);
    ``record`` queues ``recorded`` recorded classes (for a worker with ffmpeg)."""
    if await User.exists().where(User.username == MARKER_USER).run():
        return await summary(created=False)
    async with db.write_transaction():  # all or nothing: a run cut short leaves no half demo
        if db.is_sqlite():
            # a million beacon ids go into one transaction: a page cache that holds the
            # indexes keeps SQLite from spilling and re-reading pages (minutes on a busy disk)
            connection = db.engine().current_transaction.get().connection  # type: ignore[union-attr]
            await connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        await fill(
            settings,
            admin_password,
            provider,
            scale,
            recorded if record else 0,
            now or datetime.now(UTC),
        )
    return await summary(created=True)


def regions() -> list[tuple[str, str, str]]:
    return [
        (province, city, county)
        for province, cities in REGIONS.items()
        for city, counties in cities
        for county in counties
    ]


def center_rows(rng: random.Random) -> list[dict[str, Any]]:
    centers: list[dict[str, Any]] = []
    for province, city, county in regions():
        for k, town in enumerate(rng.sample(TOWNS, 2)):
            mobile = k == 1 and rng.random() < 0.3
            centers.append(
                {
                    "name": f"{county}{town}{'流动' if mobile else ''}共享课堂",
                    "province": province,
                    "city": city,
                    "county": county,
                    "kind": "mobile" if mobile else "fixed",
                    "rooms": 1 if mobile else rng.choice([1, 1, 2, 2, 3]),
                    "timezone": "Asia/Urumqi" if province.startswith("新疆") else "Asia/Shanghai",
                    "bandwidth": rng.choice(["low", "low", "medium", "high"]),
                    "contact_name": rng.choice(SURNAMES) + "老师",
                    "contact_phone": f"13{rng.randint(100000000, 999999999)}",
                }
            )
    return centers


async def fill(
    settings: Settings,
    admin_password: str | None,
    provider: str,
    scale: float,
    recorded: int,
    now: datetime,
) -> None:
    """The demo programme, marker user first (run inside one transaction)."""
    rng = random.Random(20261123)
    admin_id = await accounts.create_user(
        MARKER_USER, admin_password or DEMO_PASSWORD, Role.admin, "演示管理员"
    )
    admin = Principal(admin_id, MARKER_USER, Role.admin)
    mark = Stopwatch()

    centers = center_rows(rng)
    rows = await ShareCenter.insert(*[ShareCenter(**c) for c in centers]).run()
    for c, r in zip(centers, rows, strict=True):
        c["id"] = r["id"]
    name, starts_on, ends_on, breaks = current_term(now.date())
    for c in centers:
        await enrolment.record(c["id"], rng.randint(150, 260), starts_on, admin_id)

    subjects = list(SUBJECTS)
    teacher_rows = await Teacher.insert(
        *[
            Teacher(
                name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                school=SCHOOLS[i % len(SCHOOLS)],
                subjects=[subjects[i % len(subjects)]],
                grades=list(range(1 + (i % 3) * 3, 4 + (i % 3) * 3)),
                bio="深圳市公办学校教师，志愿为乡村学校上直播课。",
            )
            for i in range(120)
        ]
    ).run()
    teacher_ids = [r["id"] for r in teacher_rows]
    courses = []
    for c in range(COURSES):
        t = c % len(teacher_ids)
        subject = subjects[t % len(subjects)]
        themes = SUBJECTS[subject]
        grade_min = 1 + (t % 3) * 3
        courses.append(
            Course(
                title=f"{themes[(c // len(teacher_ids) + t) % len(themes)]}"
                f"（{grade_min}-{grade_min + 2}年级）",
                subject=subject,
                grade_min=grade_min,
                grade_max=grade_min + 2,
                description=f"深圳名师为乡村学校开设的{subject}直播课，每周一次，共"
                f"{CLASSES_PER_COURSE}讲。",
                teacher=teacher_ids[t],
                visibility=Visibility.centers if c % 9 == 8 else Visibility.public,
            )
        )
    course_ids = [r["id"] for r in await Course.insert(*courses).run()]

    term_id = (await Term.insert(Term(name=name, starts_on=starts_on, ends_on=ends_on)).run())[0][
        "id"
    ]
    await TermBreak.insert(
        *[TermBreak(term=term_id, name=b, starts_on=s, ends_on=e) for b, s, e in breaks]
    ).run()

    # each course: eight weekly classes from its start week; a teacher's two or three courses
    # share the weekday at different hours
    weekdays = ["MO", "TU", "WE", "TH", "FR"]
    slots = [time(9, 0), time(10, 0), time(14, 0), time(15, 0), time(16, 0), time(19, 0)]
    first_monday = starts_on + timedelta(days=(7 - starts_on.weekday()) % 7)
    for c, course_id in enumerate(course_ids):
        day_index = c % 5
        slot = slots[(c // 5 + c // len(teacher_ids)) % len(slots)]
        first = datetime.combine(first_monday + timedelta(weeks=c % 15, days=day_index), slot)
        await series.create_series(
            admin,
            course_id=course_id,
            first_start_local=first,
            duration_minutes=45,
            timezone="Asia/Shanghai",
            rrule=f"FREQ=WEEKLY;COUNT={CLASSES_PER_COURSE};BYDAY={weekdays[day_index]}",
            term_id=term_id,
            skip_holidays=True,
            provider=provider,
        )

    mark("registry: centers, teachers, courses and their series")
    sessions = (
        await LiveSession.select(
            LiveSession.id,
            LiveSession.starts_at,
            LiveSession.ends_at,
            LiveSession.course,
            LiveSession.course.visibility.as_alias("visibility"),
            LiveSession.course.title.as_alias("title"),
        )
        .order_by(LiveSession.starts_at)
        .run()
    )
    held = [s for s in sessions if s["ends_at"] < now]
    for s in held:  # the class was given: live at its start, ended at its end
        await live.go_live(s["id"], s["starts_at"])
        await live.end_stream(s["id"], s["ends_at"])

    mark(f"{len(held)} held classes live and ended")
    bookings = plan_bookings(sessions, centers, rng, now)
    for chunk in range(0, len(bookings), 500):
        await Booking.insert(*[Booking(**b) for b in bookings[chunk : chunk + 500]]).run()
    checked: dict[int, list[int]] = defaultdict(list)
    for b in bookings:
        if b.get("checked_in_at") is not None:
            checked[b["session"]].append(b["center"])

    mark(f"{len(bookings)} bookings and their check-ins")
    await view_history(settings, held, checked, rng, scale, now)
    mark("the term's views")

    shared = accounts.hash_password(DEMO_PASSWORD)  # one hash for the twenty demo accounts
    for i, tid in enumerate(teacher_ids[:10]):
        uid = await accounts.create_user(
            f"teacher{i + 1}", DEMO_PASSWORD, Role.teacher, password_hash=shared
        )
        await Teacher.update({Teacher.user: uid}).where(Teacher.id == tid).run()
    for i, c in enumerate(centers[:10]):
        await accounts.create_user(
            f"center{i + 1}", DEMO_PASSWORD, Role.center, center_id=c["id"], password_hash=shared
        )
    if recorded:
        for s in recorded_classes(held, recorded):
            await jobs.enqueue(
                RECORD_TEST_CLASS,
                {"session_id": s["id"], "title": s["title"]},
                dedupe_key=f"{RECORD_TEST_CLASS}:{s['id']}",
            )


class Stopwatch:
    """Logs how long each step of the demo took."""

    def __init__(self) -> None:
        self.at = clock.monotonic()

    def __call__(self, step: str) -> None:
        now = clock.monotonic()
        log.info("demo: %s in %.1fs", step, now - self.at)
        self.at = now


def recorded_classes(held: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The latest held classes of different public courses."""
    chosen: dict[int, dict[str, Any]] = {}
    for s in reversed(held):
        if s["visibility"] == Visibility.public and s["course"] not in chosen:
            chosen[s["course"]] = s
        if len(chosen) == count:
            break
    return list(chosen.values())


def plan_bookings(
    sessions: list[dict[str, Any]], centers: list[dict[str, Any]], rng: random.Random, now: datetime
) -> list[dict[str, Any]]:
    """Each session booked by a few centers, never more at once than a center has rooms (the
    rule ``schedule.book`` applies); the booking is dated one to fourteen days before the
    class (and never after now); most bookings of held classes have a check-in and out.

    Written in bulk with their times: ``schedule.book`` and ``check_in`` stamp the present,
    and one call per booking would take most of the demo's two minutes."""
    busy: dict[int, list[tuple[datetime, datetime]]] = {c["id"]: [] for c in centers}
    out: list[dict[str, Any]] = []
    for s in sessions:
        for c in rng.sample(centers, k=rng.randint(2, 6)):
            overlapping = [1 for a, b in busy[c["id"]] if a < s["ends_at"] and b > s["starts_at"]]
            if len(overlapping) >= c["rooms"]:
                continue
            busy[c["id"]].append((s["starts_at"], s["ends_at"]))
            booked = s["starts_at"] - timedelta(
                days=rng.randint(1, 14), minutes=rng.randint(0, 600)
            )
            row: dict[str, Any] = {
                "session": s["id"],
                "center": c["id"],
                "created_at": min(booked, now),
            }
            if s["ends_at"] < now and rng.random() < 0.85:
                # the operator checked in at the start (within the hour schedule.check_in
                # allows before it) with the children in the room, and out at the end
                row["checked_in_at"] = s["starts_at"] - timedelta(minutes=rng.randint(0, 10))
                row["checked_out_at"] = s["ends_at"] + timedelta(minutes=rng.randint(0, 5))
                row["children_present"] = rng.randint(12, 48)
            out.append(row)
    return out


async def view_history(
    settings: Settings,
    held: list[dict[str, Any]],
    checked: dict[int, list[int]],
    rng: random.Random,
    scale: float,
    now: datetime,
) -> None:
    """The term's viewing, through ``views.History`` (the beacon endpoint's rules and tallies).

    Live: every viewer's two beacons fall in the minute before the class's busiest moment (20
    minutes in), when the live flush of that time writes them, so the peak concurrency is
    the live audience; the checked-in centers' screens watch as signed-in center viewers; one
    viewer in twelve leaves after one beacon (no view). Replays: on later days, up to now. A
    centers-only course is watched by the centers' screens only.
    """
    history = History(ViewCounter(settings))
    if not held:
        return
    per_class = TARGET_VIEWS * scale / len(held)
    by_start: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for s in held:
        by_start[s["starts_at"]].append(s)
    replays: list[tuple[float, dict[str, Any], int]] = []
    for starts_at, group in sorted(by_start.items()):
        peak = (starts_at + timedelta(minutes=20)).timestamp()
        screens: set[int] = set()
        """A center's screen shows one class at a time (one viewer per center)."""
        for s in group:
            info = SessionInfo(
                SessionStatus.ended, s["starts_at"], s["ends_at"], s["visibility"] == "public"
            )
            sid = s["id"]
            for cid in set(checked.get(sid, [])) - screens:
                screens.add(cid)
                two_beacons(history, rng, sid, info, f"c{cid}", peak, "live", center_id=cid)
            if not info.public:
                continue
            views = max(1, round(per_class * rng.uniform(0.4, 1.6)))
            live_views = round(views * rng.uniform(0.5, 0.7))
            for n in range(live_views):
                two_beacons(history, rng, sid, info, f"l{n}", peak, "live")
            for n in range(live_views // 12):
                at = peak - rng.uniform(60, 1200)
                history.add(
                    sid, info, beacon_id=f"demo-{sid}-b{n}", viewer_id=f"demo-{sid}-b{n}",
                    kind="live", seconds=rng.uniform(2, 8), at=at,
                )  # fmt: skip
            replays.append((peak, s, views - live_views))
        await history.flush(peak)
    # replays, on the days after each class
    pending: list[tuple[float, int, SessionInfo, str]] = []
    for _peak, s, count in replays:
        info = SessionInfo(SessionStatus.ended, s["starts_at"], s["ends_at"], True)
        first = s["ends_at"].timestamp() + 3600
        last = now.timestamp() - 120
        if last <= first:
            continue
        for n in range(count):
            # most replays within the first week
            at = min(first + rng.expovariate(1 / (3 * 86400)), last - rng.uniform(0, 3600))
            pending.append((max(at, first), s["id"], info, f"r{n}"))
    pending.sort(key=lambda p: p[0])
    for at, sid, info, viewer in pending:
        two_beacons(history, rng, sid, info, viewer, at, "replay")
        if len(history.pending) >= 50_000:
            await history.flush(at)
    await history.flush(now.timestamp())


def two_beacons(
    history: History,
    rng: random.Random,
    sid: int,
    info: SessionInfo,
    viewer: str,
    until: float,
    kind: str,
    center_id: int | None = None,
) -> None:
    """A viewer's two beacons ending just before ``until``: a view (over the threshold)."""
    second = until - rng.uniform(0, 25)
    first = second - rng.uniform(20, 55)
    common: dict[str, Any] = {"viewer_id": f"demo-{sid}-{viewer}", "kind": kind}
    if center_id is not None:
        common.update(center_id=center_id, signed_in=True)
    history.add(
        sid, info, beacon_id=f"demo-{sid}-{viewer}-1", seconds=rng.uniform(10, 30), at=first,
        **common,
    )  # fmt: skip
    history.add(
        sid, info, beacon_id=f"demo-{sid}-{viewer}-2", seconds=min(60.0, second - first),
        at=second, **common,
    )  # fmt: skip


async def start_live_class(provider: str, now: datetime | None = None) -> int | None:
    """A class on now (begun a minute ago) for the demo's test push, and its push job; the
    push jobs of earlier runs are cancelled first. None when no course is free now."""
    await stop_live_pushes()
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    admin = await User.select(User.id).where(User.username == MARKER_USER).first().run()
    if admin is None:
        return None
    principal = Principal(admin["id"], MARKER_USER, Role.admin)
    courses = (
        await Course.select(Course.id)
        .where(Course.visibility == Visibility.public)
        .order_by(Course.id)
        .run()
    )
    for course in courses:
        try:
            session_id = await schedule.create_session(
                principal,
                course["id"],
                now - timedelta(minutes=1),
                now + timedelta(minutes=44),
                provider,
            )
        except Exception:  # the teacher teaches then: try the next course
            continue
        await jobs.enqueue(PUSH_TEST_STREAM, {"session_id": session_id})
        return session_id
    return None


async def stop_live_pushes() -> int:
    """Cancel the test pushes still queued from an earlier run of the demo."""
    rows = (
        await Job.select(Job.id)
        .where((Job.kind == PUSH_TEST_STREAM) & Job.state.is_in([JobState.todo, JobState.doing]))
        .run()
    )
    for row in rows:
        await jobs.cancel(row["id"])
    return len(rows)


async def summary(created: bool) -> DemoSummary:
    from hub.tables import ViewTally

    held = await LiveSession.count().where(
        LiveSession.status.is_in([SessionStatus.ended, SessionStatus.archived])
    )
    views = await ViewTally.select(ViewTally.views.as_alias("v")).run()
    return DemoSummary(
        centers=await ShareCenter.count().run(),
        teachers=await Teacher.count().run(),
        courses=await Course.count().run(),
        sessions=await LiveSession.count().run(),
        held=held,
        bookings=await Booking.count().run(),
        check_ins=await Booking.count().where(Booking.checked_in_at.is_not_null()).run(),
        views=sum(int(r["v"] or 0) for r in views),
        recordings_queued=await Job.count().where(Job.kind == RECORD_TEST_CLASS).run(),
        created=created,
    )


__all__ = ["DemoSummary", "db", "run_demo", "start_live_class", "stop_live_pushes"]
