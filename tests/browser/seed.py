"""Seed a browser-test hub: ``python -m tests.browser.seed`` with SHAREHUB_DATA_DIR set.

Prints one JSON line with the ids the tests use. Times are relative to now, so the data
always has a class about to start (check-in open), a class on air, and a course to schedule.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from hub import accounts, db
from hub.settings import load_settings
from hub.tables import Booking, Course, LiveSession, Role, ShareCenter, Teacher

PASSWORD = "browser-pass-1"


async def seed(hls_url: str) -> dict[str, int]:
    settings = load_settings()
    engine = db.engine_for(settings.database_url)
    db.bind(engine)
    await db.open_engine(engine)
    await db.migrate()
    ids: dict[str, int] = {}
    ids["center"] = (
        await ShareCenter.insert(
            ShareCenter(
                name="镇雄共享中心",
                province="云南省",
                city="昭通市",
                county="镇雄县",
                bandwidth="low",
            )
        ).run()
    )[0]["id"]
    await accounts.create_user("admin", PASSWORD, Role.admin, "管理员")
    teacher_user = await accounts.create_user("teacher", PASSWORD, Role.teacher, "王老师")
    await accounts.create_user("center", PASSWORD, Role.center, "镇雄", ids["center"])
    ids["teacher"] = (
        await Teacher.insert(Teacher(name="王老师", school="北京小学", user=teacher_user)).run()
    )[0]["id"]
    ids["course"] = (
        await Course.insert(
            Course(
                title="数学直播课", subject="数学", grade_min=3, grade_max=5, teacher=ids["teacher"]
            )
        ).run()
    )[0]["id"]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # a class starting in 30 minutes, booked by the center (check-in is open)
    ids["soon"] = (
        await LiveSession.insert(
            LiveSession(
                course=ids["course"],
                teacher=ids["teacher"],
                starts_at=now + timedelta(minutes=30),
                ends_at=now + timedelta(minutes=75),
                provider="external_link",
                provider_settings={"meeting_url": "https://meeting.example/abc"},
            )
        ).run()
    )[0]["id"]
    ids["booking"] = (
        await Booking.insert(Booking(session=ids["soon"], center=ids["center"])).run()
    )[0]["id"]
    # a class on air now, its HLS made by ffmpeg in the test (external link with playback_url)
    ids["live"] = (
        await LiveSession.insert(
            LiveSession(
                course=ids["course"],
                teacher=ids["teacher"],
                starts_at=now - timedelta(minutes=10),
                ends_at=now + timedelta(minutes=20),
                status="live",
                live_at=now - timedelta(minutes=10),
                provider="external_link",
                provider_settings={"playback_url": hls_url},
            )
        ).run()
    )[0]["id"]
    # a second center booked the class on air: the attendance export names it whatever the
    # hour (the class in 30 minutes may fall on tomorrow, outside the export's default days)
    ids["center2"] = (
        await ShareCenter.insert(
            ShareCenter(name="威宁共享中心", province="贵州省", city="毕节市", county="威宁县")
        ).run()
    )[0]["id"]
    await Booking.insert(Booking(session=ids["live"], center=ids["center2"])).run()
    # a self-hosted class starting now, taught by a second teacher: the test pushes to it
    teacher2_user = await accounts.create_user("teacher2", PASSWORD, Role.teacher, "李老师")
    ids["teacher2"] = (
        await Teacher.insert(Teacher(name="李老师", school="海淀小学", user=teacher2_user)).run()
    )[0]["id"]
    ids["course2"] = (
        await Course.insert(
            Course(title="科学直播课", subject="科学", teacher=ids["teacher2"])
        ).run()
    )[0]["id"]
    ids["selfhosted"] = (
        await LiveSession.insert(
            LiveSession(
                course=ids["course2"],
                teacher=ids["teacher2"],
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(minutes=40),
                provider="self_hosted",
            )
        ).run()
    )[0]["id"]
    # a self-hosted class about to start, taught by a third teacher: the watch-page tests open
    # it before the push, push to it, stop, and watch the replay
    teacher3_user = await accounts.create_user("teacher3", PASSWORD, Role.teacher, "赵老师")
    ids["teacher3"] = (
        await Teacher.insert(Teacher(name="赵老师", school="朝阳小学", user=teacher3_user)).run()
    )[0]["id"]
    ids["course3"] = (
        await Course.insert(
            Course(title="语文直播课", subject="语文", teacher=ids["teacher3"])
        ).run()
    )[0]["id"]
    ids["watch"] = (
        await LiveSession.insert(
            LiveSession(
                course=ids["course3"],
                teacher=ids["teacher3"],
                starts_at=now + timedelta(minutes=3),
                ends_at=now + timedelta(minutes=50),
                provider="self_hosted",
            )
        ).run()
    )[0]["id"]
    await db.close_engine(engine)
    return ids


if __name__ == "__main__":
    import sys

    print(json.dumps(asyncio.run(seed(sys.argv[1]))))
