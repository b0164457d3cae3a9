"""Processes and ports for tests that run the hub (or its parts) as real processes.

One place for: a free loopback port, a ``sharehub`` subprocess with its log, waiting for an
HTTP endpoint to answer, stopping a process with SIGTERM, and a moto S3 server.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SHAREHUB = Path(sys.executable).parent / "sharehub"


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


def log_tail(log: Path | None, chars: int = 3000) -> str:
    if log is None or not log.exists():
        return ""
    return log.read_text(errors="replace")[-chars:]


def wait_http(
    url: str,
    seconds: float = 90.0,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Until ``url`` answers 200; fails early (with the log's tail) when ``process`` exits."""
    deadline = time.monotonic() + seconds
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited ({process.returncode}): {log_tail(log)}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {seconds:.0f} s: {log_tail(log)}")
        time.sleep(0.2)


def start_sharehub(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``sharehub ARGS`` in the background, its output (both streams) in ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(SHAREHUB), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_server(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``sharehub serve`` on 127.0.0.1:``port``, not waited for (see ``wait_ready``)."""
    return start_sharehub(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)


def wait_ready(
    port: int, process: subprocess.Popen[bytes], log: Path, ready: str = "/readyz"
) -> None:
    wait_http(f"http://127.0.0.1:{port}{ready}", process=process, log=log)


def start_serve(
    port: int, env: dict[str, str], log: Path, ready: str = "/readyz"
) -> subprocess.Popen[bytes]:
    """``sharehub serve`` on 127.0.0.1:``port``, returned once ``ready`` answers 200."""
    process = start_server(port, env, log)
    try:
        wait_ready(port, process, log, ready)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


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


def moto_command(port: int) -> list[str]:
    script = Path(sys.executable).parent / "moto_server"
    if script.exists():
        return [str(script), "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """A moto S3 server on a free loopback port, spoken to over HTTP; yields its URL."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            moto_command(port), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/", seconds=60, process=process, log=log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
