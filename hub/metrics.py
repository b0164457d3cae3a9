"""What an operator sees: Prometheus metrics at ``GET /metrics`` and the readiness probes.

Counters live in this process (one registry per process): requests and their latency by
route template and status, beacons accepted and flushed, uploads to storage. Figures shared
by all processes (the job queue, recordings in progress) are read from the database at
scrape time, so any process answers them the same way. A ``sharehub worker`` (where uploads
happen when the worker is not embedded) serves its own registry on
``SHAREHUB_WORKER_METRICS_PORT`` when that is set.

``/metrics`` is readable by administrators, from loopback (a Prometheus on the same host, or
an nginx in front of it), and with ``Authorization: Bearer <SHAREHUB_METRICS_TOKEN>``.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from litestar import Request, Response, get
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from piccolo.querystring import QueryString
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from hub import db
from hub.errors import Forbidden
from hub.settings import Settings

log = logging.getLogger("sharehub.metrics")

REGISTRY = CollectorRegistry(auto_describe=True)
T = TypeVar("T")

REQUESTS = Counter(
    "sharehub_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "sharehub_http_request_duration_seconds",
    "Time to answer an HTTP request (to the last body byte), by route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
BEACONS_ACCEPTED = Counter(
    "sharehub_beacons_accepted",
    "Beacons this process accepted into its tally (a repeat to the same process not counted)",
    registry=REGISTRY,
)
BEACONS_REFUSED = Counter(
    "sharehub_beacons_refused",
    "Beacons refused (counting nothing), by reason: the field at fault, rate_limit, new_viewers",
    ["reason"],
    registry=REGISTRY,
)
BEACONS_SUSPECT = Counter(
    "sharehub_beacons_suspect",
    "Beacons taken but suspect, by reason: first_claim (a viewer's first beacon claims more "
    "than the view threshold), late (sent before the viewer's last one)",
    ["reason"],
    registry=REGISTRY,
)
BEACONS_FLUSHED = Counter(
    "sharehub_beacons_flushed",
    "Beacons this process wrote to the database that were new there",
    registry=REGISTRY,
)
VIEWS_COUNTED = Counter(
    "sharehub_views_counted",
    "Views counted by this process's flushes (a viewer crossing the threshold)",
    registry=REGISTRY,
)
FLUSHES = Counter(
    "sharehub_beacon_flushes", "Beacon tally flushes, by outcome", ["outcome"], registry=REGISTRY
)
FLUSH_SECONDS = Histogram(
    "sharehub_beacon_flush_duration_seconds",
    "Time one beacon tally flush takes",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
BEACONS_PENDING = Gauge(
    "sharehub_beacons_pending",
    "Beacons accepted by this process and not yet written",
    registry=REGISTRY,
)
FLUSH_LAG = Gauge(
    "sharehub_beacon_flush_lag_seconds",
    "Age of the oldest beacon this process holds unwritten (0 when none)",
    registry=REGISTRY,
)
LAST_FLUSH = Gauge(
    "sharehub_beacon_last_flush_timestamp_seconds",
    "When this process last wrote its tally (Unix time; 0 before the first flush)",
    registry=REGISTRY,
)
UPLOAD_BYTES = Counter(
    "sharehub_upload_bytes",
    "Bytes this process stored (put_file / put_bytes), by storage backend",
    ["backend"],
    registry=REGISTRY,
)
UPLOADS = Counter(
    "sharehub_uploads",
    "Objects this process tried to store, by backend and outcome (ok / failed)",
    ["backend", "outcome"],
    registry=REGISTRY,
)
JOBS = Gauge(
    "sharehub_jobs",
    "Jobs in the queue (all workers), by kind and state (todo, doing, failed)",
    ["kind", "state"],
    registry=REGISTRY,
)
JOB_AGE = Gauge(
    "sharehub_job_oldest_age_seconds",
    "Age (since enqueued) of the oldest job, by kind and state (todo, doing)",
    ["kind", "state"],
    registry=REGISTRY,
)
RECORDINGS = Gauge(
    "sharehub_recordings_in_progress",
    "Record jobs being run by a worker now (all workers)",
    registry=REGISTRY,
)
ALERTS = Counter(
    "sharehub_alerts",
    "Conditions an operator must act on, by kind (e.g. srt_ports_exhausted: widen the range)",
    ["kind"],
    registry=REGISTRY,
)
SCRAPE_ERRORS = Counter(
    "sharehub_metrics_scrape_errors",
    "Scrapes whose database figures could not be read",
    registry=REGISTRY,
)

QUEUE_STATES = ("todo", "doing", "failed")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


# -------------------------------------------------------------------- counting helpers


async def counted_upload(backend: str, upload: Awaitable[int]) -> int:
    """Await a storage write, counting its bytes or its failure."""
    try:
        size = await upload
    except BaseException:
        UPLOADS.labels(backend, "failed").inc()
        raise
    UPLOADS.labels(backend, "ok").inc()
    UPLOAD_BYTES.labels(backend).inc(size)
    return size


class _Tally(Protocol):
    pending: list[Any]
    clock: Any


def observe_tally(tally: _Tally | None, last_flush: float) -> None:
    """Set the tally gauges from a view counter (at scrape time)."""
    if tally is None:
        return
    pending = tally.pending
    BEACONS_PENDING.set(len(pending))
    FLUSH_LAG.set(max(0.0, tally.clock() - pending[0].received) if pending else 0.0)
    LAST_FLUSH.set(last_flush)


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace(" ", "T"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def observe_queue() -> None:
    """Read the job queue's depth and age by kind and state, and recordings in progress."""
    rows = await db.engine().run_querystring(
        QueryString(
            "SELECT kind, state, COUNT(*) AS n, MIN(created_at) AS oldest FROM job "
            "WHERE state IN ({}, {}, {}) GROUP BY kind, state",
            *QUEUE_STATES,
        )
    )
    now = datetime.now(UTC)
    JOBS.clear()
    JOB_AGE.clear()
    recording = 0
    for row in rows or []:
        JOBS.labels(row["kind"], row["state"]).set(int(row["n"]))
        oldest = _parse_time(row["oldest"])
        if row["state"] != "failed" and oldest is not None:
            JOB_AGE.labels(row["kind"], row["state"]).set((now - oldest).total_seconds())
        if row["kind"] == "record" and row["state"] == "doing":
            recording = int(row["n"])
    RECORDINGS.set(recording)


# -------------------------------------------------------------------- HTTP


class MetricsMiddleware:
    """Counts each answered request by method, route template (never the raw path) and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route = scope.get("path_template") or "<unmatched>"
            labels = (scope.get("method", "GET"), route, str(status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)


def from_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    host = str(client[0])
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_read(request: Request[Any, Any, Any], settings: Settings) -> bool:
    """Administrators, loopback clients, and holders of the metrics token read /metrics."""
    principal = request.scope.get("principal")
    if principal is not None and getattr(principal, "role", None) == "admin":
        return True
    if from_loopback(request.scope):
        return True
    token = settings.metrics_token
    sent = request.headers.get("authorization", "")
    if token and sent[:7].lower() == "bearer ":
        return hmac.compare_digest(sent[7:].strip().encode(), token.encode())
    return False


@get("/metrics", tags=["health"], include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, Any], settings: Settings) -> Response[bytes]:
    """Prometheus text format; administrators, loopback, or ``SHAREHUB_METRICS_TOKEN``."""
    if not may_read(request, settings):
        raise Forbidden(
            "metrics are for administrators, loopback clients or the SHAREHUB_METRICS_TOKEN "
            "bearer token",
            field="authorization",
        )
    tally = request.app.state.get("views")
    observe_tally(tally, getattr(tally, "last_flush_at", 0.0))
    try:
        await observe_queue()
    except Exception:
        SCRAPE_ERRORS.inc()
        log.warning("metrics: cannot read the job queue", exc_info=True)
    return Response(
        generate_latest(REGISTRY),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )


def serve_worker_metrics(port: int, host: str = "127.0.0.1") -> Any:
    """Serve this process's registry (uploads by the worker) on ``host:port`` from a thread;
    returns the HTTP server (``shutdown()`` stops it)."""
    server, _ = start_http_server(port, addr=host, registry=REGISTRY)
    log.info("worker metrics on http://%s:%d/metrics (pid %d)", host, port, os.getpid())
    return server


# -------------------------------------------------------------------- readiness


async def storage_ready(storage: Any, wait_seconds: float = 3.0) -> str | None:
    """None when the store answers, else why not (no secret in the text)."""
    from hub.storage import LocalStorage, S3Storage

    try:
        if isinstance(storage, LocalStorage):
            root = storage.root
            ok = await asyncio.to_thread(
                lambda: root.is_dir() and os.access(root, os.W_OK | os.X_OK)
            )
            if not ok and not root.exists():
                return None  # created on the first write (a fresh data folder)
            return None if ok else f"local storage {root} is not a writable folder"
        if isinstance(storage, S3Storage):
            await asyncio.wait_for(
                asyncio.to_thread(storage.client.head_bucket, Bucket=storage.bucket), wait_seconds
            )
            return None
        return None
    except TimeoutError:
        return f"storage did not answer within {wait_seconds:g} s"
    except Exception as exc:  # the reason, by type: endpoint errors may quote the URL only
        return f"storage unreachable: {type(exc).__name__}"
