"""Who is asking: Bearer API tokens for scripts, signed cookies for pages; guards by role."""

from __future__ import annotations

import hashlib
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from hub import accounts
from hub.accounts import Principal
from hub.cache import Remembered, ResponseCache
from hub.tables import Role

SESSION_COOKIE = "sharehub_session"


class AuthMiddleware:
    """Resolves the principal once per request into ``scope["principal"]`` (None if anonymous)."""

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str,
        max_age: int,
        cache: ResponseCache | None = None,
        remember_seconds: float = 0,
    ) -> None:
        self.app = app
        self.secret_key = secret_key
        self.max_age = max_age
        self.known: Remembered[Principal | None] | None = (
            Remembered(cache, remember_seconds) if cache and remember_seconds > 0 else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            scope["principal"] = await self._resolve(scope)  # type: ignore[typeddict-unknown-key]
        await self.app(scope, receive, send)

    async def _resolve(self, scope: Scope) -> Principal | None:
        """Who sends the request's credential; remembered briefly (``Remembered``): a signed-in
        reader costs no query per request."""
        if self.known is None:
            return await self._look_up(scope)
        credential = b""
        for name, value in scope.get("headers", ()):
            if name in (b"authorization", b"cookie"):
                credential += name + b"\0" + value + b"\0"
        if not credential:
            return None
        return await self.known.get(
            hashlib.sha256(credential).digest(), lambda: self._look_up(scope)
        )

    async def _look_up(self, scope: Scope) -> Principal | None:
        authorization = b""
        cookie = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                authorization = value
            elif name == b"cookie":
                cookie = value
        if authorization[:7].lower() == b"bearer ":
            return await accounts.principal_for_token(authorization[7:].decode("latin-1").strip())
        if cookie and SESSION_COOKIE.encode() in cookie:
            for part in cookie.decode("latin-1").split(";"):
                key, _, value = part.strip().partition("=")
                if key == SESSION_COOKIE:
                    found = accounts.read_session_issued(value, self.secret_key, self.max_age)
                    return await accounts.principal_for_user(*found) if found else None
        return None


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    return connection.scope.get("principal")  # type: ignore[return-value]


def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if principal_of(connection) is None:
        raise NotAuthorizedException("sign in, or send an API token as 'Authorization: Bearer ...'")


def _role_guard(*roles: Role):  # type: ignore[no-untyped-def]
    allowed = {r for r in roles} | {Role.admin}

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        signed_in(connection, handler)
        principal = principal_of(connection)
        assert principal is not None
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise PermissionDeniedException(f"this needs one of the roles: {names}")

    guard.__name__ = "role_" + "_".join(sorted(r.value for r in allowed))
    return guard


admin_only = _role_guard()
teacher_or_admin = _role_guard(Role.teacher)
center_or_admin = _role_guard(Role.center)


def provide_principal(request: Any) -> Principal | None:
    """Dependency: the principal resolved by the middleware (None when anonymous)."""
    return request.scope.get("principal")
