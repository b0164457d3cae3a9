"""Request ids and structured logs: in-process, then real ``sharehub serve`` / ``worker`` runs."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub import logs
from tests.conftest import World
from tests.netutil import free_port, start_server, stop, wait_ready

SHAREHUB = Path(sys.executable).parent / "sharehub"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """JSON lines of the ``sharehub`` loggers while the test runs."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("sharehub")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


@pytest.mark.in_process("reads the log records of the app in this process")
async def test_request_id_taken_echoed_and_logged(world: World, captured: io.StringIO) -> None:
    r = await world.client.get("/healthz", headers={"X-Request-ID": "lb-4f2a.9:77"})
    assert r.headers["x-request-id"] == "lb-4f2a.9:77"
    made = await world.get("/api/v1/centers", who="admin")
    assert made.status_code == 200
    new_id = made.headers["x-request-id"]
    assert len(new_id) == 32 and int(new_id, 16) >= 0
    other = await world.get("/api/v1/centers", who="admin")
    assert other.headers["x-request-id"] != new_id
    # an id that is unsafe to log (spaces, quotes, too long) is replaced, never echoed
    for bad in ('a b"c', "x" * 129):
        r = await world.client.get("/healthz", headers={"X-Request-ID": bad})
        assert r.headers["x-request-id"] != bad and len(r.headers["x-request-id"]) == 32
    # errors carry the id too
    missing = await world.get("/api/v1/centers/999999", who="admin")
    assert missing.status_code == 404 and len(missing.headers["x-request-id"]) == 32

    records = [r for r in lines(captured) if r["logger"] == "sharehub.request"]
    by_id = {r["request_id"]: r for r in records}
    assert by_id["lb-4f2a.9:77"]["path"] == "/healthz"
    assert by_id[new_id]["status"] == 200 and by_id[new_id]["route"] == "/api/v1/centers"
    assert by_id[missing.headers["x-request-id"]]["status"] == 404
    assert all(isinstance(r["duration_ms"], float) for r in records)
    # outside a request there is no id
    logging.getLogger("sharehub.test").info("after the requests")
    assert lines(captured)[-1]["request_id"] is None


def test_json_formatter_keeps_extras_and_errors() -> None:
    record = logging.LogRecord(
        "sharehub.x", logging.ERROR, __file__, 1, "%s failed", ("job 7",), None
    )
    record.job_id = 7
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    token = logs.request_id.set("req-1")
    try:
        logs.RequestIdFilter().filter(record)
    finally:
        logs.request_id.reset(token)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "job 7 failed" and line["level"] == "ERROR"
    assert line["request_id"] == "req-1" and line["job_id"] == 7
    assert "ValueError: boom" in line["error"]
    assert line["time"].endswith("+00:00")


def test_serve_and_worker_log_json(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SHAREHUB_DATA_DIR": str(tmp_path),
        "SHAREHUB_LOG_FORMAT": "json",
        "SHAREHUB_EMBEDDED_WORKER": "off",
    }
    env.pop("SHAREHUB_DATABASE_URL", None)
    port = free_port()
    log = tmp_path / "serve.log"
    server = start_server(port, env, log)
    try:
        wait_ready(port, server, log)
        r = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/sessions",
            headers={"X-Request-ID": "trace-serve-1"},
            timeout=30,
        )
        assert r.status_code == 200 and r.headers["x-request-id"] == "trace-serve-1"
    finally:
        stop(server)
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]  # all JSON
    mine = [r for r in records if r["request_id"] == "trace-serve-1"]
    assert [r["logger"] for r in mine] == ["sharehub.request"], mine
    assert mine[0]["status"] == 200 and mine[0]["path"] == "/api/v1/sessions"
    assert any("Application shutdown complete" in str(r["message"]) for r in records)

    worker = subprocess.run(
        [str(SHAREHUB), "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    worker_lines = [line for line in worker.stderr.splitlines() if line.strip()]
    assert worker_lines, "the worker logged nothing"
    for line in worker_lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message", "request_id"} <= record.keys()


def test_log_format_setting_checked(tmp_path: Path) -> None:
    env = {**os.environ, "SHAREHUB_DATA_DIR": str(tmp_path), "SHAREHUB_LOG_FORMAT": "xml"}
    done = subprocess.run(
        [str(SHAREHUB), "config"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "SHAREHUB_LOG_FORMAT" in done.stderr


def test_redact_hides_stream_secrets_in_quoted_urls() -> None:
    line = (
        "Input #0, mpegts, from 'srt://0.0.0.0:9001?mode=listener&passphrase=PASS-1234567890"
        "&latency=120000': rtmp://u:pw-secret@push.example/live/s?txSecret=abc123&txTime=65AB"
    )
    out = logs.redact(line)
    for secret in ("PASS-1234567890", "pw-secret", "abc123"):
        assert secret not in out
    assert "srt://0.0.0.0:9001?mode=listener&passphrase=***&latency=120000'" in out
    assert "txTime=65AB" in out and "rtmp://u:***@push.example/live/s" in out
    assert logs.redact("no url here") == "no url here"


@pytest.mark.parametrize(
    "url, hidden, kept",
    [
        (
            "srt://live.example:9000?streamid=#!::h=live.example,r=live/s1,txSecret=abc123,txTime=65AB",
            "abc123",
            "txTime=65AB",
        ),
        ("https://b.s3/k?X-Amz-Signature=f00d&X-Amz-Expires=3600", "f00d", "X-Amz-Expires=3600"),
        ("postgresql://u:pa/ss@host/db", "pa/ss", "@host/db"),
        ("postgresql://u:p4ss@[::1]:5432/db?sslmode=require", "p4ss", "[::1]:5432/db?sslmode"),
        ("rtmp://push.example/live/s?auth_key=1700000000-0-0-abcdef", "abcdef", "/live/s?"),
    ],
    ids=["tencent-srt-streamid", "s3-presigned", "slash-in-password", "ipv6", "aliyun"],
)
def test_mask_forms_of_stream_and_database_urls(url: str, hidden: str, kept: str) -> None:
    shown = logs.redact(f"opening '{url}' failed")
    assert hidden not in shown and kept in shown and "***" in shown
