"""Classroom mode through the API: the rooms' hands, signals, photos and roll-call answers
reach the class's teacher (and only them), the teacher answers, dismisses, calls a room at
random, shows one question to all rooms and mutes a room; a retried send arrives once;
the streams deliver in order and catch up from Last-Event-ID, across serve processes too."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

from hub import classroom
from hub.api.classroom import event_stream
from hub.app import create_app
from hub.classroom_tables import ClassroomEvent
from tests import cluster
from tests.conftest import World, app_settings

BASE = "/api/v1/sessions/{}/classroom"


async def live_class(
    world: World,
    *centers: str,
    checked_in: tuple[str, ...] = (),
    began: timedelta = timedelta(minutes=10),
) -> int:
    """A class that began ten minutes ago (admins may schedule it), booked by ``centers``;
    ``checked_in`` ones have checked in with their children."""
    starts = datetime.now(UTC).replace(microsecond=0) - began
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=45)).isoformat(),
        },
        who="admin",
    )
    assert r.status_code == 201, r.text
    session_id = int(r.json()["id"])
    for center in centers:
        r = await world.post(
            f"/api/v1/sessions/{session_id}/bookings", {"center_id": world.ids[center]}, center
        )
        assert r.status_code == 201, r.text
        if center in checked_in:
            r = await world.post(
                f"/api/v1/bookings/{r.json()['id']}/check-in", {"children": 31}, center
            )
            assert r.status_code == 200, r.text
    return session_id


async def send(world: World, session_id: int, who: str, **body: Any) -> httpx.Response:
    r: httpx.Response = await world.post(BASE.format(session_id) + "/messages", body, who)
    return r


async def events(world: World, session_id: int, who: str, after: int = 0) -> list[dict[str, Any]]:
    r = await world.get(BASE.format(session_id) + f"/events?after={after}", who)
    assert r.status_code == 200, r.text
    return list(r.json())


async def test_a_hand_reaches_the_teacher_once_and_no_other_room(world: World) -> None:
    sid = await live_class(world, "center", "center2")
    r = await send(world, sid, "center", kind="hand", text="第三题不会做", key="hand-0001")
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["state"] == "open" and first["center_name"] == "镇雄共享中心"
    again = await send(world, sid, "center", kind="hand", text="第三题不会做", key="hand-0001")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["id"] == first["id"]
    r = await send(world, sid, "center2", kind="signal", signal="too_fast", key="sig-00001")
    assert r.status_code == 201, r.text

    seen = await events(world, sid, "teacher")
    assert [(e["kind"], e["center_id"]) for e in seen] == [
        ("hand", world.ids["center"]),
        ("signal", world.ids["center2"]),
    ]
    assert [e["kind"] for e in await events(world, sid, "admin")] == ["hand", "signal"]
    # a room sees what it sent itself, never another room's
    assert [e["id"] for e in await events(world, sid, "center")] == [first["id"]]
    assert [e["kind"] for e in await events(world, sid, "center2")] == ["signal"]
    # anonymous viewers and other teachers read nothing
    assert (await world.get(BASE.format(sid) + "/events")).status_code == 401
    assert (await world.get(BASE.format(sid) + "/events", "teacher2")).status_code == 403
    state = (await world.get(BASE.format(sid), "teacher")).json()
    assert [m["id"] for m in state["queue"]] == [first["id"]]
    rooms = {room["center_id"]: room for room in state["rooms"]}
    assert rooms[world.ids["center2"]]["last_signal"]["signal"] == "too_fast"
    assert rooms[world.ids["center"]]["questions"] == 1


async def test_bad_messages_name_the_field(world: World) -> None:
    sid = await live_class(world, "center")
    cases = [
        ({"kind": "signal", "signal": "loud", "key": "bad-00001"}, "signal"),
        ({"kind": "signal", "key": "bad-00002"}, "signal"),
        ({"kind": "hand", "text": "问" * 201, "key": "bad-00003"}, "text"),
        ({"kind": "hand", "text": "问", "key": "short"}, "key"),
        ({"kind": "chat", "text": "hi", "key": "bad-00004"}, "kind"),
        ({"kind": "rollcall_answer", "key": "bad-00005"}, "reply_to"),
    ]
    for body, field in cases:
        r = await send(world, sid, "center", **body)
        assert r.status_code == 400, (body, r.text)
        assert field in json.dumps(r.json()["extra"]), (body, r.text)
    # a teacher is no room, a room that did not book the class may not send
    assert (await send(world, sid, "teacher", kind="hand", key="tch-00001")).status_code == 403
    assert (await send(world, sid, "center2", kind="hand", key="c2-000001")).status_code == 403
    assert (await send(world, 987654, "center", kind="hand", key="x-0000001")).status_code == 404


async def test_the_teacher_answers_dismisses_and_shows_one_to_all(world: World) -> None:
    sid = await live_class(world, "center", "center2")
    q1 = (
        await send(world, sid, "center", kind="hand", text="分数怎么约分?", key="q1-000001")
    ).json()
    q2 = (await send(world, sid, "center2", kind="hand", text="再讲一遍", key="q2-000001")).json()
    url = BASE.format(sid) + f"/messages/{q1['id']}"
    r = await world.post(url + "/answer", {"text": "看黑板"}, "teacher")
    assert r.status_code == 201, r.text
    assert (await world.post(url + "/answer", {}, "teacher")).status_code == 409
    assert (await world.post(url + "/answer", {}, "teacher2")).status_code == 403
    assert (await world.post(url + "/answer", {}, "center")).status_code == 403
    r = await world.post(BASE.format(sid) + f"/messages/{q2['id']}/dismiss", {}, "teacher")
    assert r.status_code == 201, r.text
    assert (await world.get(BASE.format(sid), "teacher")).json()["queue"] == []
    r = await world.post(url + "/show-all", {"answer": "分子分母同除以最大公因数"}, "teacher")
    assert r.status_code == 201, r.text

    room1 = await events(world, sid, "center")
    assert [e["kind"] for e in room1] == ["hand", "answer", "broadcast"]
    assert room1[1]["reply_to"] == q1["id"] and room1[1]["text"] == "看黑板"
    room2 = await events(world, sid, "center2")
    assert [e["kind"] for e in room2] == ["hand", "dismiss", "broadcast"]
    shown = room2[-1]
    assert shown["text"] == "分数怎么约分?" and shown["data"]["answer"].startswith("分子")
    assert shown["center_id"] is None and shown["center_name"] == ""  # the asking room unnamed


async def test_roll_call_picks_a_checked_in_room_and_it_answers(world: World) -> None:
    sid = await live_class(world, "center", "center2", checked_in=("center2",))
    call = await world.post(BASE.format(sid) + "/roll-call", {"key": "roll-0001"}, "teacher")
    assert call.status_code == 201, call.text
    assert call.json()["center_id"] == world.ids["center2"]  # the only room checked in
    prompt = [e for e in await events(world, sid, "center2") if e["kind"] == "rollcall"]
    assert [e["id"] for e in prompt] == [call.json()["id"]]
    assert not [e for e in await events(world, sid, "center") if e["kind"] == "rollcall"]
    r = await send(world, sid, "center", kind="rollcall_answer", reply_to=call.json()["id"],
                   key="ans-00001")  # fmt: skip
    assert r.status_code == 400 and "reply_to" in r.text  # not called: no answer
    r = await send(world, sid, "center2", kind="rollcall_answer", text="到!",
                   reply_to=call.json()["id"], key="ans-00002")  # fmt: skip
    assert r.status_code == 201, r.text
    assert (await events(world, sid, "teacher"))[-1]["kind"] == "rollcall_answer"

    empty = await live_class(world, "center", began=timedelta(hours=3))
    r = await world.post(BASE.format(empty) + "/roll-call", {}, "teacher")
    assert r.status_code == 409 and "checked in" in r.text


async def test_roll_call_is_random_among_checked_in_rooms(world: World) -> None:
    """Twenty calls between two checked-in rooms call both (a miss: odds 1 in 500,000)."""
    sid = await live_class(world, "center", "center2", checked_in=("center", "center2"))
    called = set()
    for _ in range(20):
        r = await world.post(BASE.format(sid) + "/roll-call", {}, "teacher")
        assert r.status_code == 201, r.text
        called.add(r.json()["center_id"])
    assert called == {world.ids["center"], world.ids["center2"]}


async def test_a_muted_room_is_refused_until_unmuted(world: World) -> None:
    sid = await live_class(world, "center")
    mute = BASE.format(sid) + f"/centers/{world.ids['center']}/mute"
    assert (await world.post(mute, {"muted": True}, "teacher")).status_code == 201
    r = await send(world, sid, "center", kind="hand", text="老师", key="muted-001")
    assert r.status_code == 409 and "center_id" in r.text
    assert (await world.get(BASE.format(sid), "center")).json()["muted"] is True
    assert (await world.post(mute, {"muted": False}, "teacher")).status_code == 201
    assert (await send(world, sid, "center", kind="hand", key="muted-002")).status_code == 201
    other = BASE.format(sid) + f"/centers/{world.ids['center2']}/mute"
    assert (await world.post(other, {"muted": True}, "teacher")).status_code == 404


def photo_with_gps(size: tuple[int, int] = (3000, 2000)) -> bytes:
    image = Image.new("RGB", size, (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    exif[0x8825] = {1: "N", 2: (27.0, 50.0, 3.0), 3: "E", 4: (104.0, 52.0, 1.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def test_a_photo_loses_exif_and_gps_and_is_capped(world: World) -> None:
    sid = await live_class(world, "center", "center2")
    raw = photo_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)  # the phone's position
    url = BASE.format(sid) + "/photos"
    r = await world.client.post(
        url,
        params={"key": "photo-0001", "text": "作业"},
        content=raw,
        headers={**world.auth("center"), "Content-Type": "image/jpeg"},
    )
    assert r.status_code == 201, r.text
    sent = r.json()
    assert sent["kind"] == "photo" and sent["state"] == "open"
    got = await world.get(sent["photo_url"], "teacher")
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    clean = Image.open(io.BytesIO(got.content))
    assert max(clean.size) == app_settings(world).classroom_photo_max_side
    assert dict(clean.getexif()) == {} and b"SecretCam" not in got.content
    assert b"Exif" not in got.content
    # only the class's teacher and admins see it
    assert (await world.get(sent["photo_url"], "admin")).status_code == 200
    assert (await world.get(sent["photo_url"], "center2")).status_code == 403
    assert (await world.get(sent["photo_url"], "teacher2")).status_code == 403
    assert (await world.get(sent["photo_url"])).status_code == 401
    # a retried upload arrives once
    again = await world.client.post(
        url, params={"key": "photo-0001"}, content=raw, headers=world.auth("center")
    )
    assert again.status_code == 200 and again.json()["id"] == sent["id"]


async def test_non_images_and_oversized_photos_are_refused(world: World) -> None:
    sid = await live_class(world, "center")
    url = BASE.format(sid) + "/photos"

    async def post(body: bytes, key: str, kind: str = "image/jpeg") -> httpx.Response:
        r: httpx.Response = await world.client.post(
            url, params={"key": key}, content=body,
            headers={**world.auth("center"), "Content-Type": kind},
        )  # fmt: skip
        return r

    script = await post(b"#!/bin/sh\necho hi\n" * 50, "notimg-01")  # named a JPEG, is not one
    assert script.status_code == 400 and script.json()["extra"][0]["key"] == "photo"
    pdf = await post(b"%PDF-1.4\n" + b"0" * 500, "notimg-02", "application/pdf")
    assert pdf.status_code == 400 and pdf.json()["extra"][0]["key"] == "photo"
    limit = app_settings(world).classroom_photo_max_bytes
    big = await post(b"\xff\xd8\xff" + b"\0" * limit, "toobig-01")
    assert big.status_code == 413 and big.json()["extra"][0]["key"] == "photo"
    assert (await post(b"", "empty-001")).status_code == 400
    assert await events(world, sid, "teacher") == []  # nothing refused was kept


async def test_link_health_shows_on_the_teachers_strip(world: World) -> None:
    sid = await live_class(world, "center", checked_in=("center",))
    r = await world.post(
        BASE.format(sid) + "/health",
        {"rendition": "low", "stalls": 3, "latency_ms": 5200, "watching": True,
         "stepped_down": True},
        "center",
    )  # fmt: skip
    assert r.status_code == 201, r.text
    bad = await world.post(
        BASE.format(sid) + "/health",
        {"rendition": "8k", "stalls": 0, "latency_ms": 0, "watching": True},
        "center",
    )
    assert bad.status_code == 400 and "rendition" in bad.text
    rooms = (await world.get(BASE.format(sid), "teacher")).json()["rooms"]
    assert rooms[0]["checked_in"] is True and rooms[0]["children"] == 31
    assert rooms[0]["health"]["rendition"] == "low" and rooms[0]["health"]["stalls"] == 3


def sse_events(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.split("\r\n\r\n" if "\r\n" in text else "\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name in ("id", "event", "data"):
                fields[name] = value
        if "id" in fields:
            out.append({**fields, "data": json.loads(fields["data"])})
    return out


async def test_the_stream_catches_up_from_last_event_id(world: World) -> None:
    sid = await live_class(world, "center")
    ids = [
        (
            await send(world, sid, "center", kind="hand", text=f"问题{n}", key=f"catch-{n:04}")
        ).json()["id"]
        for n in range(3)
    ]
    url = BASE.format(sid) + "/stream?seconds=0"
    r = await world.get(url, "teacher")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert [int(e["id"]) for e in sse_events(r.text)] == ids
    assert [e["event"] for e in sse_events(r.text)] == ["hand"] * 3
    resumed = await world.client.get(
        url, headers={**world.auth("teacher"), "Last-Event-ID": str(ids[0])}
    )
    assert [int(e["id"]) for e in sse_events(resumed.text)] == ids[1:]
    bad = await world.client.get(url, headers={**world.auth("teacher"), "Last-Event-ID": "x"})
    assert bad.status_code == 400 and "last-event-id" in bad.text
    assert (await world.get(url)).status_code == 401
    assert (await world.get(url, "center2")).status_code == 403


@pytest.mark.in_process("reads the stream's generator in the test's own process")
async def test_a_new_message_wakes_the_open_stream(world: World) -> None:
    sid = await live_class(world, "center")
    viewer = classroom.Viewer(sid, teacher=True)
    stream = event_stream(viewer, 0, seconds=30)
    assert (await anext(stream)).comment == "classroom"  # connected, nothing yet
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)  # the stream is now waiting for a wake-up
    sent = (await send(world, sid, "center", kind="hand", text="醒醒", key="wake-0001")).json()
    got = await asyncio.wait_for(waiting, timeout=5)
    assert got.id == sent["id"] and json.loads(got.data)["text"] == "醒醒"
    await stream.aclose()


async def test_messages_survive_a_restart(world: World, tmp_path: Any) -> None:
    """What was sent is read by a freshly started hub on the same database."""
    sid = await live_class(world, "center")
    sent = (await send(world, sid, "center", kind="hand", text="还在吗", key="keep-0001")).json()
    if world.cluster is not None:
        return  # the cluster variant reads through its other processes anyway
    fresh = create_app(app_settings(world), manage_db=False)
    transport = httpx.ASGITransport(app=fresh)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        r = await c.get(BASE.format(sid) + "/events", headers=world.auth("teacher"))
    assert [e["id"] for e in r.json()] == [sent["id"]]


@pytest.mark.cross_process
async def test_a_stream_on_one_process_gets_what_another_took(world: World) -> None:
    """Cluster: the teacher's stream on serve-0 gets a hand sent to serve-1 (LISTEN/NOTIFY)."""
    if world.cluster is None:
        pytest.skip("needs two serve processes (the cluster backend)")
    sid = await live_class(world, "center")
    one, other = (
        httpx.AsyncClient(
            base_url=cluster.PUBLIC_URL, transport=cluster.RoundRobin([port]), timeout=30
        )
        for port in world.cluster.ports[:2]
    )
    got: list[dict[str, Any]] = []
    async with one, other:
        url = BASE.format(sid) + "/stream?seconds=20"
        async with one.stream("GET", url, headers=world.auth("teacher")) as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith(":")  # connected
            started = asyncio.get_running_loop().time()
            r = await other.post(
                BASE.format(sid) + "/messages",
                json={"kind": "hand", "text": "另一台服务器", "key": "xproc-001"},
                headers=world.auth("center"),
            )
            assert r.status_code == 201, r.text
            async for line in lines:
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                    break
            took = asyncio.get_running_loop().time() - started
    assert [g["id"] for g in got] == [r.json()["id"]]
    assert took < 5


async def test_the_pages_carry_the_panel_and_the_class_screen(world: World) -> None:
    sid = await live_class(world, "center")
    r = await world.get(f"/teacher/sessions/{sid}", "teacher")
    assert r.status_code == 200, r.text
    assert 'id="classroom-panel"' in r.text and "随机点名" in r.text
    assert "classroom_panel" in r.text  # its script
    booking = (await world.get(f"/api/v1/sessions/{sid}/bookings", "center")).json()[0]["id"]
    checkin = await world.get(f"/center/bookings/{booking}", "center")
    assert f"/center/bookings/{booking}/class" in checkin.text
    screen = await world.get(f"/center/bookings/{booking}/class", "center")
    assert screen.status_code == 200, screen.text
    for word in ("举手", "听不清", "看不清", "太快了", "明白了", "拍照发给老师"):
        assert word in screen.text
    assert f'data-session="{sid}"' in screen.text
    assert (await world.get(f"/center/bookings/{booking}/class", "center2")).status_code == 403


async def test_the_lesson_record_counts_each_rooms_questions(world: World) -> None:
    sid = await live_class(world, "center", "center2")
    r = await world.post(f"/api/v1/sessions/{sid}/start", None, "teacher")
    assert r.status_code == 200, r.text
    for n in range(2):
        r = await send(world, sid, "center", kind="hand", text=f"问题{n}", key=f"rec-hand-{n}")
        assert r.status_code == 201, r.text
    r = await send(world, sid, "center2", kind="signal", signal="understood", key="rec-sig-01")
    assert r.status_code == 201, r.text  # a signal is no question
    day = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    period = f"from={day - timedelta(days=1)}&to={day + timedelta(days=1)}"
    r = await world.get(f"/api/v1/exports/lessons.csv?{period}", who="admin")
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][-1] == "课堂提问 Questions asked"
    asked = {row[6]: row[-1] for row in rows[1:] if row[0] == str(sid)}
    assert asked == {"镇雄共享中心": "2", "威宁共享中心": "0"}


@pytest.mark.in_process("deletes through the app's own storage")
async def test_retention_deletes_old_classes_messages_and_photos(world: World) -> None:
    old = await live_class(world, "center", began=timedelta(days=400))
    recent = await live_class(world, "center")
    sent = await world.client.post(
        BASE.format(old) + "/photos",
        params={"key": "old-photo-1"},
        content=photo_with_gps((300, 200)),
        headers=world.auth("center"),
    )
    assert sent.status_code == 201, sent.text
    assert (await send(world, recent, "center", kind="hand", key="recent-01")).status_code == 201
    storage = world.client._transport.app.state["storage"]  # type: ignore[attr-defined]
    key = (await ClassroomEvent.select(ClassroomEvent.photo_key).first().run())["photo_key"]
    assert await storage.exists(key)
    assert await classroom.prune(0, storage) == 0  # 0 keeps everything
    assert await classroom.prune(app_settings(world).classroom_retention_days, storage) == 1
    assert not await storage.exists(key)
    assert await events(world, old, "teacher") == []
    assert [e["kind"] for e in await events(world, recent, "teacher")] == ["hand"]


@pytest.mark.in_process("reads the streams' generators in the test's own process")
async def test_one_message_for_all_rooms_reaches_every_open_stream_once(world: World) -> None:
    sid = await live_class(world, "center", "center2")
    q = (await send(world, sid, "center", kind="hand", text="大家都看", key="all-00001")).json()
    viewers = [
        classroom.Viewer(sid, teacher=True),
        classroom.Viewer(sid, teacher=False, center_id=world.ids["center"]),
        classroom.Viewer(sid, teacher=False, center_id=world.ids["center2"]),
    ]
    streams = [event_stream(v, q["id"], seconds=30) for v in viewers]
    for stream in streams:
        assert (await anext(stream)).comment == "classroom"
    waiting = [asyncio.ensure_future(anext(stream)) for stream in streams]
    await asyncio.sleep(0)
    hand2 = await send(world, sid, "center2", kind="hand", text="只给老师", key="all-00002")
    shown = await world.post(
        BASE.format(sid) + f"/messages/{q['id']}/show-all", {"answer": "答案"}, "teacher"
    )
    assert shown.status_code == 201, shown.text
    first = [await asyncio.wait_for(w, timeout=5) for w in waiting]
    # the teacher and center2 see center2's hand first; center (the other room) never does
    assert first[0].id == hand2.json()["id"] and first[2].id == hand2.json()["id"]
    assert first[1].id == shown.json()["id"]
    for stream in (streams[0], streams[2]):
        assert (await asyncio.wait_for(anext(stream), timeout=5)).id == shown.json()["id"]
    for stream in streams:
        await stream.aclose()
