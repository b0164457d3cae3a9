"""Logs: one line per event, JSON when ``SHAREHUB_LOG_FORMAT=json``, with the request id.

Each HTTP request gets an id: the client's (or the load balancer's) ``X-Request-ID`` when it
is a plain token of at most 128 characters, else a new random one. The id is returned in the
``X-Request-ID`` response header and held in a context variable while the request runs, so
every log line written for that request (by the hub, a plugin, or uvicorn's error logger)
carries it. Work outside a request (the worker, flush loops) logs ``request_id: null``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from hub.settings import mask

URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact(text: str) -> str:
    """``text`` with each URL's password and secret-named query values (``passphrase=``,
    ``txSecret=``, ``auth_key=``, ``token=``) hidden: for lines that quote a stream's URL,
    such as ffmpeg's, before they are logged or kept."""
    return URL_IN_TEXT.sub(lambda m: mask(m.group(0)), text)


REQUEST_ID_HEADER = "x-request-id"
request_id: ContextVar[str | None] = ContextVar("sharehub_request_id", default=None)
_TOKEN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}
access_log = logging.getLogger("sharehub.request")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def usable_id(value: str | None) -> str | None:
    """The caller's request id when it is safe to log and echo (no spaces, quotes, newlines)."""
    return value if value and _TOKEN.match(value) else None


def new_id() -> str:
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (``-`` in text, null in JSON, outside)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id.get()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        try:
            return super().format(record)
        finally:
            record.request_id = None if record.request_id == "-" else record.request_id


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """Route every logger (the hub's, plugins', uvicorn's) to one stderr handler."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def configure_once(log_format: str = "text") -> None:
    """``configure`` unless logging is set up already (uvicorn's spawned HTTP workers)."""
    if not any(
        isinstance(f, RequestIdFilter) for h in logging.getLogger().handlers for f in h.filters
    ):
        configure(log_format)


class RequestIdMiddleware:
    """Takes or makes the request id, holds it in the context, echoes it, logs the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                sent = usable_id(value.decode("latin-1"))
                break
        rid = sent or new_id()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}  # type: ignore[typeddict-item]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %d",
                scope.get("method", ""),
                scope.get("path", ""),
                status,
                extra={
                    "method": scope.get("method", ""),
                    "path": scope.get("path", ""),
                    "route": scope.get("path_template", ""),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id.reset(token)
