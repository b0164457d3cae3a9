"""``/metrics`` (Prometheus text, who may read it, what it counts) and ``/readyz``."""

from __future__ import annotations

import secrets
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub import metrics
from hub.app import create_app
from hub.settings import Settings
from hub.storage import LocalStorage, StorageUnavailable
from hub.tables import Job, LiveSession
from plugins.self_hosted.provider import NAME as PROVIDER
from tests.conftest import World

pytestmark = pytest.mark.cross_process

OUTSIDE = ("203.0.113.9", 40000)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by name and labels (parsed with prometheus_client)."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(
    scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


async def scrape(world: World) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await world.client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


async def scrape_all(world: World) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every server's samples added up (counters are per process; one server here)."""
    if world.cluster is None:
        return await scrape(world)
    total: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    async with httpx.AsyncClient(headers={"Host": "testserver.local"}, timeout=30) as http:
        for url in world.cluster.urls:
            r = await http.get(url + "/metrics")
            assert r.status_code == 200, r.text
            for key, v in samples(r.text).items():
                total[key] = total.get(key, 0.0) + v
    return total


async def outside_client(settings: Settings) -> httpx.AsyncClient:
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app, client=OUTSIDE)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver.local")


async def test_metrics_readers(world: World, settings: Settings) -> None:
    token = secrets.token_urlsafe(24)
    async with await outside_client(replace(settings, metrics_token=token)) as client:
        anonymous = await client.get("/metrics")
        assert anonymous.status_code == 403
        assert anonymous.json()["extra"][0]["key"] == "authorization"
        for who in ("teacher", "center"):
            r = await client.get("/metrics", headers=world.auth(who))
            assert r.status_code == 403, who
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 403
        assert token not in wrong.text
        admin = await client.get("/metrics", headers=world.auth("admin"))
        assert admin.status_code == 200
        by_token = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert by_token.status_code == 200
        assert "sharehub_http_requests_total" in by_token.text
    # without a token configured, an empty bearer never matches
    async with await outside_client(settings) as client:
        r = await client.get("/metrics", headers={"Authorization": "Bearer "})
        assert r.status_code == 403
    # loopback (the world client's address) reads without credentials
    assert (await world.client.get("/metrics")).status_code == 200


async def test_requests_counted_by_route_template(world: World) -> None:
    before = await scrape_all(world)
    route = "/api/v1/centers/{center_id}"
    key = {"method": "GET", "route": route}
    for center in ("center", "center2"):
        r = await world.get(f"/api/v1/centers/{world.ids[center]}", who="admin")
        assert r.status_code == 200
    missing = await world.get("/api/v1/centers/999999", who="admin")
    assert missing.status_code == 404
    after = await scrape_all(world)
    ok = value(after, "sharehub_http_requests_total", **key, status="200") - value(
        before, "sharehub_http_requests_total", **key, status="200"
    )
    not_found = value(after, "sharehub_http_requests_total", **key, status="404") - value(
        before, "sharehub_http_requests_total", **key, status="404"
    )
    assert (ok, not_found) == (2, 1)
    count = "sharehub_http_request_duration_seconds_count"
    assert value(after, count, **key, status="200") - value(before, count, **key, status="200") == 2
    # the raw path (with the id) is never a label: cardinality stays bounded
    raw = f"/api/v1/centers/{world.ids['center']}"
    assert not any(("route", raw) in labels for _, labels in after)


@pytest.mark.in_process("reads and flushes one process's pending beacons")
async def test_beacon_tally_and_flush_lag(world: World) -> None:
    app_views = world.client._transport.app.state["views"]  # type: ignore[attr-defined]
    start = datetime.now(UTC) - timedelta(minutes=5)
    session = (
        await LiveSession.insert(
            LiveSession(
                course=world.ids["course"],
                teacher=world.ids["teacher_id"],
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                status="live",
                provider=PROVIDER,
            )
        ).run()
    )[0]["id"]
    before = await scrape(world)
    sent = 7
    for n in range(sent):
        r = await world.client.post(
            f"/api/v1/sessions/{session}/beacons",
            json={
                "beacon_id": secrets.token_hex(12),
                "viewer_id": f"metrics-viewer-{n}",
                "kind": "live",
                "seconds": 1,
                "at": datetime.now(UTC).isoformat(),
            },
        )
        assert r.status_code == 202, r.text
    held = await scrape(world)
    accepted = "sharehub_beacons_accepted_total"
    assert value(held, accepted) - value(before, accepted) == sent
    assert value(held, "sharehub_beacons_pending") == len(app_views.pending) >= sent
    assert value(held, "sharehub_beacon_flush_lag_seconds") > 0
    result = await app_views.flush()
    assert result.fresh >= sent
    flushed = await scrape(world)
    assert value(flushed, "sharehub_beacons_pending") == 0
    assert value(flushed, "sharehub_beacon_flush_lag_seconds") == 0
    written = "sharehub_beacons_flushed_total"
    assert value(flushed, written) - value(held, written) == result.fresh
    assert value(flushed, "sharehub_beacon_flushes_total", outcome="ok") > value(
        held, "sharehub_beacon_flushes_total", outcome="ok"
    )
    assert value(flushed, "sharehub_beacon_last_flush_timestamp_seconds") >= start.timestamp()


NO_WORKER_KIND = "metrics-test"
"""A job kind no worker takes: rows put into the queue here stay where the test put them, even
on the cluster backend whose workers consume the same queue."""


async def test_job_queue_depth_age_and_recordings(world: World) -> None:
    now = datetime.now(UTC)
    waiting = NO_WORKER_KIND
    rows = [
        Job(kind=waiting, state="todo", payload={}, created_at=now - timedelta(seconds=600)),
        Job(kind=waiting, state="todo", payload={}, created_at=now - timedelta(seconds=30)),
        # held by a worker whose lease has not run out: no other worker takes them
        Job(
            kind="record",
            state="doing",
            payload={},
            lease_owner="elsewhere",
            lease_expires_at=now + timedelta(hours=1),
            created_at=now - timedelta(seconds=90),
        ),
        Job(
            kind="record",
            state="doing",
            payload={},
            lease_owner="elsewhere",
            lease_expires_at=now + timedelta(hours=1),
            created_at=now,
        ),
        Job(kind="record", state="succeeded", payload={}, created_at=now),
        Job(kind="transcode", state="failed", payload={}, created_at=now),
    ]
    await Job.insert(*rows).run()
    after = await scrape(world)
    assert value(after, "sharehub_jobs", kind=waiting, state="todo") == 2
    assert value(after, "sharehub_jobs", kind="record", state="doing") == 2
    assert value(after, "sharehub_jobs", kind="transcode", state="failed") == 1
    assert ("sharehub_jobs", frozenset({("kind", "record"), ("state", "succeeded")})) not in after
    age = value(after, "sharehub_job_oldest_age_seconds", kind=waiting, state="todo")
    assert 600 <= age < 3600
    doing_age = value(after, "sharehub_job_oldest_age_seconds", kind="record", state="doing")
    assert 90 <= doing_age < age
    assert value(after, "sharehub_recordings_in_progress") == 2
    # a job that ends leaves the gauges at the next scrape
    await Job.update({Job.state: "succeeded"}).where(Job.kind == "record").run()
    later = await scrape(world)
    assert value(later, "sharehub_recordings_in_progress") == 0
    assert value(later, "sharehub_jobs", kind="record", state="doing") == 0
    # the cluster's fixture waits for due jobs between tests: these are nobody's
    await Job.delete().where(Job.kind == waiting).run()


def registry_value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_upload_bytes_and_failures_counted(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    ok_before = registry_value("sharehub_uploads_total", backend="local", outcome="ok")
    bytes_before = registry_value("sharehub_upload_bytes_total", backend="local")
    failed_before = registry_value("sharehub_uploads_total", backend="local", outcome="failed")
    data = secrets.token_bytes(3000)
    source = tmp_path / "segment.ts"
    source.write_bytes(secrets.token_bytes(5000))
    assert await storage.put_bytes("a/one.bin", data) == len(data)
    assert await storage.put_file("a/two.ts", source) == 5000
    (tmp_path / "store" / "blocked").write_text("a file where a folder should be")
    with pytest.raises(StorageUnavailable):
        await storage.put_bytes("blocked/three.bin", data)
    assert registry_value("sharehub_uploads_total", backend="local", outcome="ok") - ok_before == 2
    assert registry_value("sharehub_upload_bytes_total", backend="local") - bytes_before == 8000
    assert (
        registry_value("sharehub_uploads_total", backend="local", outcome="failed") - failed_before
        == 1
    )


async def test_worker_metrics_server(tmp_path: Path) -> None:
    """What ``sharehub worker`` serves on SHAREHUB_WORKER_METRICS_PORT: this registry."""
    port = closed_port()
    server = metrics.serve_worker_metrics(port)
    try:
        await LocalStorage(tmp_path / "w").put_bytes("k/x.bin", b"12345")
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.get(f"http://127.0.0.1:{port}/metrics")
        assert r.status_code == 200
        found = samples(r.text)
        assert value(found, "sharehub_upload_bytes_total", backend="local") == registry_value(
            "sharehub_upload_bytes_total", backend="local"
        )
        assert value(found, "sharehub_upload_bytes_total", backend="local") >= 5
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_readyz_checks_storage(world: World, settings: Settings, tmp_path: Path) -> None:
    r = await world.client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}
    # local storage whose folder is a file: not ready, and the answer says why
    blocked = tmp_path / "blocked-data"
    blocked.mkdir()
    (blocked / "storage").write_text("not a folder")
    async with await outside_client(replace(settings, data_dir=blocked)) as client:
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert "storage" in r.json()["storage"]
    # an S3 endpoint nobody listens on: 503 within the probe's timeout, no secret shown
    unreachable = replace(
        settings,
        s3_endpoint_url=f"http://127.0.0.1:{closed_port()}",
        s3_access_key="AKIA-READYZ",
        s3_secret_key="readyz-secret-value",
    )
    async with await outside_client(unreachable) as client:
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["status"] == "unready"
        assert "readyz-secret-value" not in r.text and "AKIA-READYZ" not in r.text
