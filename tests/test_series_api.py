"""Weekly series through the API: RRULEs, terms and breaks, China's holidays and 调休 make-up
days, daylight saving time, clashes, and changing one class or the rest of a series.

Holiday expectations are typed in from the State Council's published schedule, not computed
with the library the hub uses:

    国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04, Xinhua):
    六、中秋节：9月25日（周五）至27日（周日）放假，共3天。
    七、国庆节：10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from hub.tables import LiveSession, Series
from tests.conftest import World

SERIES = "/api/v1/series"

MID_AUTUMN_2026 = {date(2026, 9, 25)}  # Friday; the 26th and 27th are a weekend anyway
NATIONAL_DAY_2026 = {date(2026, 10, d) for d in range(1, 8)}  # Thursday 1st to Wednesday 7th
WORKING_WEEKENDS_2026 = {date(2026, 9, 20), date(2026, 10, 10)}  # Sunday, Saturday: 上班


def body(world: World, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "course_id": world.ids["course"],
        "first_start": "2037-11-30T09:00:00",
        "duration_minutes": 45,
        "rrule": "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6",
        "timezone": "Asia/Shanghai",
    }
    out.update(fields)
    return out


async def create(world: World, who: str = "teacher", **fields: Any) -> dict[str, Any]:
    r = await world.post(SERIES, body(world, **fields), who=who)
    assert r.status_code == 201, r.text
    return r.json()


async def sessions_of(world: World, series: dict[str, Any], tz: str = "Asia/Shanghai") -> list:
    out = []
    for sid in series["session_ids"]:
        r = await world.get(f"/api/v1/sessions/{sid}", params={"tz": tz})
        assert r.status_code == 200, r.text
        assert r.json()["series_id"] == series["id"]
        out.append(r.json())
    return out


def local_days(sessions: list[dict[str, Any]]) -> list[date]:
    return [date.fromisoformat(s["starts_local"][:10]) for s in sessions]


def weekdays(first: date, last: date) -> set[date]:
    return {
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if (first + timedelta(days=n)).weekday() < 5
    }


async def test_weekly_rrule_creates_every_class(world: World) -> None:
    series = await create(world)
    assert series["rrule"] == "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6"
    assert series["first_start"] == "2037-11-30T09:00:00"
    assert len(series["session_ids"]) == 6
    sessions = await sessions_of(world, series)
    assert local_days(sessions) == [
        date(2037, 11, 30),
        date(2037, 12, 2),
        date(2037, 12, 7),
        date(2037, 12, 9),
        date(2037, 12, 14),
        date(2037, 12, 16),
    ]
    assert {s["starts_local"][11:] for s in sessions} == {"09:00:00+08:00"}
    assert {s["ends_local"][11:] for s in sessions} == {"09:45:00+08:00"}
    assert {s["status"] for s in sessions} == {"scheduled"}
    again = (await world.get(f"{SERIES}/{series['id']}")).json()
    assert again["session_ids"] == series["session_ids"]
    listed = await world.get(
        "/api/v1/sessions", params={"course_id": world.ids["course"], "from": "2037-01-01"}
    )
    assert listed.json()["total"] == 6


async def test_a_term_break_is_skipped(world: World) -> None:
    r = await world.post(
        "/api/v1/terms",
        {
            "name": "2037年冬季短学期",
            "starts_on": "2037-11-30",
            "ends_on": "2038-01-15",
            "breaks": [{"name": "期中考试周", "starts_on": "2037-12-07", "ends_on": "2037-12-11"}],
        },
        who="admin",
    )
    assert r.status_code == 201, r.text
    term = r.json()
    assert term["breaks"] == [
        {"name": "期中考试周", "starts_on": "2037-12-07", "ends_on": "2037-12-11"}
    ]
    assert (await world.get(f"/api/v1/terms/{term['id']}")).json() == term

    series = await create(
        world,
        term_id=term["id"],
        first_start="2037-11-23T09:00:00",
        rrule="FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20371218T235959",
    )
    days = local_days(await sessions_of(world, series))
    # the 23rd and 25th are before the term; the 7th and 9th in the break
    assert days == [date(2037, 11, 30), date(2037, 12, 2), date(2037, 12, 14), date(2037, 12, 16)]
    skipped = {s["date"]: s["reason"] for s in series["skipped"]}
    assert set(skipped) == {"2037-11-23", "2037-11-25", "2037-12-07", "2037-12-09"}
    assert "期中考试周" in skipped["2037-12-07"] and "期中考试周" in skipped["2037-12-09"]
    assert series["term_id"] == term["id"]


async def test_a_rule_entirely_inside_a_break_is_refused(world: World) -> None:
    r = await world.post(
        "/api/v1/terms",
        {
            "name": "t",
            "starts_on": "2037-11-30",
            "ends_on": "2038-01-15",
            "breaks": [{"name": "寒假", "starts_on": "2037-12-01", "ends_on": "2037-12-31"}],
        },
        who="admin",
    )
    r = await world.post(
        SERIES,
        body(
            world,
            term_id=r.json()["id"],
            first_start="2037-12-02T09:00:00",
            rrule="FREQ=WEEKLY;BYDAY=WE;COUNT=3",
        ),
        who="teacher",
    )
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "rrule"
    assert await LiveSession.count().run() == 0


AUTUMN = {
    "first_start": "2026-09-14T09:00:00",
    "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20261016T235959",
}


async def test_holidays_are_skipped(world: World) -> None:
    # the 2026 holidays are in the past: an administrator records such a series
    series = await create(world, skip_holidays=True, **AUTUMN, who="admin")
    days = set(local_days(await sessions_of(world, series)))
    school_days = weekdays(date(2026, 9, 14), date(2026, 10, 16))
    assert days == school_days - MID_AUTUMN_2026 - NATIONAL_DAY_2026
    assert not days & WORKING_WEEKENDS_2026  # no make-up classes unless asked for
    assert {s["date"] for s in series["skipped"]} == {
        d.isoformat() for d in (MID_AUTUMN_2026 | NATIONAL_DAY_2026) & school_days
    }
    assert series["makeup"] == []


async def test_holidays_kept_when_not_skipped(world: World) -> None:
    series = await create(world, skip_holidays=False, **AUTUMN, who="admin")
    days = set(local_days(await sessions_of(world, series)))
    assert days == weekdays(date(2026, 9, 14), date(2026, 10, 16))


async def test_makeup_classes_on_the_official_working_weekend_days(world: World) -> None:
    series = await create(world, skip_holidays=True, makeup_days=True, **AUTUMN, who="admin")
    sessions = await sessions_of(world, series)
    days = local_days(sessions)
    school_days = weekdays(date(2026, 9, 14), date(2026, 10, 16))
    expected = school_days - MID_AUTUMN_2026 - NATIONAL_DAY_2026 | WORKING_WEEKENDS_2026
    assert sorted(days) == sorted(expected)
    assert len(days) == len(set(days))
    assert sorted(series["makeup"]) == ["2026-09-20", "2026-10-10"]
    makeup = [
        s for s in sessions if date.fromisoformat(s["starts_local"][:10]) in WORKING_WEEKENDS_2026
    ]
    assert {s["starts_local"][11:] for s in makeup} == {"09:00:00+08:00"}
    assert [s["id"] for s in sorted(sessions, key=lambda s: s["starts_at"])] == [
        s["id"] for s in sessions
    ]  # session_ids come in time order, make-up days included


async def test_makeup_day_does_not_double_a_daily_class(world: World) -> None:
    series = await create(
        world,
        skip_holidays=True,
        makeup_days=True,
        who="admin",  # a series in the past: only an administrator records one
        first_start="2026-09-14T09:00:00",
        rrule="FREQ=DAILY;UNTIL=20261012T235959",
    )
    days = local_days(await sessions_of(world, series))
    assert len(days) == len(set(days)), "two classes of one teacher on the same day and hour"


async def test_a_series_cannot_overlap_itself(world: World) -> None:
    r = await world.post(
        SERIES,
        body(
            world,
            first_start="2027-03-01T09:00:00",
            duration_minutes=90,
            rrule="FREQ=DAILY;BYHOUR=9,10;COUNT=4",
        ),
        who="teacher",
    )
    assert r.status_code in (400, 409), r.text
    assert await LiveSession.count().run() == 0


async def test_wall_clock_time_is_kept_across_dst(world: World) -> None:
    # Europe/Berlin leaves summer time on Sunday 2037-10-25
    berlin = await create(
        world,
        first_start="2037-10-12T09:00:00",
        timezone="Europe/Berlin",
        rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=4",
    )
    sessions = await sessions_of(world, berlin, tz="Europe/Berlin")
    assert [s["starts_at"] for s in sessions] == [
        "2037-10-12T07:00:00Z",
        "2037-10-19T07:00:00Z",
        "2037-10-26T08:00:00Z",
        "2037-11-02T08:00:00Z",
    ]
    assert [s["starts_local"] for s in sessions] == [
        "2037-10-12T09:00:00+02:00",
        "2037-10-19T09:00:00+02:00",
        "2037-10-26T09:00:00+01:00",
        "2037-11-02T09:00:00+01:00",
    ]
    assert berlin["timezone"] == "Europe/Berlin"

    shanghai = await create(
        world,
        first_start="2037-10-12T09:00:00",
        timezone="Asia/Shanghai",
        rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=4",
        course_id=world.ids["course2"],
        who="teacher2",
    )
    sessions = await sessions_of(world, shanghai)
    assert [s["starts_at"] for s in sessions] == [
        "2037-10-13T01:00:00Z",
        "2037-10-20T01:00:00Z",
        "2037-10-27T01:00:00Z",
        "2037-11-03T01:00:00Z",
    ]


async def test_a_clash_with_the_teachers_session_creates_nothing(world: World) -> None:
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": "2037-12-09T09:30:00",
            "ends_at": "2037-12-09T10:30:00",
        },
        who="teacher",
    )
    existing = r.json()["id"]
    r = await world.post(SERIES, body(world), who="teacher")
    assert r.status_code == 409, r.text
    answer = r.json()
    assert str(existing) in answer["detail"]
    assert answer["clashes"][0]["session_id"] == existing
    assert "2037-12-09" in answer["detail"]
    assert await LiveSession.count().run() == 1
    assert await Series.count().run() == 0
    # another teacher may hold a class then
    r = await world.post(SERIES, body(world, course_id=world.ids["course2"]), who="teacher2")
    assert r.status_code == 201, r.text


async def test_one_class_can_be_moved_or_cancelled_alone(world: World) -> None:
    series = await create(world)
    ids = series["session_ids"]
    r = await world.patch(
        f"/api/v1/sessions/{ids[1]}",
        {
            "starts_at": "2037-12-03T15:00:00",
            "ends_at": "2037-12-03T15:45:00",
            "timezone": "Asia/Shanghai",
        },
        who="teacher",
    )
    assert r.status_code == 200, r.text
    assert r.json()["starts_local"] == "2037-12-03T15:00:00+08:00"
    assert r.json()["series_id"] == series["id"]
    r = await world.patch(f"/api/v1/sessions/{ids[2]}", {"status": "cancelled"}, who="teacher")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"

    sessions = {s["id"]: s for s in await sessions_of(world, series)}
    assert sessions[ids[1]]["starts_local"] == "2037-12-03T15:00:00+08:00"
    assert sessions[ids[2]]["status"] == "cancelled"
    for other in (ids[0], *ids[3:]):
        assert sessions[other]["status"] == "scheduled"
        assert sessions[other]["starts_local"][11:] == "09:00:00+08:00"
    # moving onto another class of the same series is a clash
    r = await world.patch(
        f"/api/v1/sessions/{ids[3]}",
        {"starts_at": "2037-11-30T09:15:00", "ends_at": "2037-11-30T10:00:00"},
        who="teacher",
    )
    assert r.status_code == 409 and r.json()["clashes"][0]["session_id"] == ids[0]
    # the cancelled class freed its slot for a one-off session
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": "2037-12-07T09:00:00",
            "ends_at": "2037-12-07T09:45:00",
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text


async def test_cancel_from_a_date_on(world: World) -> None:
    series = await create(world)
    ids = series["session_ids"]  # 11-30, 12-02, 12-07, 12-09, 12-14, 12-16
    await world.patch(f"/api/v1/sessions/{ids[4]}", {"status": "cancelled"}, who="teacher")
    r = await world.post(
        f"{SERIES}/{series['id']}/cancel", {"from_date": "2037-12-07"}, who="teacher"
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"series_id": series["id"], "cancelled": 3}  # 12-07, 12-09, 12-16
    statuses = [s["status"] for s in await sessions_of(world, series)]
    assert statuses == ["scheduled", "scheduled"] + ["cancelled"] * 4
    r = await world.post(
        f"{SERIES}/{series['id']}/cancel", {"from_date": "2037-12-07"}, who="teacher"
    )
    assert r.json()["cancelled"] == 0


async def test_cancel_from_counts_days_in_the_series_zone(world: World) -> None:
    # 00:30 on 1 December in Urumqi (UTC+6) is 18:30 UTC on 30 November: the cut is at local
    # midnight, so that class is cancelled from the 1st on, not left on the day before
    series = await create(
        world,
        timezone="Asia/Urumqi",
        first_start="2037-11-30T00:30:00",
        rrule="FREQ=DAILY;COUNT=3",
    )
    r = await world.post(
        f"{SERIES}/{series['id']}/cancel", {"from_date": "2037-12-01"}, who="teacher"
    )
    assert r.json()["cancelled"] == 2
    sessions = await sessions_of(world, series, tz="Asia/Urumqi")
    assert [s["status"] for s in sessions] == ["scheduled", "cancelled", "cancelled"]


@pytest.mark.parametrize(
    "rrule",
    [
        "FREQ=WEEKLY;BYDAY=MO,WE",
        "FREQ=WEEKLY",
        "FREQ=YEARLY;COUNT=3",
        "FREQ=MONTHLY;COUNT=3",
        "FREQ=HOURLY;COUNT=3",
        "FREQ=WEEKLY;BYDAY=XX;COUNT=3",
        "every monday",
    ],
)
async def test_rrule_without_an_end_or_not_weekly_is_400(world: World, rrule: str) -> None:
    r = await world.post(SERIES, body(world, rrule=rrule), who="teacher")
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "rrule"
    assert await LiveSession.count().run() == 0


async def test_rrule_with_until_in_utc_is_accepted(world: World) -> None:
    series = await create(world, rrule="FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20371216T235959Z")
    assert len(series["session_ids"]) == 6


async def test_first_start_with_an_offset_is_stored_as_local_time(world: World) -> None:
    series = await create(world, first_start="2037-12-07T01:00:00Z", rrule="FREQ=WEEKLY;COUNT=2")
    sessions = await sessions_of(world, series)
    assert sessions[0]["starts_local"] == "2037-12-07T09:00:00+08:00"
    assert series["first_start"] == "2037-12-07T09:00:00"


async def test_series_permissions(world: World) -> None:
    r = await world.post(SERIES, body(world), who="teacher2")  # not their course
    assert r.status_code == 403
    r = await world.post(SERIES, body(world), who="center")
    assert r.status_code == 403
    series = await create(world)
    r = await world.post(
        f"{SERIES}/{series['id']}/cancel", {"from_date": "2037-11-01"}, who="teacher2"
    )
    assert r.status_code == 403
    statuses = {s["status"] for s in await sessions_of(world, series)}
    assert statuses == {"scheduled"}
