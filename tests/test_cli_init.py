"""``sharehub init`` makes the first administrator from flags or by asking, and is safe to run
again; ``sharehub config`` hides every password it shows. SQLite only (subprocesses)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

from tests.test_cli import SCRIPT, query, run, settings_of


def test_init_from_flags_then_again_changes_nothing(tmp_path: Path) -> None:
    first = run(tmp_path, "init", "--username", "root-admin", "--password", "a-long-password")
    assert first.returncode == 0, first.stderr
    assert "created admin 'root-admin'" in first.stdout
    again = run(tmp_path, "init", "--username", "root-admin", "--password", "a-long-password")
    assert again.returncode == 0, again.stderr
    assert "exists already" in again.stdout
    bare = run(tmp_path, "init")
    assert bare.returncode == 0 and "exists already" in bare.stdout
    other = run(tmp_path, "init", "--username", "second", "--password", "another-password")
    assert other.returncode == 0 and "'root-admin' exists already" in other.stdout
    assert query(tmp_path, "SELECT username, role FROM hub_user") == [("root-admin", "admin")]


def test_init_without_flags_off_a_terminal_says_what_to_run(tmp_path: Path) -> None:
    r = run(tmp_path, "init")
    assert r.returncode == 0, r.stderr
    assert "sharehub init --username" in r.stdout
    assert query(tmp_path, "SELECT count(*) FROM hub_user") == [(0,)]


def test_init_at_a_terminal_asks_for_the_administrator(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREHUB_")}
    env["SHAREHUB_DATA_DIR"] = str(tmp_path)
    leader, follower = pty.openpty()
    answers = [
        (b"administrator username: ", b"asked-admin\n"),
        (b"password: ", b"a-long-password\n"),  # getpass flushes what was typed ahead,
        (b"again: ", b"a-long-password\n"),  # so each answer waits for its question
    ]
    process = subprocess.Popen(
        [str(SCRIPT), "init"],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # no controlling terminal: getpass reads the pty
    )
    os.close(follower)
    assert process.stdout is not None
    out = b""
    deadline = time.monotonic() + 120
    with os.fdopen(leader, "wb", buffering=0) as terminal:
        while process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.5)
            if ready:
                out += os.read(process.stdout.fileno(), 4096)
            if answers and out.endswith(answers[0][0]):
                terminal.write(answers.pop(0)[1])
        if process.poll() is None:
            process.kill()  # it hung on a question: fail below with what it printed
        out += process.stdout.read()
        process.wait(timeout=10)
    assert process.returncode == 0, out
    assert b"administrator username" in out and b"created admin 'asked-admin'" in out
    assert query(tmp_path, "SELECT username, role FROM hub_user") == [("asked-admin", "admin")]


def test_config_hides_passwords_in_url_queries_and_shows_the_pool(tmp_path: Path) -> None:
    url = "postgresql://hub@db.internal/sharehub?password=pg-query-pass-42&sslmode=require"
    r = run(
        tmp_path,
        "config",
        SHAREHUB_DATABASE_URL=url,
        SHAREHUB_PG_POOL="7",
        SHAREHUB_S3_ACCESS_KEY="AKIAEXAMPLEACCESSKEY",
    )
    assert r.returncode == 0, r.stderr
    assert "pg-query-pass-42" not in r.stdout and "AKIAEXAMPLEACCESSKEY" not in r.stdout
    shown = settings_of(r.stdout)
    assert shown["SHAREHUB_DATABASE_URL"] == (
        "postgresql://hub@db.internal/sharehub?password=***&sslmode=require"
    )
    assert shown["SHAREHUB_PG_POOL"] == "7"
    bad = run(tmp_path, "config", SHAREHUB_PG_POOL="many")
    assert bad.returncode != 0 and "SHAREHUB_PG_POOL" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_variable_that_names_no_setting_is_reported(tmp_path: Path) -> None:
    r = run(tmp_path, "config", SHAREHUB_SCHEDULE_CACHE_SECONDS="5", SHAREHUB_FFMPEG="ffmpeg")
    assert r.returncode == 0, r.stderr
    assert "SHAREHUB_SCHEDULE_CACHE_SECONDS is not a setting" in r.stderr
    assert "SHAREHUB_FFMPEG" not in r.stderr  # read by the media worker: not a typo
