"""Domain errors and the handlers that turn them into JSON answers naming the field."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE

log = logging.getLogger("sharehub.http")


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status_code": self.status_code, "detail": self.detail}
        if self.field:
            body["extra"] = [{"key": self.field, "message": self.detail}]
        body.update(self.extra)
        return body


class Invalid(DomainError):
    """The request is well-formed but a value is not acceptable (400)."""


class NotFound(DomainError):
    status_code = 404


class NotAuthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    """A schedule clash or a duplicate (409); ``clashes`` names the sessions in the way."""

    status_code = 409


class Unavailable(DomainError):
    """Something the answer needs is used up for now (503); ``Retry-After`` says when to retry
    (plugins raise subclasses, e.g. an exhausted SRT port range)."""

    status_code = 503

    def __init__(self, detail: str, field: str | None = None, retry_after: int = 60) -> None:
        super().__init__(detail, field, retry_after=retry_after)
        self.retry_after = retry_after


DB_RETRY_AFTER = 5
"""Seconds a client is asked to wait (``Retry-After``) while the database is unreachable."""


def _unavailable_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [ConnectionError]
    try:
        import asyncpg
        from asyncpg import exceptions as pg

        types += [
            asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError and the like
            pg.OperatorInterventionError,  # AdminShutdownError, CannotConnectNowError
            asyncpg.InterfaceError,  # "connection is closed", pool closing
        ]
    except ImportError:  # pragma: no cover - asyncpg comes with piccolo[postgres]
        pass
    return tuple(types)


_UNAVAILABLE = _unavailable_types()


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the database cannot be reached right now."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE):
            return True
        current = current.__cause__ or current.__context__
    return False


def domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Unavailable) else None
    return Response(
        exc.body(), status_code=exc.status_code, media_type=MediaType.JSON, headers=headers
    )


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, HTTPException):
        body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
        if exc.extra:
            body["extra"] = exc.extra
        return Response(body, status_code=exc.status_code, headers=exc.headers)
    if database_unavailable(exc):
        log.error("database unreachable on %s %s: %s", request.method, request.url.path, exc)
        return Response(
            {
                "status_code": HTTP_503_SERVICE_UNAVAILABLE,
                "detail": "the database is unreachable for a moment; try again shortly",
                "retry_after": DB_RETRY_AFTER,
            },
            status_code=HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DB_RETRY_AFTER)},
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Response(
        {"status_code": 500, "detail": "internal error; it has been logged"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )
