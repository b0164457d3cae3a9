"""``sharehub demo``: a programme of realistic size, made through the same services as the API.

58 share-centers in six provinces (fixed and mobile), 120 teachers, a course each, a weekly
series per teacher across the current term (skipping holidays), bookings that respect each
center's rooms, and check-ins with head counts for the classes already held. Running it twice
changes nothing: the second run sees the demo marker and stops.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hub import accounts, db, series
from hub.accounts import Principal
from hub.tables import (
    Booking,
    Course,
    LiveSession,
    Role,
    SessionStatus,
    ShareCenter,
    Teacher,
    Term,
    TermBreak,
    User,
)

MARKER_USER = "demo-admin"
DEMO_PASSWORD = "sharehub-demo"

REGIONS: dict[str, list[tuple[str, list[str]]]] = {
    "云南省": [("昭通市", ["镇雄县", "彝良县", "威信县"]), ("怒江州", ["兰坪县", "福贡县"])],
    "贵州省": [("毕节市", ["威宁县", "赫章县", "纳雍县"]), ("黔东南州", ["从江县", "榕江县"])],
    "甘肃省": [("定西市", ["岷县", "漳县", "通渭县"]), ("临夏州", ["东乡县", "积石山县"])],
    "四川省": [("凉山州", ["昭觉县", "布拖县", "美姑县"]), ("甘孜州", ["石渠县"])],
    "广西壮族自治区": [("河池市", ["都安县", "大化县"]), ("百色市", ["乐业县", "那坡县"])],
    "新疆维吾尔自治区": [("喀什地区", ["疏附县", "伽师县"]), ("和田地区", ["墨玉县"])],
}
SUBJECTS = ["语文", "数学", "英语", "科学", "美术", "音乐", "体育", "编程", "阅读", "心理健康"]
SCHOOLS = [
    "北京市第一实验小学",
    "北京市海淀区中关村第二小学",
    "北京四中",
    "人大附中",
    "北师大实验中学",
    "史家胡同小学",
    "北京小学",
    "清华附小",
    "北大附中",
    "景山学校",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗"
GIVEN = "芳敏静丽强磊军洋勇艳杰娟涛明超秀英华慧巧美娜"


@dataclass
class DemoSummary:
    centers: int
    teachers: int
    sessions: int
    bookings: int
    check_ins: int
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
    admin_password: str | None = None, today: date | None = None, *, provider: str
) -> DemoSummary:
    """The demo programme (once: a second run changes nothing); its classes stream through
    ``provider`` (the hub's default provider)."""
    if await User.exists().where(User.username == MARKER_USER).run():
        return await summary(created=False)
    async with db.write_transaction():  # all or nothing: a run cut short leaves no half demo
        await fill(admin_password, today, provider)
    return await summary(created=True)


async def fill(admin_password: str | None, today: date | None, provider: str) -> None:
    """The demo programme, marker user first (run inside one transaction)."""
    rng = random.Random(20261123)
    today = today or datetime.now(UTC).date()
    admin_id = await accounts.create_user(
        MARKER_USER, admin_password or DEMO_PASSWORD, Role.admin, "演示管理员"
    )
    admin = Principal(admin_id, MARKER_USER, Role.admin)

    centers: list[dict[str, Any]] = []
    n = 0
    for province, cities in REGIONS.items():
        for city, counties in cities:
            for county in counties:
                for k in range(2 if county != counties[-1] else 1):
                    n += 1
                    mobile = n % 5 == 0
                    centers.append(
                        {
                            "name": f"{county}{'流动' if mobile else ''}共享中心{k + 1}号",
                            "province": province,
                            "city": city,
                            "county": county,
                            "kind": "mobile" if mobile else "fixed",
                            "rooms": 1 if mobile else rng.choice([1, 1, 2, 2, 3]),
                            "timezone": "Asia/Urumqi"
                            if province.startswith("新疆")
                            else "Asia/Shanghai",
                            "bandwidth": rng.choice(["low", "low", "medium", "high"]),
                            "contact_name": rng.choice(SURNAMES) + "老师",
                            "contact_phone": f"13{rng.randint(100000000, 999999999)}",
                        }
                    )
    while len(centers) < 58:
        extra = dict(centers[len(centers) % 20])
        extra["name"] = extra["county"] + f"共享中心{len(centers)}号"
        centers.append(extra)
    rows = await ShareCenter.insert(*[ShareCenter(**c) for c in centers]).run()
    center_ids = [r["id"] for r in rows]
    for c, cid in zip(centers, center_ids, strict=True):
        c["id"] = cid

    teacher_rows = await Teacher.insert(
        *[
            Teacher(
                name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                school=SCHOOLS[i % len(SCHOOLS)],
                subjects=[SUBJECTS[i % len(SUBJECTS)]],
                grades=list(range(1 + (i % 3) * 3, 4 + (i % 3) * 3)),
                bio="北京市骨干教师，志愿为乡村学校上直播课。",
            )
            for i in range(120)
        ]
    ).run()
    teacher_ids = [r["id"] for r in teacher_rows]
    course_rows = await Course.insert(
        *[
            Course(
                title=f"{SUBJECTS[i % len(SUBJECTS)]}直播课·第{i // len(SUBJECTS) + 1}单元",
                subject=SUBJECTS[i % len(SUBJECTS)],
                grade_min=1 + (i % 3) * 3,
                grade_max=3 + (i % 3) * 3,
                description="面向乡村学校的同步直播课堂。",
                teacher=tid,
                visibility="public" if i % 7 else "centers",
            )
            for i, tid in enumerate(teacher_ids)
        ]
    ).run()
    course_ids = [r["id"] for r in course_rows]

    name, starts_on, ends_on, breaks = current_term(today)
    term_id = (await Term.insert(Term(name=name, starts_on=starts_on, ends_on=ends_on)).run())[0][
        "id"
    ]
    await TermBreak.insert(
        *[TermBreak(term=term_id, name=b, starts_on=s, ends_on=e) for b, s, e in breaks]
    ).run()

    # every teacher: a weekly class across the term, on one weekday at one of six times
    weekdays = ["MO", "TU", "WE", "TH", "FR"]
    slots = [time(9, 0), time(10, 0), time(14, 0), time(15, 0), time(16, 0), time(19, 0)]
    first_monday = starts_on + timedelta(days=(7 - starts_on.weekday()) % 7)
    for i, course_id in enumerate(course_ids):
        day_index = i % 5
        first = datetime.combine(first_monday + timedelta(days=day_index), slots[(i // 5) % 6])
        weeks_between = 2 if i % 3 else 1
        await series.create_series(
            admin,
            course_id=course_id,
            first_start_local=first,
            duration_minutes=45,
            timezone="Asia/Shanghai",
            rrule=f"FREQ=WEEKLY;INTERVAL={weeks_between};BYDAY={weekdays[day_index]};"
            f"UNTIL={ends_on:%Y%m%d}T235959",
            term_id=term_id,
            skip_holidays=True,
            provider=provider,
        )

    now = datetime.now(UTC)
    await (
        LiveSession.update({LiveSession.status: SessionStatus.ended.value})
        .where(LiveSession.ends_at < now)
        .run()
    )
    sessions = (
        await LiveSession.select(LiveSession.id, LiveSession.starts_at, LiveSession.ends_at)
        .order_by(LiveSession.starts_at)
        .run()
    )
    bookings = plan_bookings(sessions, centers, rng, now)
    for chunk in range(0, len(bookings), 500):
        await Booking.insert(*[Booking(**b) for b in bookings[chunk : chunk + 500]]).run()

    for i, tid in enumerate(teacher_ids[:10]):
        uid = await accounts.create_user(f"teacher{i + 1}", DEMO_PASSWORD, Role.teacher)
        await Teacher.update({Teacher.user: uid}).where(Teacher.id == tid).run()
    for i, cid in enumerate(center_ids[:10]):
        await accounts.create_user(f"center{i + 1}", DEMO_PASSWORD, Role.center, center_id=cid)


def plan_bookings(
    sessions: list[dict[str, Any]], centers: list[dict[str, Any]], rng: random.Random, now: datetime
) -> list[dict[str, Any]]:
    """Each session booked by a few centers, never more at once than a center has rooms."""
    busy: dict[int, list[tuple[datetime, datetime]]] = {c["id"]: [] for c in centers}
    out: list[dict[str, Any]] = []
    for s in sessions:
        for c in rng.sample(centers, k=rng.randint(2, 6)):
            overlapping = [1 for a, b in busy[c["id"]] if a < s["ends_at"] and b > s["starts_at"]]
            if len(overlapping) >= c["rooms"]:
                continue
            busy[c["id"]].append((s["starts_at"], s["ends_at"]))
            # booked one to fourteen days ahead (never later than now), so before any check-in
            booked = s["starts_at"] - timedelta(
                days=rng.randint(1, 14), minutes=rng.randint(0, 600)
            )
            row: dict[str, Any] = {
                "session": s["id"],
                "center": c["id"],
                "created_at": min(booked, now),
            }
            if s["ends_at"] < now and rng.random() < 0.85:
                row["checked_in_at"] = s["starts_at"] - timedelta(minutes=rng.randint(0, 10))
                row["checked_out_at"] = s["ends_at"] + timedelta(minutes=rng.randint(0, 5))
                row["children_present"] = rng.randint(12, 48)
            out.append(row)
    return out


async def summary(created: bool) -> DemoSummary:
    return DemoSummary(
        centers=await ShareCenter.count().run(),
        teachers=await Teacher.count().run(),
        sessions=await LiveSession.count().run(),
        bookings=await Booking.count().run(),
        check_ins=await Booking.count().where(Booking.checked_in_at.is_not_null()).run(),
        created=created,
    )


__all__ = ["DemoSummary", "db", "run_demo"]
