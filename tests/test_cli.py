"""The ``sharehub`` console script, run as a user would: a subprocess with its own data folder.

SQLite only (the data folder's default database); these tests never skip.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sysconfig
from pathlib import Path

from argon2 import PasswordHasher

SCRIPT = Path(sysconfig.get_path("scripts")) / "sharehub"


def run(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHAREHUB_")}
    clean["SHAREHUB_DATA_DIR"] = str(data_dir)
    clean.update(env)
    return subprocess.run(
        [str(SCRIPT), *args], env=clean, capture_output=True, text=True, timeout=120, check=False
    )


def settings_of(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def query(data_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(data_dir / "sharehub.sqlite") as conn:
        return conn.execute(sql).fetchall()


def test_the_console_script_is_installed() -> None:
    assert SCRIPT.exists(), SCRIPT


def test_config_masks_secrets(tmp_path: Path) -> None:
    r = run(tmp_path, "config")
    assert r.returncode == 0, r.stderr
    secret = (tmp_path / "secret_key").read_text().strip()
    assert len(secret) >= 32  # generated on first start, kept in the data folder
    assert secret not in r.stdout and secret not in r.stderr
    shown = settings_of(r.stdout)
    assert shown["SHAREHUB_DATA_DIR"] == str(tmp_path.resolve())
    assert "***" in shown["SHAREHUB_SECRET_KEY"]
    assert shown["SHAREHUB_DATABASE_URL"] == f"sqlite:///{tmp_path.resolve() / 'sharehub.sqlite'}"
    assert shown["SHAREHUB_TIMEZONE"] == "Asia/Shanghai"
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by the owner only

    r = run(
        tmp_path,
        "config",
        SHAREHUB_SECRET_KEY="a-secret-from-the-environment-0123",
        SHAREHUB_DATABASE_URL="postgresql://hub:pg-pass-9876@db.internal:5432/sharehub",
        SHAREHUB_S3_SECRET_KEY="s3-secret-abcdefgh",
    )
    assert r.returncode == 0, r.stderr
    for hidden in (
        "a-secret-from-the-environment-0123",
        "pg-pass-9876",
        "s3-secret-abcdefgh",
        secret,
    ):
        assert hidden not in r.stdout + r.stderr
    shown = settings_of(r.stdout)
    assert shown["SHAREHUB_DATABASE_URL"] == "postgresql://hub:***@db.internal:5432/sharehub"
    assert "***" in shown["SHAREHUB_S3_SECRET_KEY"]


def test_init_then_user_add(tmp_path: Path) -> None:
    r = run(tmp_path, "init", "--username", "root", "--password", "admins-secret-1")
    assert r.returncode == 0, r.stderr
    assert "root" in r.stdout
    r = run(tmp_path, "user", "add", "t1", "--role", "teacher", "--password", "teacher-pass-1")
    assert r.returncode == 0, r.stderr
    assert "t1" in r.stdout and "teacher" in r.stdout

    rows = dict(
        (name, (role, pw_hash))
        for name, role, pw_hash in query(
            tmp_path, "SELECT username, role, password_hash FROM hub_user"
        )
    )
    assert set(rows) == {"root", "t1"}
    assert rows["root"][0] == "admin" and rows["t1"][0] == "teacher"
    assert rows["t1"][1].startswith("$argon2id$")
    assert PasswordHasher().verify(rows["t1"][1], "teacher-pass-1")

    again = run(tmp_path, "user", "add", "t1", "--role", "teacher", "--password", "other-pass-1")
    assert again.returncode != 0
    assert "t1" in again.stderr and "Traceback" not in again.stderr
    short = run(tmp_path, "user", "add", "t2", "--role", "teacher", "--password", "short")
    assert short.returncode != 0 and "10" in short.stderr
    assert len(query(tmp_path, "SELECT id FROM hub_user")) == 2


def test_unknown_time_zone_is_exit_code_2(tmp_path: Path) -> None:
    for args in (("config",), ("init",), ("demo", "--no-serve")):
        r = run(tmp_path, *args, SHAREHUB_TIMEZONE="Mars/Olympus")
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "SHAREHUB_TIMEZONE" in r.stderr and "Mars/Olympus" in r.stderr
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "sharehub.sqlite").exists()


DEMO_LINE = re.compile(
    r"demo programme (?P<verb>created|already there)(?: in [\d.]+s)?: "
    r"(?P<centers>\d+) share-centers, (?P<teachers>\d+) teachers, (?P<courses>\d+) courses, "
    r"(?P<sessions>\d+) classes \((?P<held>\d+) held\), (?P<bookings>\d+) bookings, "
    r"(?P<check_ins>\d+) check-ins, (?P<views>\d+) online views"
)


def demo_counts(output: str) -> tuple[str, dict[str, int]]:
    found = DEMO_LINE.search(output)
    assert found, output
    verb = found["verb"]
    return verb, {k: int(v) for k, v in found.groupdict().items() if k != "verb"}


def test_demo_fills_once_and_twice_changes_nothing(tmp_path: Path) -> None:
    # a hundredth of the term's views (the default is the full programme): the CLI is tested
    first = run(tmp_path, "demo", "--no-serve", "--scale", "0.01")
    assert first.returncode == 0, first.stderr
    verb, counts = demo_counts(first.stdout)
    assert verb == "created"
    assert counts["centers"] == 56
    assert counts["teachers"] == 120
    assert counts["courses"] >= 300 and counts["sessions"] >= 300
    assert counts["views"] > 0
    assert counts["bookings"] > 0
    in_db = {
        "centers": query(tmp_path, "SELECT count(*) FROM share_center")[0][0],
        "teachers": query(tmp_path, "SELECT count(*) FROM teacher")[0][0],
        "sessions": query(tmp_path, "SELECT count(*) FROM live_session")[0][0],
        "bookings": query(tmp_path, "SELECT count(*) FROM booking")[0][0],
    }
    assert in_db == {k: counts[k] for k in in_db}

    second = run(tmp_path, "demo", "--no-serve", "--scale", "0.01")
    assert second.returncode == 0, second.stderr
    verb, again = demo_counts(second.stdout)
    assert verb == "already there"
    assert again == counts
    assert query(tmp_path, "SELECT count(*) FROM live_session")[0][0] == counts["sessions"]
    assert query(tmp_path, "SELECT count(*) FROM hub_user")[0][0] == 21  # admin + 10 + 10


def test_user_add_center_operator_needs_a_center(tmp_path: Path) -> None:
    r = run(tmp_path, "user", "add", "c1", "--role", "center", "--password", "center-pass-1")
    assert r.returncode != 0
    assert "center" in r.stderr
    assert query(tmp_path, "SELECT count(*) FROM hub_user")[0][0] == 0


def test_user_add_unknown_center_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    r = run(
        tmp_path,
        "user",
        "add",
        "c1",
        "--role",
        "center",
        "--center-id",
        "999",
        "--password",
        "center-pass-1",
    )
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert "999" in r.stderr
