"""A teacher's volunteer hours from the classes they held, through the events a class day
sends: nginx's RTMP publish callbacks (rehearsal, going live, a drop and a restart, the end)
and 开始上课 / 下课 by API, played at set times by ``hub.live.clock``; then corrections, the
audit log and who may see whose ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub import live
from hub.settings import Settings
from plugins.self_hosted.callbacks import CALLBACK_PATH, callback_secret
from tests.conftest import World

PUBLISH = f"{CALLBACK_PATH}/publish"
DONE = f"{CALLBACK_PATH}/publish-done"
DAY = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Beijing, a Monday
SLOT = timedelta(minutes=45)
GRACE = timedelta(minutes=10)  # SHAREHUB_VOLUNTEER_GRACE_MINUTES' default
PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}

pytestmark = pytest.mark.in_process("plays the class day on the hub's stream clock")


class Clock:
    def __init__(self) -> None:
        self.now = DAY

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()
    monkeypatch.setattr(live, "clock", c)
    yield c


async def past_class(world: World, starts: datetime, course: str = "course") -> tuple[int, str]:
    """An administrator enters a class that took place (teachers schedule only ahead)."""
    body = {
        "course_id": world.ids[course],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + SLOT).isoformat(),
        "provider_settings": {"ingest": "rtmp"},
    }
    r = await world.post("/api/v1/sessions", body, "admin")
    assert r.status_code == 201, r.text
    session_id = int(r.json()["id"])
    shown = await world.get(f"/api/v1/sessions/{session_id}/ingest", "admin")
    assert shown.status_code == 200, shown.text
    return session_id, str((await live.session_row(session_id))["stream_key"])


async def nginx(
    world: World, settings: Settings, path: str, session_id: int, key: str, client: str = "1"
) -> None:
    call = "publish" if path == PUBLISH else "publish_done"
    form = {
        "app": "live",
        "call": call,
        "name": f"sh{session_id}",
        "key": key,
        "addr": "1.2.3.4",
        "clientid": client,
    }
    r = await world.client.post(path, data=form, params={"secret": callback_secret(settings)})
    assert r.status_code == 200, r.text


async def ledger(world: World, who: str = "teacher", teacher: str = "teacher_id") -> Any:
    r = await world.get(
        f"/api/v1/volunteer/teachers/{world.ids[teacher]}/ledger", who, params=PERIOD
    )
    assert r.status_code == 200, r.text
    return r.json()


async def a_class_day(world: World, settings: Settings, clock: Clock) -> dict[int, timedelta]:
    """Five classes of the teacher on one day; what each should count."""
    want: dict[int, timedelta] = {}

    # 1. a rehearsal 30 minutes early (not counted), then live 2 minutes early, ended early
    starts = DAY
    sid, key = await past_class(world, starts)
    clock.now = starts - timedelta(minutes=30)
    await nginx(world, settings, PUBLISH, sid, key)
    clock.now = starts - timedelta(minutes=20)
    await nginx(world, settings, DONE, sid, key)
    assert (await live.session_row(sid))["status"] == "scheduled"
    clock.now = starts - timedelta(minutes=2)
    await nginx(world, settings, PUBLISH, sid, key, client="2")
    r = await world.post(
        f"/api/v1/sessions/{sid}/bookings", {"center_id": world.ids["center"]}, "admin"
    )
    assert r.status_code == 201, r.text
    r = await world.post(f"/api/v1/bookings/{r.json()['id']}/check-in", {"children": 23}, "admin")
    assert r.status_code == 200, r.text
    clock.now = starts + timedelta(minutes=30)  # ended 15 minutes early
    await nginx(world, settings, DONE, sid, key, client="2")
    want[sid] = timedelta(minutes=32)

    # 2. over its slot: counted to the scheduled end plus the grace
    starts = DAY + timedelta(hours=2)
    sid, key = await past_class(world, starts)
    clock.now = starts
    await nginx(world, settings, PUBLISH, sid, key)
    clock.now = starts + SLOT + timedelta(minutes=25)
    await nginx(world, settings, DONE, sid, key)
    want[sid] = SLOT + GRACE

    # 3. the stream drops after 10 minutes and comes back 3 minutes later: one class, once
    starts = DAY + timedelta(hours=4)
    sid, key = await past_class(world, starts)
    clock.now = starts + timedelta(minutes=1)
    await nginx(world, settings, PUBLISH, sid, key)
    clock.now = starts + timedelta(minutes=11)
    await nginx(world, settings, DONE, sid, key)
    assert (await live.session_row(sid))["status"] == "ended"
    clock.now = starts + timedelta(minutes=14)
    await nginx(world, settings, PUBLISH, sid, key, client="3")
    assert (await live.session_row(sid))["status"] == "live"
    clock.now = starts + timedelta(minutes=44)
    await nginx(world, settings, DONE, sid, key, client="3")
    want[sid] = timedelta(minutes=43)

    # 4. 开始上课 pressed 25 minutes early after a rehearsal (counted from the grace), 下课 by API
    starts = DAY + timedelta(hours=6)
    sid, key = await past_class(world, starts)
    clock.now = starts - timedelta(minutes=25)
    await nginx(world, settings, PUBLISH, sid, key)
    r = await world.post(f"/api/v1/sessions/{sid}/start", None, "teacher")
    assert r.status_code == 200 and r.json()["status"] == "live", r.text
    clock.now = starts + timedelta(minutes=40)
    r = await world.post(f"/api/v1/sessions/{sid}/end", None, "teacher")
    assert r.status_code == 200 and r.json()["status"] == "ended", r.text
    want[sid] = timedelta(minutes=40) + GRACE

    # 5. a rehearsal only: the class never went live
    starts = DAY + timedelta(hours=8)
    sid, key = await past_class(world, starts)
    clock.now = starts - timedelta(minutes=40)
    await nginx(world, settings, PUBLISH, sid, key)
    clock.now = starts - timedelta(minutes=35)
    await nginx(world, settings, DONE, sid, key)
    assert (await live.session_row(sid))["live_at"] is None
    return want


async def test_hours_are_the_on_air_time_of_held_classes_within_the_rules(
    world: World, settings: Settings, clock: Clock
) -> None:
    want = await a_class_day(world, settings, clock)
    first = min(want)  # a center checked in with 23 children (a_class_day)

    got = await ledger(world)
    lines = {line["session_id"]: line for line in got["lines"]}
    assert set(lines) == set(want)  # the rehearsal-only class is not there
    for sid, span in want.items():
        assert lines[sid]["seconds"] == span.total_seconds(), (sid, lines[sid])
        assert lines[sid]["kind"] == "class" and lines[sid]["day"] == "2026-11-02"
        assert lines[sid]["course"] == "数学直播课" and lines[sid]["subject"] == "数学"
    assert (lines[first]["centers"], lines[first]["children"]) == (1, 23)
    total = sum(span.total_seconds() for span in want.values())
    assert got["seconds"] == total
    assert got["hours"] == round(total / 3600, 2)
    # the other teacher's ledger has none of it; a period without classes is empty
    assert (await ledger(world, "admin", "teacher2_id"))["seconds"] == 0
    r = await world.get(
        f"/api/v1/volunteer/teachers/{world.ids['teacher_id']}/ledger",
        "teacher",
        params={"from": "2026-10-01", "to": "2026-10-31"},
    )
    assert r.status_code == 200 and r.json()["lines"] == []


async def test_a_teacher_sees_only_their_own_ledger(world: World) -> None:
    own = f"/api/v1/volunteer/teachers/{world.ids['teacher_id']}/ledger"
    assert (await world.get(own, "teacher", params=PERIOD)).status_code == 200
    assert (await world.get(own, "admin", params=PERIOD)).status_code == 200
    for who, code in (("teacher2", 403), ("center", 403), (None, 401)):
        assert (await world.get(own, who, params=PERIOD)).status_code == code, who
    bad = await world.get(own, "teacher", params={"from": "2026-13-01"})
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "from"
    missing = await world.get("/api/v1/volunteer/teachers/987654/ledger", "admin")
    assert missing.status_code == 404


async def test_a_correction_approved_and_one_refused_with_the_audit_log_growing_only(
    world: World, settings: Settings, clock: Clock
) -> None:
    want = await a_class_day(world, settings, clock)
    over, dropped = sorted(want)[1], sorted(want)[2]

    async def log() -> list[dict[str, Any]]:
        r = await world.get(
            "/api/v1/volunteer/audit", "admin", params={"teacher_id": world.ids["teacher_id"]}
        )
        assert r.status_code == 200, r.text
        return list(r.json())

    before = await log()
    # the teacher asks: the class over its slot was really 60 minutes; the dropped one 45
    asks = []
    for sid, hours in ((over, 1.0), (dropped, 0.75)):
        r = await world.post(
            "/api/v1/volunteer/corrections",
            {"session_id": sid, "hours": hours, "reason": "课后答疑也在直播中"},
            "teacher",
        )
        assert r.status_code == 201, r.text
        asks.append(r.json()["id"])
    # another teacher cannot ask about it; a teacher cannot decide
    r = await world.post(
        "/api/v1/volunteer/corrections",
        {"session_id": over, "hours": 3, "reason": "x"},
        "teacher2",
    )
    assert r.status_code == 403, r.text
    r = await world.post(
        f"/api/v1/volunteer/corrections/{asks[0]}/decide",
        {"approve": True, "reason": "ok"},
        "teacher",
    )
    assert r.status_code == 403
    # bad input names the field
    r = await world.post(
        "/api/v1/volunteer/corrections", {"session_id": over, "hours": 30, "reason": "x"}, "teacher"
    )
    assert r.status_code == 400 and "hours" in r.text
    r = await world.post("/api/v1/volunteer/corrections", {"hours": 1, "reason": "x"}, "teacher")
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "session_id"

    pending = await world.get("/api/v1/volunteer/corrections", "admin", params={"state": "pending"})
    assert sorted(c["id"] for c in pending.json()) == sorted(asks)
    r = await world.post(
        f"/api/v1/volunteer/corrections/{asks[0]}/decide",
        {"approve": True, "reason": "答疑录像可查"},
        "admin",
    )
    assert r.status_code == 201 and r.json()["state"] == "approved", r.text
    r = await world.post(
        f"/api/v1/volunteer/corrections/{asks[1]}/decide",
        {"approve": False, "reason": "掉线时间不计"},
        "admin",
    )
    assert r.status_code == 201 and r.json()["state"] == "refused", r.text
    r = await world.post(
        f"/api/v1/volunteer/corrections/{asks[1]}/decide",
        {"approve": True, "reason": "改"},
        "admin",
    )
    assert r.status_code == 409  # decided once

    got = await ledger(world)
    lines = {line["session_id"]: line for line in got["lines"]}
    assert lines[over]["seconds"] == 3600
    assert lines[over]["original_seconds"] == (SLOT + GRACE).total_seconds()
    assert lines[dropped]["seconds"] == want[dropped].total_seconds()
    assert lines[dropped]["original_seconds"] is None
    total = sum(s.total_seconds() for s in want.values()) - (SLOT + GRACE).total_seconds() + 3600
    assert got["seconds"] == total
    refused = next(c for c in got["corrections"] if c["id"] == asks[1])
    assert refused["state"] == "refused" and refused["decision_reason"] == "掉线时间不计"

    after = await log()
    assert after[: len(before)] == before  # nothing before was changed
    added = after[len(before) :]
    assert [a["action"] for a in added] == [
        "correction.request",
        "correction.request",
        "correction.approved",
        "correction.refused",
    ]
    approved = added[2]
    assert approved["actor"] == world.ids["user_admin"]
    assert approved["before"]["state"] == "pending" and approved["after"]["state"] == "approved"
    assert approved["at"]
    assert (await world.get("/api/v1/volunteer/audit", "teacher")).status_code == 403


async def test_the_database_refuses_to_change_the_audit_log(world: World) -> None:
    from hub import db
    from hub.volunteer.tables import VolunteerAudit

    r = await world.patch(
        f"/api/v1/volunteer/teachers/{world.ids['teacher_id']}/profile",
        {"volunteer_number": "BJ2026-000123"},
        "teacher",
    )
    assert r.status_code == 200, r.text
    rows = await VolunteerAudit.select().run()
    assert [row["action"] for row in rows] == ["profile.change"]
    with pytest.raises(Exception, match="append-only"):
        await (
            VolunteerAudit.update({VolunteerAudit.action: "forged"})
            .where(VolunteerAudit.id > 0)
            .run()
        )
    if not db.is_sqlite():  # SQLite keeps DELETE for the tests' emptying of tables
        with pytest.raises(Exception, match="append-only"):
            await VolunteerAudit.delete().where(VolunteerAudit.id > 0).run()
    assert [row["action"] for row in await VolunteerAudit.select().run()] == ["profile.change"]


@pytest.mark.parametrize(
    "number",
    ["110105199003071234", "11010519900307123X", "1101 0519 9003 0712 34", "ID 44030620011231002x"],
)
async def test_a_national_id_number_is_never_stored(world: World, number: str) -> None:
    url = f"/api/v1/volunteer/teachers/{world.ids['teacher_id']}/profile"
    r = await world.patch(url, {"volunteer_number": number}, "teacher")
    assert r.status_code == 400, r.text
    assert r.json()["extra"][0]["key"] == "volunteer_number"
    r = await world.patch(url, {"organisation_contact": f"王老师 {number}"}, "admin")
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "organisation_contact"
    got = await ledger(world)
    assert got["profile"]["volunteer_number"] == ""
    # a volunteer number of the city system is fine; another teacher may not set it
    r = await world.patch(
        url, {"volunteer_number": "3101150012345", "organisation": "某某志愿服务队"}, "teacher"
    )
    assert r.status_code == 200 and r.json()["volunteer_number"] == "3101150012345"
    assert (await world.patch(url, {"organisation": "x"}, "teacher2")).status_code == 403


async def test_the_teachers_record_page_shows_their_hours_in_chinese(
    world: World, settings: Settings, clock: Clock
) -> None:
    want = await a_class_day(world, settings, clock)
    hours = round(sum(s.total_seconds() for s in want.values()) / 3600, 2)
    period = {"from": "2026-11-01", "to": "2026-11-30"}
    r = await world.get("/teacher/volunteer", "teacher", params=period)
    assert r.status_code == 200, r.text
    assert "志愿服务记录" in r.text and "直播授课" in r.text and "数学直播课" in r.text
    assert f"<b>{hours:g}</b>" in r.text.replace(",", "")
    # another teacher sees their own record, whatever teacher_id they ask for
    r = await world.get(
        "/teacher/volunteer",
        "teacher2",
        params={**period, "teacher_id": str(world.ids["teacher_id"])},
    )
    assert r.status_code == 200 and "数学直播课" not in r.text
    # an administrator picks the teacher
    r = await world.get("/teacher/volunteer", "admin")
    assert r.status_code == 200 and "选择教师" in r.text
    r = await world.get(
        "/teacher/volunteer", "admin", params={**period, "teacher_id": world.ids["teacher_id"]}
    )
    assert r.status_code == 200 and "数学直播课" in r.text
    assert (await world.get("/teacher/volunteer", "center")).status_code == 403


async def test_volunteer_hours_join_the_impact_figures_dashboard_and_reports(
    world: World, settings: Settings, clock: Clock
) -> None:
    want = await a_class_day(world, settings, clock)
    hours = round(sum(s.total_seconds() for s in want.values()) / 3600, 2)
    r = await world.get("/api/v1/impact", params=PERIOD)
    assert r.status_code == 200, r.text
    totals = r.json()["totals"]
    assert (totals["volunteer_hours"], totals["volunteers_active"]) == (hours, 1)
    october = (
        await world.get("/api/v1/impact", params={"from": "2026-10-01", "to": "2026-10-31"})
    ).json()
    assert (october["totals"]["volunteer_hours"], october["totals"]["volunteers_active"]) == (0, 0)
    dashboard = await world.get("/admin", "admin")
    assert dashboard.status_code == 200 and 'id="volunteer-hours"' in dashboard.text

    files: dict[str, bytes] = {}
    for reporter in ("iati_activity", "impact_printable", "impact_workbook"):
        r = await world.post("/api/v1/reports", {"reporter": reporter, **PERIOD}, "admin")
        assert r.status_code == 201, r.text
        report_id = r.json()["id"]
        figures = await world.get(f"/api/v1/reports/{report_id}/figures", "admin")
        assert figures.json()["totals"]["volunteer_hours"] == hours, figures.text
        got = await world.get(f"/api/v1/reports/{report_id}/file", "admin")
        assert got.status_code == 200
        files[reporter] = got.content
    from lxml import etree

    document = etree.fromstring(files["iati_activity"])
    actual = {
        r.findtext("title/narrative"): r.find("indicator/period/actual").get("value")
        for r in document.iter("result")
    }
    assert float(actual["志愿服务小时"]) == hours
    assert "志愿服务小时" in files["impact_printable"].decode()
