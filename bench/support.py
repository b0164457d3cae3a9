"""Processes and ports for the benchmarks: one place for a free loopback port, the environment
of a bench's hub, ``sharehub serve`` (on demo data or not) and waiting for it, stopping it,
and the PostgreSQL database a bench may also run on.

Imported by name (``from support import ...``): a bench runs as ``python bench/NAME.py``, so
``bench/`` is on ``sys.path``. Nothing here comes from ``tests/``, which is not installed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "sharehub"
MONTHLY_REPORTERS = ("IMPACT_WORKBOOK", "IMPACT_PRINTABLE", "IATI_ACTIVITY")


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def udp_bound(port: int) -> bool:
    """Whether some process on this machine listens on UDP ``port`` (an SRT listener)."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(int(line.split()[1].rsplit(":", 1)[1], 16) == port for line in lines):
            return True
    return False


def bench_env(
    data: Path, *, view_rate_limit: bool = False, monthly_reports: bool = False, **extra: str
) -> dict[str, str]:
    """This process's environment for a hub on SQLite in ``data`` (any
    ``SHAREHUB_DATABASE_URL`` dropped), plus ``extra``.

    By default the per-address view limit is off (a bench sends everything from 127.0.0.1:
    the limit would stop it at once) and so are the monthly reports (the embedded worker would
    make last month's while we measure)."""
    env = {**os.environ, "SHAREHUB_DATA_DIR": str(data)}
    if not view_rate_limit:
        env["SHAREHUB_VIEW_RATE_ADDRESS"] = "0"
        env["SHAREHUB_VIEW_NEW_VIEWERS_PER_MINUTE"] = "0"
    env.update(extra)
    if not monthly_reports:
        for reporter in MONTHLY_REPORTERS:
            env[f"SHAREHUB_PLUGIN__{reporter}__MONTHLY"] = "false"
    env.pop("SHAREHUB_DATABASE_URL", None)
    return env


def wait_http(
    url: str, process: subprocess.Popen[bytes] | None = None, seconds: float = 120.0
) -> None:
    """Until ``url`` answers (2xx after redirects); fails early when ``process`` exits."""
    deadline = time.monotonic() + seconds
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited ({process.returncode})")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")
        time.sleep(0.2)


def wait_up(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    """Until the hub on 127.0.0.1:``port`` answers ``/healthz``."""
    wait_http(f"http://127.0.0.1:{port}/healthz", process)


def serve(env: dict[str, str], port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    """``sharehub serve --port PORT``, returned once it answers; its output (both streams)
    goes to ``log``, or nowhere."""
    if log is None:
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    else:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(BIN), "serve", "--port", str(port)], env=env, stdout=out, stderr=out
            )
    try:
        wait_up(port, process)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


def start_serve(env: dict[str, str], port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    """``sharehub demo --no-serve`` (the demo programme), then :func:`serve`."""
    subprocess.run([str(BIN), "demo", "--no-serve"], env=env, check=True, capture_output=True)
    return serve(env, port, log)


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM, wait; SIGKILL (and raise) if it does not stop in time."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def pg_url() -> str:
    """The PostgreSQL database to run on as well: ``SHAREHUB_BENCH_PG_URL``, or a throw-away
    one from ``scripts/test-postgres.sh``; "" when there is no local PostgreSQL."""
    if os.environ.get("SHAREHUB_BENCH_PG_URL"):
        return os.environ["SHAREHUB_BENCH_PG_URL"]
    return subprocess.run(
        [str(ROOT / "scripts" / "test-postgres.sh")], capture_output=True, text=True
    ).stdout.strip()
