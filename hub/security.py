"""Security at the edge: response headers, sign-in throttling, session cookie attributes.

- ``SecurityHeaders`` (a ``before_send`` hook) adds a Content-Security-Policy that lets pages load
  scripts, styles, fonts and images only from the hub itself (no inline script, no CDN),
  ``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``, a Referrer-Policy and, when
  the hub is reached over https, Strict-Transport-Security. Players may fetch media from
  object storage and cloud CDNs (``media-src``/``connect-src``), because presigned storage URLs
  and provider playback URLs live on other hosts. The Swagger UI under ``/schema`` loads its
  script from a CDN and gets its own, looser policy.
- Sign-in throttling: failed sign-ins are counted per username and per client address in the
  ``login_failure`` table (so every serve process sees the same counts). After
  ``SHAREHUB_LOGIN_FREE_FAILURES`` failures for a username (``SHAREHUB_LOGIN_ADDRESS_FREE_FAILURES``
  for an address) each further attempt must wait 1, 2, 4, ... seconds after the last failure
  (at most ``SHAREHUB_LOGIN_LOCKOUT_SECONDS``); an attempt made sooner answers 429 with
  ``Retry-After`` and the password is not even checked. Failures are forgotten
  ``SHAREHUB_LOGIN_LOCKOUT_SECONDS`` after the last one; a good sign-in clears its username's.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.types import Message, Scope

from hub import accounts
from hub.accounts import Principal
from hub.settings import Settings
from hub.tables import LoginFailure

# ------------------------------------------------------------------------------ headers

SCHEMA_PREFIX = "/schema"
SWAGGER_CDN = "https://cdn.jsdelivr.net"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(settings: Settings) -> str:
    """The pages' policy: the hub's own assets only; media also from storage and CDNs."""
    media = ["'self'", "blob:", "https:"]
    if not settings.public_url.startswith("https://"):
        media.append("http:")  # pages over http may play http streams (https pages may not)
    storage = _origin(settings.s3_endpoint_url)
    if storage and not storage.startswith("https:") and "http:" not in media:
        media.append(storage)
    media_sources = " ".join(media)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"media-src {media_sources}",
            f"connect-src 'self' {' '.join(media[1:])}",
            "worker-src 'self' blob:",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


SCHEMA_POLICY = "; ".join(
    [
        "default-src 'self'",
        f"script-src 'self' 'unsafe-inline' {SWAGGER_CDN}",
        f"style-src 'self' 'unsafe-inline' {SWAGGER_CDN}",
        "img-src 'self' data: https:",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    ]
)


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if settings.public_url.startswith("https://"):
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


class SecurityHeaders:
    """A ``before_send`` hook adding the security headers to every HTTP answer, errors and
    404s included (a handler's own CSP is kept)."""

    def __init__(self, settings: Settings) -> None:
        self.page_policy = content_security_policy(settings).encode()
        self.schema_policy = SCHEMA_POLICY.encode()
        self.headers = security_headers(settings)

    async def __call__(self, message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        path = scope.get("path", "")
        schema = path == SCHEMA_PREFIX or path.startswith(SCHEMA_PREFIX + "/")
        headers = list(message.get("headers", []))
        present = {bytes(name).lower() for name, _ in headers}
        if b"content-security-policy" not in present:
            policy = self.schema_policy if schema else self.page_policy
            headers.append((b"content-security-policy", policy))
        headers.extend(h for h in self.headers if h[0] not in present)
        message["headers"] = headers


def secure_cookies(settings: Settings, request: Request[Any, Any, Any]) -> bool:
    """Cookies carry ``Secure`` when the hub is reached over https (or this request was)."""
    return settings.public_url.startswith("https://") or request.url.scheme == "https"


# ------------------------------------------------------------------------ sign-in throttle


@dataclass
class Throttled(Exception):
    """Too many failed sign-ins: wait ``retry_after`` seconds."""

    retry_after: int
    reason: str  # "username" or "address"


def _keys(username: str, address: str) -> tuple[str, str]:
    return "u:" + username.strip().lower()[:64], "a:" + address[:120]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def trusted_networks(value: str) -> tuple[Network, ...]:
    """``SHAREHUB_TRUSTED_PROXIES`` parsed (entries that are no address are ignored)."""
    out: list[Network] = []
    for part in value.replace(" ", ",").split(","):
        if part.strip():
            try:
                out.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                continue
    return tuple(out)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def address_behind_proxies(peer: str, forwarded_for: list[str], trusted: str) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the
    right-most address of ``X-Forwarded-For`` that is not a trusted proxy (each proxy appends
    the address it saw, so only the ones right of the first untrusted hop are ours)."""
    networks = trusted_networks(trusted)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage where an address should be: the proxy's own address
    return hops[0] if hops else peer


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's address, used by the sign-in throttle and the beacons' rate limits alike:
    the peer's, or behind the proxies named in ``SHAREHUB_TRUSTED_PROXIES`` the right-most
    untrusted ``X-Forwarded-For`` hop."""
    peer = request.client.host if request.client else "unknown"
    settings: Settings = request.app.state["settings"]
    if not settings.trusted_proxies:
        return peer
    return address_behind_proxies(
        peer, request.headers.getall("x-forwarded-for", []), settings.trusted_proxies
    )


def wait_seconds(failures: int, last_ms: int, free: int, cap: int, now_ms: int) -> int:
    """Seconds before the next attempt may be made (0: now). Pure; the rule in one place."""
    if free <= 0 or failures < free or now_ms - last_ms > cap * 1000:
        return 0
    delay_ms = min(2 ** min(failures - free, 30), cap) * 1000
    left_ms = last_ms + delay_ms - now_ms
    return 0 if left_ms <= 0 else -(-left_ms // 1000)


clock: Callable[[], float] = time.time
"""The sign-in throttle's clock, seconds since the epoch (tests replace it to control time)."""


def _now_ms() -> int:
    return int(clock() * 1000)


async def check_login(username: str, address: str, settings: Settings) -> None:
    """Raise ``Throttled`` when this username or address must wait before trying again."""
    user_key, address_key = _keys(username, address)
    rows = (
        await LoginFailure.select(
            LoginFailure.key, LoginFailure.failures, LoginFailure.last_failure
        )
        .where(LoginFailure.key.is_in([user_key, address_key]))
        .run()
    )
    now = _now_ms()
    cap = settings.login_lockout_seconds
    for row in rows:
        is_user = row["key"] == user_key
        free = settings.login_free_failures if is_user else settings.login_address_free_failures
        wait = wait_seconds(row["failures"], row["last_failure"], free, cap, now)
        if wait > 0:
            raise Throttled(wait, "username" if is_user else "address")


_UPSERT = (
    'INSERT INTO login_failure ("key", failures, last_failure) VALUES ({}, 1, {}) '
    'ON CONFLICT ("key") DO UPDATE SET '
    "failures = CASE WHEN login_failure.last_failure < {} THEN 1 "
    "ELSE login_failure.failures + 1 END, "
    "last_failure = excluded.last_failure"
)


async def record_failure(username: str, address: str, settings: Settings) -> None:
    """Count a failed sign-in for the username and the address (atomic upserts)."""
    now = _now_ms()
    forgotten = now - settings.login_lockout_seconds * 1000
    for key in _keys(username, address):
        await LoginFailure.raw(_UPSERT, key, now, forgotten).run()
    await LoginFailure.delete().where(LoginFailure.last_failure < forgotten).run()


async def record_success(username: str) -> None:
    """A good sign-in clears its username's failures (the address keeps its count)."""
    user_key, _ = _keys(username, "")
    await LoginFailure.delete().where(LoginFailure.key == user_key).run()


async def throttled_check_password(
    principal: Principal, password: str, address: str, settings: Settings
) -> bool:
    """Whether ``password`` is the signed-in user's, behind the sign-in throttle (per user and
    per address): a password change is no unlimited oracle. May raise ``Throttled``."""
    found = await throttled_authenticate(principal.username, password, address, settings)
    return found is not None and found.user_id == principal.user_id


async def throttled_authenticate(
    username: str, password: str, address: str, settings: Settings
) -> Principal | None:
    """``accounts.authenticate`` behind the throttle: the principal, or None; may raise
    ``Throttled`` before checking the password."""
    await check_login(username, address, settings)
    principal = await accounts.authenticate(username, password)
    if principal is None:
        await record_failure(username, address, settings)
    else:
        await record_success(username)
    return principal
