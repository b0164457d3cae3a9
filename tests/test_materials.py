"""Course materials: a teacher attaches files, centers and viewers see and download them.

In the order a user acts: the teacher asks to attach a file, sends its bytes (through the hub
on local storage, with the presigned POST straight to the bucket on S3: a real moto server
over HTTP), finishes; centers and viewers list and download. Refusals: a name with a folder,
a file over the limit, a program behind a ``.pdf`` name; a centers-only course's materials
are not readable anonymously.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from hub.job_runner import Runner
from hub.materials import MATERIAL_PREVIEW
from hub.storage import storage_for
from tests import material_files
from tests.conftest import World, hub_client
from tests.netutil import moto_server

MiB = 1024 * 1024


async def attach(
    world: World,
    data: bytes,
    filename: str,
    *,
    who: str = "teacher",
    course: str = "course",
    session_id: int | None = None,
    title: str = "第一课讲义",
    use: str = "print",
    size: int | None = None,
) -> httpx.Response:
    """The teacher's three steps on local storage: ask, send the bytes, finish."""
    body: dict[str, Any] = {
        "filename": filename,
        "size": len(data) if size is None else size,
        "title": title,
        "use": use,
    }
    if session_id is not None:
        body["session_id"] = session_id
    r = await world.post(f"/api/v1/courses/{world.ids[course]}/materials", body, who)
    if r.status_code != 201:
        return r  # type: ignore[no-any-return]
    upload = r.json()["upload"]
    assert upload["method"] == "PUT", upload
    put = await world.client.put(
        upload["url"],
        content=data,
        headers={**world.auth(who), "Content-Type": "application/octet-stream"},
    )
    if put.status_code != 204:
        return put
    material_id = r.json()["material"]["id"]
    return await world.post(f"/api/v1/materials/{material_id}/complete", None, who)  # type: ignore[no-any-return]


async def a_class(world: World, course: str = "course", days_ago: int = 1) -> int:
    """A class of the course (entered by an administrator: it began in the past)."""
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids[course],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=45)).isoformat(),
        },
        who="admin",
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_teacher_attaches_a_pdf_and_everyone_downloads_it(world: World) -> None:
    pdf = material_files.pdf()
    r = await attach(world, pdf, "第一课.pdf")
    assert r.status_code == 200, r.text
    material = r.json()
    assert material["state"] == "ready"
    assert material["size"] == len(pdf)
    assert material["content_type"] == "application/pdf"
    assert material["use"] == "print"

    for who in (None, "center", "teacher2"):
        listed = await world.get(f"/api/v1/courses/{world.ids['course']}/materials", who)
        assert [m["id"] for m in listed.json()] == [material["id"]], who
    got = await world.get(material["download_url"])
    assert got.status_code == 200
    assert got.content == pdf
    assert got.headers["content-type"].startswith("application/pdf")
    assert got.headers["x-content-type-options"] == "nosniff"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("inline;")
    assert "filename*=UTF-8''%E7%AC%AC%E4%B8%80%E8%AF%BE.pdf" in disposition

    doc = await attach(world, material_files.docx(), "作业.docx", use="show")
    assert doc.status_code == 200, doc.text
    got = await world.get(doc.json()["download_url"], "center")
    assert got.headers["content-disposition"].startswith("attachment;")


async def test_a_class_shows_its_own_and_the_course_materials(world: World) -> None:
    first, second = await a_class(world, days_ago=2), await a_class(world, days_ago=1)
    course_wide = (await attach(world, material_files.png(), "board.png")).json()
    own = (await attach(world, material_files.pdf(), "quiz.pdf", session_id=second)).json()
    assert own["session_id"] == second
    r = await world.get(f"/api/v1/sessions/{first}/materials")
    assert [m["id"] for m in r.json()] == [course_wide["id"]]
    r = await world.get(f"/api/v1/sessions/{second}/materials")
    assert [m["id"] for m in r.json()] == [course_wide["id"], own["id"]]
    other = await a_class(world, course="course2")
    r = await attach(world, material_files.pdf(), "x.pdf", session_id=other)
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "session_id", r.text


async def test_bad_files_are_refused_naming_the_field(world: World) -> None:
    path = await attach(world, material_files.pdf(), "../../etc/第一课.pdf")
    assert path.status_code == 400, path.text
    assert path.json()["extra"][0]["key"] == "filename"
    windows = await attach(world, material_files.pdf(), "C:\\Users\\x\\a.pdf")
    assert windows.status_code == 400 and windows.json()["extra"][0]["key"] == "filename"
    program = await attach(world, material_files.exe(), "setup.exe")
    assert program.status_code == 400 and program.json()["extra"][0]["key"] == "filename"

    too_big = await attach(world, b"%PDF-1.4", "big.pdf", size=51 * MiB)
    assert too_big.status_code == 400, too_big.text
    assert too_big.json()["extra"][0]["key"] == "size"
    assert "50 MB" in too_big.json()["detail"]

    disguised = await attach(world, material_files.exe(), "讲义.pdf")
    assert disguised.status_code == 400, disguised.text
    assert disguised.json()["extra"][0]["key"] == "file"
    assert "not a .pdf file" in disguised.json()["detail"]

    longer = await attach(world, material_files.pdf(), "long.pdf", size=100)
    assert longer.status_code == 400 and longer.json()["extra"][0]["key"] == "size"

    listed = await world.get(f"/api/v1/courses/{world.ids['course']}/materials", "teacher")
    # the cut-off upload stays pending (the teacher may send it again); nothing was attached
    assert [(m["filename"], m["state"]) for m in listed.json()] == [("long.pdf", "pending")]
    assert (await world.get(f"/api/v1/courses/{world.ids['course']}/materials")).json() == []
    store = storage_for(world.client._transport.app.state.settings)  # type: ignore[attr-defined]
    assert await store.list("materials/") == [], "refused files are not kept"


async def test_only_the_course_teacher_attaches(world: World) -> None:
    r = await attach(world, material_files.pdf(), "a.pdf", who="teacher2")
    assert r.status_code == 403, r.text
    r = await attach(world, material_files.pdf(), "a.pdf", who="center")
    assert r.status_code == 403, r.text
    mine = await world.post(
        f"/api/v1/courses/{world.ids['course']}/materials",
        {"filename": "a.pdf", "size": 10},
        "teacher",
    )
    material_id = mine.json()["material"]["id"]
    r = await world.client.put(
        f"/api/v1/materials/{material_id}/content",
        content=b"%PDF-1.4\n%",
        headers=world.auth("teacher2"),
    )
    assert r.status_code == 403
    assert (await world.delete(f"/api/v1/materials/{material_id}", "teacher2")).status_code == 403
    assert (await world.delete(f"/api/v1/materials/{material_id}", "teacher")).status_code == 204


async def test_a_courses_for_centers_only_materials_are_not_public(world: World) -> None:
    r = await world.patch(
        f"/api/v1/courses/{world.ids['course']}", {"visibility": "centers"}, "teacher"
    )
    assert r.status_code == 200, r.text
    booked, unbooked = await a_class(world, days_ago=2), await a_class(world, days_ago=1)
    r = await world.post(
        f"/api/v1/sessions/{booked}/bookings", {"center_id": world.ids["center"]}, "center"
    )
    assert r.status_code == 201, r.text
    course_wide = (await attach(world, material_files.pdf(), "讲义.pdf")).json()
    for_unbooked = (
        await attach(world, material_files.png(), "only.png", session_id=unbooked)
    ).json()

    course_list = f"/api/v1/courses/{world.ids['course']}/materials"
    assert (await world.get(course_list)).status_code == 404
    assert (await world.get(course_wide["download_url"])).status_code == 404
    assert (await world.get(f"/api/v1/sessions/{booked}/materials")).status_code == 404

    seen = await world.get(course_list, "center")
    assert [m["id"] for m in seen.json()] == [course_wide["id"]]
    assert (await world.get(course_wide["download_url"], "center")).status_code == 200
    assert (await world.get(for_unbooked["download_url"], "center")).status_code == 404
    assert (await world.get(course_list, "center2")).json() == []
    assert (await world.get(course_wide["download_url"], "center2")).status_code == 404
    every = await world.get(course_list, "teacher")
    assert [m["id"] for m in every.json()] == [course_wide["id"], for_unbooked["id"]]


async def test_course_total_has_a_cap(world: World) -> None:
    app = world.client._transport.app  # type: ignore[attr-defined]
    settings = app.state.settings
    if world.cluster is not None:
        pytest.skip("the cap is a setting of the app in this process")
    first = await world.post(
        f"/api/v1/courses/{world.ids['course']}/materials",
        {"filename": "a.pdf", "size": 40 * MiB},
        "teacher",
    )
    assert first.status_code == 201, first.text
    assert settings.course_materials_max_mb == 500
    for _ in range(20):
        r = await world.post(
            f"/api/v1/courses/{world.ids['course']}/materials",
            {"filename": "b.pdf", "size": 40 * MiB},
            "teacher",
        )
        if r.status_code != 201:
            break
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "size", r.text
    assert "500 MB" in r.json()["detail"]


# ------------------------------------------------------------------------------ on S3 (moto)


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture
async def s3_world(world: World, moto: str) -> Any:
    """The same programme, served by an app whose store is the moto S3 server."""
    if world.cluster is not None:
        pytest.skip("the cluster's processes have their own store")
    base = world.client._transport.app.state.settings  # type: ignore[attr-defined]
    settings = dataclasses.replace(
        base,
        s3_endpoint_url=moto,
        s3_bucket="materials-test",
        s3_access_key="testing",
        s3_secret_key="testing",
        material_max_mb=1,
    )
    await storage_for(settings).ensure_bucket()  # type: ignore[attr-defined]
    async with hub_client(settings, None) as client:
        yield World(client=client, tokens=world.tokens, ids=world.ids), storage_for(settings)


async def ask(world: World, filename: str, size: int) -> dict[str, Any]:
    r = await world.post(
        f"/api/v1/courses/{world.ids['course']}/materials",
        {"filename": filename, "size": size, "title": "课件"},
        "teacher",
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def post_to_bucket(upload: dict[str, Any], data: bytes, content_type: str) -> httpx.Response:
    assert upload["method"] == "POST"
    fields = dict(upload["fields"])
    fields["Content-Type"] = content_type
    async with httpx.AsyncClient() as browser:
        return await browser.post(
            upload["url"], data=fields, files={"file": ("x", data, content_type)}
        )


async def test_on_s3_the_browser_posts_straight_to_the_bucket(s3_world: Any) -> None:
    world, store = s3_world
    pdf = material_files.pdf()
    asked = await ask(world, "第二课.pdf", len(pdf))
    assert asked["upload"]["url"].startswith(store.endpoint_url)
    key = asked["upload"]["fields"]["key"]
    assert key.startswith(f"materials/{world.ids['course']}/") and key.endswith(".pdf")
    r = await post_to_bucket(asked["upload"], pdf, "application/pdf")
    assert r.status_code in (200, 201, 204), r.text
    material_id = asked["material"]["id"]
    done = await world.post(f"/api/v1/materials/{material_id}/complete", None, "teacher")
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "ready"

    link = await world.get(f"/api/v1/materials/{material_id}/file")
    assert link.status_code == 302
    async with httpx.AsyncClient() as browser:
        got = await browser.get(link.headers["location"])
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''%E7%AC%AC%E4%BA%8C%E8%AF%BE.pdf" in got.headers["content-disposition"]


async def test_on_s3_the_bucket_and_the_hub_refuse_bad_files(s3_world: Any) -> None:
    world, store = s3_world
    # a type other than the one signed: refused by the bucket's condition (S3) or, where the
    # store does not check POST conditions (moto), by the hub's check of the content
    asked = await ask(world, "a.pdf", 1000)
    r = await post_to_bucket(asked["upload"], material_files.exe(), "application/x-msdownload")
    if r.status_code < 300:
        done = await world.post(
            f"/api/v1/materials/{asked['material']['id']}/complete", None, "teacher"
        )
        assert done.status_code == 400 and done.json()["extra"][0]["key"] == "file", done.text
    else:
        assert 400 <= r.status_code < 500, r.text
    assert await store.list(asked["upload"]["fields"]["key"]) == []
    # longer than announced: refused by the bucket's size condition, or by the hub's check
    pdf = material_files.pdf()
    asked = await ask(world, "b.pdf", 100)
    r = await post_to_bucket(asked["upload"], pdf, "application/pdf")
    if r.status_code < 300:
        done = await world.post(
            f"/api/v1/materials/{asked['material']['id']}/complete", None, "teacher"
        )
        assert done.status_code == 400 and done.json()["extra"][0]["key"] == "file", done.text
        assert "more than the 100 allowed" in done.json()["detail"]
    else:
        assert 400 <= r.status_code < 500, r.text
    assert await store.list(asked["upload"]["fields"]["key"]) == []
    # over the per-file limit (1 MB here): refused before any upload
    r = await world.post(
        f"/api/v1/courses/{world.ids['course']}/materials",
        {"filename": "big.pdf", "size": 2 * MiB},
        "teacher",
    )
    assert r.status_code == 400 and r.json()["extra"][0]["key"] == "size"
    # a program behind a .pdf name, sent with the signed type: the hub's check by content
    asked = await ask(world, "讲义.pdf", 4000)
    r = await post_to_bucket(asked["upload"], material_files.exe(), "application/pdf")
    assert r.status_code in (200, 201, 204), r.text
    done = await world.post(
        f"/api/v1/materials/{asked['material']['id']}/complete", None, "teacher"
    )
    assert done.status_code == 400, done.text
    assert done.json()["extra"][0]["key"] == "file"
    assert await store.list(asked["upload"]["fields"]["key"]) == [], "the refused file is deleted"


async def test_center_and_watch_pages_show_a_booked_class_materials(world: World) -> None:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    r = await world.post(
        "/api/v1/sessions",
        {
            "course_id": world.ids["course"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=45)).isoformat(),
        },
        who="teacher",
    )
    assert r.status_code == 201, r.text
    session_id = r.json()["id"]
    r = await world.post(
        f"/api/v1/sessions/{session_id}/bookings", {"center_id": world.ids["center"]}, "center"
    )
    assert r.status_code == 201, r.text
    home = await world.get("/center", "center")
    assert "第一课讲义" not in home.text
    attached = await attach(world, material_files.pdf(), "讲义.pdf", session_id=session_id)
    material_id = attached.json()["id"]
    home = await world.get("/center", "center")
    assert home.status_code == 200
    assert "第一课讲义" in home.text and "课前打印" in home.text
    assert f"/api/v1/materials/{material_id}/file" in home.text
    watch = await world.get(f"/watch/{session_id}", "center")
    assert "课程资料" in watch.text and f"/api/v1/materials/{material_id}/file" in watch.text


async def test_the_worker_draws_previews_of_pdfs_and_images(world: World) -> None:
    pdf = (await attach(world, material_files.pdf(), "讲义.pdf")).json()
    png = (await attach(world, material_files.png(640, 320), "板书.png")).json()
    doc = (await attach(world, material_files.docx(), "作业.docx")).json()
    assert pdf["preview_url"] is None
    assert (await world.get(f"/api/v1/materials/{pdf['id']}/preview")).status_code == 404
    settings = world.client._transport.app.state.settings  # type: ignore[attr-defined]
    host = world.client._transport.app.state.plugins  # type: ignore[attr-defined]
    await Runner(settings, host, kinds=[MATERIAL_PREVIEW], poll_interval=0.1).run_until_idle(60)

    sizes = {}
    for material in (pdf, png):
        listed = await world.get(f"/api/v1/courses/{world.ids['course']}/materials")
        urls = {m["id"]: m["preview_url"] for m in listed.json()}
        assert urls[material["id"]] == f"/api/v1/materials/{material['id']}/preview"
        r = await world.get(urls[material["id"]])
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(r.content)) as image:
            sizes[material["filename"]] = image.size
    assert sizes["讲义.pdf"] == (371, 480)  # a US Letter page drawn 480 high
    assert sizes["板书.png"] == (480, 240)
    assert (await world.get(f"/api/v1/materials/{doc['id']}/preview")).status_code == 404
    page = await world.get(f"/watch/{await a_class(world)}")
    assert f"/api/v1/materials/{pdf['id']}/preview" in page.text
