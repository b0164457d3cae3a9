"""The ``cluster`` test backend: the hub as real processes on one PostgreSQL and one S3.

Issue 7: the suite that runs against an in-process app also passes against two ``sharehub
serve`` and two ``sharehub worker`` processes sharing one PostgreSQL database and one S3
endpoint (a moto server). Each process has a data folder of its own, so nothing on a local
disk is shared; the test client sends each request to the next server in turn, so whatever
one server wrote, the other must be able to read.

The database is the test database's sibling ``<name>_cluster`` (made when missing), so the
``postgres`` backend's tables are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import asyncpg
import httpx

from hub.settings import Settings, load_settings
from tests import netutil

SECRET_KEY = "test-secret-key-0123456789"
PUBLIC_URL = "http://testserver.local"
SERVERS = 2
WORKERS = 2
VIEW_FLUSH_SECONDS = 1
"""The processes write their beacon tallies this often (tests wait for it, bounded)."""
WAIT_SECONDS = 60.0
"""The longest a test waits for the processes (a flush, the workers finishing jobs)."""
LOG_TAIL = 4000
PLUGIN_OPTIONS: dict[str, dict[str, str]] = {}
"""Plugin settings of the processes (``SHAREHUB_PLUGIN__<NAME>__<KEY>``): a test module whose
in-process app gets plugin options registers them here (``configure_plugin``) at import, before
the cluster starts, so its cluster variant talks to processes configured the same way."""


def configure_plugin(name: str, options: dict[str, str]) -> None:
    PLUGIN_OPTIONS.setdefault(name, {}).update(options)


def cluster_url(pg_url: str) -> str:
    """``postgresql://.../name`` -> ``postgresql://.../name_cluster``."""
    parts = urlparse(pg_url)
    name = parts.path.lstrip("/") or "postgres"
    return urlunparse(parts._replace(path="/" + name + "_cluster"))


async def ensure_database(url: str) -> None:
    """Create the database of ``url`` when it does not exist (connected via ``postgres``)."""
    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = urlunparse(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin)
    try:
        found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not found:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # a parallel run won
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def reset_schema(url: str) -> None:
    """Start from an empty schema (a previous run may have left its tables)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class Cluster:
    """The running processes, their ports and the environment they share."""

    database_url: str
    env: dict[str, str]
    root: Path
    ports: list[int] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def env_for(self, name: str) -> dict[str, str]:
        data = self.root / name
        data.mkdir(parents=True, exist_ok=True)
        return {**self.env, "SHAREHUB_DATA_DIR": str(data)}

    def settings(self) -> Settings:
        """The settings the processes run with (a data folder of the test's own)."""
        return load_settings(self.env_for("tests"))

    def check_alive(self) -> None:
        """Fail (with its log) when a process has exited."""
        for p in self.processes:
            if p.popen.poll() is not None:
                raise RuntimeError(
                    f"{p.name} exited ({p.popen.returncode}): {netutil.log_tail(p.log, LOG_TAIL)}"
                )

    def logs(self) -> str:
        return "\n".join(
            f"----- {p.name} ({p.log})\n{netutil.log_tail(p.log, LOG_TAIL)}" for p in self.processes
        )

    def log_texts(self) -> dict[str, str]:
        """Each process's whole log (the hub's processes: the servers and the workers)."""
        return {p.name: p.log.read_text(errors="replace") for p in self.processes}

    def worker_logs(self) -> str:
        return "\n".join(
            p.log.read_text(errors="replace") for p in self.processes if p.name.startswith("worker")
        )


def base_env(database_url: str, s3_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SHAREHUB_DATABASE_URL": database_url,
        "SHAREHUB_SECRET_KEY": SECRET_KEY,
        "SHAREHUB_PUBLIC_URL": PUBLIC_URL,
        "SHAREHUB_TIMEZONE": "Asia/Shanghai",
        "SHAREHUB_S3_ENDPOINT_URL": s3_url,
        "SHAREHUB_S3_BUCKET": f"cluster-{secrets.token_hex(6)}",
        "SHAREHUB_S3_ACCESS_KEY": "testing",
        "SHAREHUB_S3_SECRET_KEY": "testing",
        "SHAREHUB_S3_REGION": "us-east-1",
        "SHAREHUB_EMBEDDED_WORKER": "off",
        # the anonymous read cache is per process by design (bounded staleness); the cluster
        # tests check read-your-writes across processes
        "SHAREHUB_PUBLIC_CACHE_SECONDS": "0",
        "SHAREHUB_CREDENTIAL_CACHE_SECONDS": "0",
        "SHAREHUB_FIGURES_CACHE_SECONDS": "0",
        "SHAREHUB_VIEW_FLUSH_SECONDS": str(VIEW_FLUSH_SECONDS),
        "SHAREHUB_PG_POOL": "4",
    }
    for reporter in ("IMPACT_WORKBOOK", "IMPACT_PRINTABLE", "IATI_ACTIVITY"):
        env[f"SHAREHUB_PLUGIN__{reporter}__MONTHLY"] = "false"  # no jobs of their own
    for plugin, options in PLUGIN_OPTIONS.items():
        for key, value in options.items():
            env[f"SHAREHUB_PLUGIN__{plugin.upper()}__{key.upper()}"] = value
    return env


def create_bucket(env: dict[str, str]) -> None:
    import boto3

    boto3.client(
        "s3",
        endpoint_url=env["SHAREHUB_S3_ENDPOINT_URL"],
        aws_access_key_id=env["SHAREHUB_S3_ACCESS_KEY"],
        aws_secret_access_key=env["SHAREHUB_S3_SECRET_KEY"],
        region_name=env["SHAREHUB_S3_REGION"],
    ).create_bucket(Bucket=env["SHAREHUB_S3_BUCKET"])


def wait_worker(process: Process, seconds: float = 90.0) -> None:
    """Until the worker says it runs (its log's "SIGTERM stops it" line)."""
    deadline = time.monotonic() + seconds
    while "SIGTERM stops it" not in process.log.read_text(errors="replace"):
        if process.popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.name} did not start: {netutil.log_tail(process.log)}")
        time.sleep(0.2)


@contextlib.contextmanager
def running_cluster(database_url: str, root: Path) -> Iterator[Cluster]:
    """moto, ``sharehub migrate``, two servers and two workers; all stopped afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    with netutil.moto_server(root / "moto.log") as s3_url:
        cluster = Cluster(database_url, base_env(database_url, s3_url), root)
        create_bucket(cluster.env)  # as an operator would; /readyz is 503 until it exists
        migrate_log = root / "migrate.log"
        done = subprocess.run(
            [str(netutil.SHAREHUB), "migrate"],
            env=cluster.env_for("migrate"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=300,
        )
        migrate_log.write_bytes(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"sharehub migrate failed: {netutil.log_tail(migrate_log)}")
        failed = True
        try:
            for n in range(SERVERS):
                name = f"serve-{n}"
                port = netutil.free_port()
                log = root / f"{name}.log"
                env = cluster.env_for(name)
                try:
                    popen = netutil.start_serve(port, env, log)
                except RuntimeError as exc:  # the whole log: a startup traceback is long
                    whole = log.read_text(errors="replace") if log.exists() else ""
                    raise RuntimeError(f"{name} did not start:\n{whole[-20000:]}") from exc
                cluster.ports.append(port)
                cluster.processes.append(Process(name, popen, log))
            for n in range(WORKERS):
                name = f"worker-{n}"
                log = root / f"{name}.log"
                popen = netutil.start_sharehub(
                    ["worker", "--poll", "0.2"], cluster.env_for(name), log
                )
                cluster.processes.append(Process(name, popen, log))
                wait_worker(cluster.processes[-1])
            yield cluster
            failed = False
        finally:
            codes = stop_all(cluster.processes)
            if failed or any(c not in (0, -signal.SIGTERM) for c in codes):
                print(f"cluster processes stopped with {codes}:\n{cluster.logs()}")


def stop_all(processes: list[Process]) -> list[int | None]:
    """SIGTERM to every process at once (each finishes its work in parallel); their codes."""

    def one(p: Process) -> int | None:
        try:
            return netutil.stop(p.popen)
        except subprocess.TimeoutExpired:
            return None

    with ThreadPoolExecutor(max_workers=max(1, len(processes))) as pool:
        return list(pool.map(one, processes))


class RoundRobin(httpx.AsyncBaseTransport):
    """Sends each request to the next server in turn.

    The request keeps its URL (``http://testserver.local/...``) and so its Host header and the
    client's cookie jar; only the connection goes to ``127.0.0.1:<port>``.
    """

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.turn = 0
        self.inner = httpx.AsyncHTTPTransport(retries=0)
        self.beacons: set[str] = set()
        """Ids of the beacons a server took (202): a flush writes each to ``beacon_seen``."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        port = self.ports[self.turn % len(self.ports)]
        self.turn += 1
        target = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
        # Host: testserver.local, the cookies, the token. On the wire a field value has no
        # leading or trailing white space (RFC 9110 5.5; h11 refuses to send "Bearer ").
        headers = [(k, v.strip(b" \t")) for k, v in request.headers.raw]
        forwarded = httpx.Request(
            request.method,
            target,
            headers=headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        response = await self.inner.handle_async_request(forwarded)
        if request.url.path.endswith("/beacons"):
            LAST_BEACON[0] = time.monotonic()
        if response.status_code == 202 and request.url.path.endswith("/beacons"):
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                self.beacons.add(str(json.loads(request.content)["beacon_id"]))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def client(cluster: Cluster) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=PUBLIC_URL, transport=RoundRobin(cluster.ports), timeout=60)


async def views_flushed(http: httpx.AsyncClient, running: Cluster) -> None:
    """Until the servers' periodic flushes have written every beacon they took (the ids are
    in ``beacon_seen``, written in the same transaction as the tallies)."""
    from hub.tables import BeaconSeen

    transport = http._transport
    assert isinstance(transport, RoundRobin)
    waiting = set(transport.beacons)

    async def written() -> bool:
        if not waiting:
            return True
        rows = await BeaconSeen.select(BeaconSeen.beacon_id).where(
            BeaconSeen.beacon_id.is_in(list(waiting))
        )
        waiting.difference_update(r["beacon_id"] for r in rows)
        return not waiting

    await until("the servers to flush their beacons", written, running)
    transport.beacons.clear()


LAST_BEACON = [0.0]
"""When a test last sent a beacon to the servers (monotonic seconds)."""
SETTLE_JOBS_SECONDS = 30.0


async def settled(running: Cluster) -> None:
    """Before a test empties the tables: the servers have flushed the beacons sent so far
    (two flush intervals), and the workers have finished the due jobs queued so far, or at
    most ``SETTLE_JOBS_SECONDS`` have passed. Recordings are not waited for: one listening
    for a class that is then emptied away ends by itself (its session is gone)."""
    from hub import jobs
    from hub.tables import Job, JobState

    wait = LAST_BEACON[0] + 2 * VIEW_FLUSH_SECONDS + 0.5 - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)

    async def idle() -> bool:
        due = (Job.state == JobState.doing.value) | (
            (Job.state == JobState.todo.value) & (Job.run_after <= datetime.now(UTC))
        )
        return await Job.count().where(due & (Job.kind != jobs.RECORD)).run() == 0

    with contextlib.suppress(AssertionError):
        await until("the workers to finish", idle, running, SETTLE_JOBS_SECONDS)


async def until(
    what: str,
    check: Callable[[], Awaitable[bool]],
    cluster: Cluster | None = None,
    seconds: float = WAIT_SECONDS,
) -> None:
    """Poll ``check`` until it is true; fail after ``seconds`` (or when a process died)."""
    deadline = time.monotonic() + seconds
    while not await check():
        if cluster is not None:
            cluster.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)
