"""Rows per second of the attendance export, against writing the same rows from a list.

1. A temporary SQLite hub gets 1,000,000 bookings (10,000 classes x 100 share-centers).
2. CSV: ``GET /api/v1/exports/attendance.csv`` from one ``sharehub serve`` process, read as
   a stream; time to the first byte, rows/s, and the server's peak memory (VmHWM). Baseline:
   the csv module writing the same 1,000,000 rows from a Python list (in a child process).
   Target: ratio >= 0.5, memory < 200 MB.
3. XLSX: ``hub.exports.write_xlsx`` (what the background export job runs) for the first
   100,000 rows, against XlsxWriter constant-memory writing the same rows from a list, each
   in a child process with its peak memory. Target: ratio >= 0.8, memory flat.
Run: python bench/export_rows.py
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from support import BIN, bench_env, free_port, serve, stop

SESSIONS = 10_000
CENTERS_PER_SESSION = 100
CENTERS = 1_000
XLSX_SESSIONS = 1_000  # the first 1,000 classes: 100,000 rows
ROUNDS = 3
TZ = ZoneInfo("Asia/Shanghai")
FIRST = datetime(2025, 9, 1, 1, 0, tzinfo=UTC)
PROVINCES = ["云南省", "贵州省", "甘肃省", "四川省", "广西壮族自治区", "新疆维吾尔自治区"]


def stamp(value: datetime) -> str:
    """A timestamp as Piccolo keeps it in SQLite (UTC, ``str(datetime)``)."""
    return str(value.astimezone(UTC))


def session_start(i: int) -> datetime:
    return FIRST + timedelta(hours=i // 25 * 24 + (i % 25) * 0.5)


def fill(path: Path) -> str:
    """The programme: returns an API token of an administrator."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    now = stamp(datetime.now(UTC))
    db.executemany(
        "INSERT INTO share_center (id, name, province, city, county, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (c, f"共享中心{c:04d}", PROVINCES[c % 6], f"市{c % 40}", f"县{c % 200}", now)
            for c in range(1, CENTERS + 1)
        ],
    )
    db.executemany(
        "INSERT INTO teacher (id, name, school, created_at) VALUES (?, ?, ?, ?)",
        [(t, f"教师{t:03d}", "北京市第一实验小学", now) for t in range(1, 101)],
    )
    db.executemany(
        "INSERT INTO course (id, title, subject, teacher, created_at) VALUES (?, ?, ?, ?, ?)",
        [(t, f"课程{t:03d}", "数学", t, now) for t in range(1, 101)],
    )
    sessions = []
    for i in range(SESSIONS):
        start = session_start(i)
        sessions.append(
            (
                i + 1,
                i % 100 + 1,
                i % 100 + 1,
                stamp(start),
                stamp(start + timedelta(minutes=45)),
                "ended",
                now,
                now,
            )
        )
    db.executemany(
        "INSERT INTO live_session (id, course, teacher, starts_at, ends_at, status, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        sessions,
    )

    def bookings():  # type: ignore[no-untyped-def]
        for i in range(SESSIONS):
            start = session_start(i)
            checked = stamp(start - timedelta(minutes=5))
            for k in range(CENTERS_PER_SESSION):
                center = (i * 7 + k * 10) % CENTERS + 1
                present = k % 5 != 0
                yield (
                    i + 1,
                    center,
                    stamp(start - timedelta(days=3)),
                    checked if present else None,
                    stamp(start + timedelta(minutes=46)) if present else None,
                    20 + (i + k) % 30 if present else None,
                )

    db.executemany(
        "INSERT INTO booking (session, center, created_at, checked_in_at, checked_out_at, "
        "children_present) VALUES (?, ?, ?, ?, ?, ?)",
        bookings(),
    )
    token = "shk_" + secrets.token_urlsafe(32)
    user = db.execute("SELECT id FROM hub_user WHERE username = 'benchadmin'").fetchone()[0]
    db.execute(
        "INSERT INTO api_token (user, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
        (user, "bench", hashlib.sha256(token.encode()).hexdigest(), now),
    )
    db.commit()
    db.close()
    return token


def peak_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def csv_over_http(env: dict[str, str], token: str) -> dict[str, float]:
    port = free_port()
    server = serve(env, port)
    try:
        pid = int(
            subprocess.run(
                ["pgrep", "-n", "-P", str(server.pid)], capture_output=True, text=True
            ).stdout.strip()
            or server.pid
        )
        before = rss_mb(pid)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/exports/attendance.csv",
            headers={"Authorization": f"Bearer {token}"},
        )
        runs = [download(request) for _ in range(ROUNDS)]
        peak = peak_rss_mb(pid)
    finally:
        stop(server, timeout=30)
    seconds = statistics.median(r["seconds"] for r in runs)
    rows = runs[0]["rows"]
    return {
        "rows": rows,
        "seconds": seconds,
        "rate": rows / seconds,
        "first_byte_s": max(r["first_byte_s"] for r in runs),
        "peak_mb": peak,
        "rss_before_mb": before,
        "size_mb": runs[0]["size_mb"],
    }


def download(request: urllib.request.Request) -> dict[str, float]:
    start = time.perf_counter()
    first_byte = 0.0
    lines = 0
    size = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1 << 16):
            if not first_byte:
                first_byte = time.perf_counter() - start
            lines += chunk.count(b"\n")
            size += len(chunk)
    return {
        "rows": lines - 1,
        "seconds": time.perf_counter() - start,
        "first_byte_s": first_byte,
        "size_mb": size / 2**20,
    }


def child(kind: str, env: dict[str, str], out_dir: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--out", str(out_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{kind} failed: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_child(kind: str, out_dir: Path) -> None:
    """Measurements in a fresh process, so its peak memory is its own. Prints one JSON line."""
    from hub import exports
    from hub.cli import with_db
    from hub.exports import Dataset, Filters
    from hub.impact import Period
    from hub.settings import load_settings

    settings = load_settings()
    headers = exports.headers(Dataset.attendance, TZ)
    if kind == "csv-baseline":
        filters = Filters(Period(date(2000, 1, 1), date.today(), TZ))
    else:
        last = session_start(XLSX_SESSIONS - 1).astimezone(TZ).date()
        filters = Filters(Period(date(2000, 1, 1), last, TZ))

    async def collect() -> list[object]:
        out: list[object] = []
        async for batch in exports.rows(Dataset.attendance, filters):
            out.extend(batch)
        return out

    def write_csv(data: list[object]) -> float:
        start = time.perf_counter()
        with (out_dir / "baseline.csv").open("w", newline="", encoding="utf-8") as fh:
            fh.write("\ufeff")
            writer = csv.writer(fh)
            writer.writerow(headers)
            writer.writerows(data)  # type: ignore[arg-type]
        return time.perf_counter() - start

    def write_xlsx_list(data: list[object]) -> float:
        start = time.perf_counter()
        # the same cells as the export: text as text, local times as date cells
        book = exports.XlsxFile(
            out_dir / "baseline.xlsx",
            "attendance",
            headers,
            exports.TIME_COLUMNS[Dataset.attendance],
        )
        book.write(data)  # type: ignore[arg-type]
        book.close()
        return time.perf_counter() - start

    async def export_once() -> tuple[int, float]:
        start = time.perf_counter()
        rows = await exports.write_xlsx(Dataset.attendance, filters, out_dir / "export.xlsx")
        return rows, time.perf_counter() - start

    async def work() -> dict[str, float]:
        if kind == "csv-baseline":
            data = await collect()
            times = [write_csv(data) for _ in range(ROUNDS)]
            return {"rows": len(data), "rate": len(data) / statistics.median(times)}
        before = rss_mb()
        rows, first = await export_once()  # first: nothing else in memory yet
        peak = peak_rss_mb()
        data = await collect()
        export_times, base_times = [first], []
        for _ in range(ROUNDS):
            base_times.append(write_xlsx_list(data))
            export_times.append((await export_once())[1])
        return {
            "rows": rows,
            "rate": rows / statistics.median(export_times),
            "baseline_rate": len(data) / statistics.median(base_times),
            "rss_before_mb": before,
            "peak_mb": peak,
        }

    print(json.dumps(asyncio.run(with_db(settings, work))))


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="sharehub-bench-export-"))
    # the embedded worker would make last month's reports while we measure: not now
    env = bench_env(data, view_rate_limit=True)
    try:
        subprocess.run(
            [str(BIN), "init", "--username", "benchadmin", "--password", "bench-password-1"],
            env=env,
            check=True,
            capture_output=True,
        )
        t0 = time.perf_counter()
        token = fill(data / "sharehub.sqlite")
        print(
            f"filled {SESSIONS * CENTERS_PER_SESSION} bookings in {time.perf_counter() - t0:.0f} s"
        )
        http = csv_over_http(env, token)
        base = child("csv-baseline", env, data)
        assert http["rows"] == base["rows"] == SESSIONS * CENTERS_PER_SESSION, (http, base)
        print(
            f"CSV export over HTTP: {http['rows']} rows in {http['seconds']:.1f} s (median) = "
            f"{http['rate']:.0f} rows/s, first byte after {http['first_byte_s']:.2f} s, "
            f"{http['size_mb']:.0f} MB; server memory {http['rss_before_mb']:.0f} MB before, "
            f"peak {http['peak_mb']:.0f} MB"
        )
        print(
            f"CSV baseline (csv module from a list): {base['rate']:.0f} rows/s; "
            f"ratio {http['rate'] / base['rate']:.2f}"
        )
        xlsx = child("xlsx", env, data)
        print(
            f"XLSX export: {xlsx['rows']} rows at {xlsx['rate']:.0f} rows/s (median of "
            f"{ROUNDS + 1}); memory {xlsx['rss_before_mb']:.0f} MB before, peak "
            f"{xlsx['peak_mb']:.0f} MB; baseline (XlsxWriter constant memory from a list): "
            f"{xlsx['baseline_rate']:.0f} rows/s; ratio {xlsx['rate'] / xlsx['baseline_rate']:.2f}"
        )
        print(
            json.dumps(
                {
                    "bench": "export_rows",
                    "value": round(http["rate"]),
                    "unit": "rows/s",
                    "baseline": round(base["rate"]),
                    "ratio": round(http["rate"] / base["rate"], 3),
                    "rows": http["rows"],
                    "first_byte_s": round(http["first_byte_s"], 3),
                    "server_peak_mb": round(http["peak_mb"]),
                    "xlsx_value": round(xlsx["rate"]),
                    "xlsx_baseline": round(xlsx["baseline_rate"]),
                    "xlsx_ratio": round(xlsx["rate"] / xlsx["baseline_rate"], 3),
                    "xlsx_rows": xlsx["rows"],
                    "xlsx_peak_mb": round(xlsx["peak_mb"]),
                    "xlsx_rss_before_mb": round(xlsx["rss_before_mb"]),
                }
            )
        )
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.out)
    else:
        main()
