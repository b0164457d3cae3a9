"""Real parts for the fault tests: a private PostgreSQL cluster, a `sharehub serve` process
with its embedded worker, and an admin client talking HTTP to it.

The machine's shared PostgreSQL is never touched: each test that stops a database starts its
own cluster (initdb into a temporary folder, pg_ctl on a free port) and stops it afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests import netutil

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "fault-owner-password"  # a password may not contain the username
free_tcp_port = netutil.free_port
"""tests/netutil.py's ``free_port``, by the name the fault tests import."""


def pg_bin() -> Path | None:
    """The newest local PostgreSQL server binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of our own, on a loopback port, that a test may stop and start."""

    bin: Path
    data: Path
    socket_dir: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/sharehub_fault"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, *command], capture_output=True, text=True, check=check, timeout=120
        )

    def init(self) -> None:
        for path in (self.data.parent, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data.parent, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-N"
        )
        self.start()
        self._run(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
            "postgres", "sharehub_fault",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60",
            "stop",
        )  # fmt: skip

    def running(self) -> bool:
        status = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status", check=False)
        return status.returncode == 0


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A fresh cluster in its own folder under /tmp (pytest's folders are private to root,
    and the server runs as ``postgres``); removed afterwards."""
    binaries = pg_bin()
    assert binaries is not None
    root = Path(tempfile.mkdtemp(prefix="sharehub-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    cluster = PrivateCluster(
        binaries, root / "pg" / "data", root / "sock", netutil.free_port(), root / "pg.log"
    )
    try:
        cluster.init()
        yield cluster
    except subprocess.CalledProcessError as exc:
        raise AssertionError(f"{exc.cmd} failed: {exc.stderr}") from exc
    finally:
        if cluster.data.exists() and cluster.running():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class ServeProcess:
    """`sharehub serve` in a child process, its address and an admin token."""

    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    log: Path
    token: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)


def hub_env(data_dir: Path, database_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "SHAREHUB_DATA_DIR": str(data_dir),
        "SHAREHUB_DATABASE_URL": database_url,
        "SHAREHUB_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SHAREHUB_PUBLIC_CACHE_SECONDS": "0",
        "SHAREHUB_VIEW_RATE_ADDRESS": "0",
        "SHAREHUB_PG_POOL": "4",
    }
    for reporter in ("IMPACT_WORKBOOK", "IMPACT_PRINTABLE", "IATI_ACTIVITY"):
        env[f"SHAREHUB_PLUGIN__{reporter}__MONTHLY"] = "false"
    env.update(extra)
    return env


def start_serve(env: dict[str, str], port: int, log: Path) -> ServeProcess:
    """`sharehub init` (migrations, an admin), then `sharehub serve` until /healthz answers."""
    subprocess.run(
        [str(netutil.SHAREHUB), "init", "--username", "admin", "--password", ADMIN_PASSWORD],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    serve = ServeProcess(netutil.start_serve(port, env, log, ready="/healthz"), port, env, log)
    try:
        login = httpx.post(
            f"{serve.base_url}/api/v1/auth/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        token = httpx.post(
            f"{serve.base_url}/api/v1/tokens",
            json={"name": "faults"},
            cookies=login.cookies,
            headers={"origin": serve.base_url},  # a signed-in change from the hub's origin
        )
        assert token.status_code in (200, 201), token.text
        serve.token = token.json()["token"]
    except BaseException:
        stop_serve(serve)
        raise
    return serve


def stop_serve(serve: ServeProcess) -> None:
    netutil.stop(serve.process, timeout=60)
