"""User accounts: password hashing (Argon2id), API tokens, signed session cookies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub import rows, tokens
from hub.tables import Role, ShareCenter, User

_hasher = PasswordHasher()  # Argon2id, salted, RFC 9106 low-memory profile
TOKEN_PREFIX = tokens.TOKEN_PREFIX
hash_token = tokens.hash_token


@dataclass(frozen=True)
class Principal:
    """Who is asking: the resolved user, with the center or teacher they act for."""

    user_id: int
    username: str
    role: Role
    center_id: int | None = None
    teacher_id: int | None = None
    timezone: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def create_user(
    username: str,
    password: str,
    role: Role,
    display_name: str = "",
    center_id: int | None = None,
    *,
    password_hash: str | None = None,
) -> int:
    """A new user; ``password_hash``: the hash of ``password`` made already (the demo's
    twenty accounts share one password and one hash, made once)."""
    rows = await User.insert(
        User(
            username=username,
            display_name=display_name or username,
            password_hash=password_hash or hash_password(password),
            role=role.value,
            center=center_id,
        )
    ).run()
    return int(rows[0]["id"])


async def create_token(user_id: int, name: str = "") -> str:
    """A new API token with the default expiry (``hub.tokens``); shown once."""
    token, _ = await tokens.create_token(user_id, name)
    return token


PRINCIPAL_SQL = """SELECT u.id AS id, u.username AS username, u.role AS role, u.center AS center,
u.active AS active, u.timezone AS timezone, u.sessions_after AS sessions_after,
sc.timezone AS center_timezone, t.id AS teacher_id
FROM hub_user u
LEFT JOIN share_center sc ON sc.id = u.center
LEFT JOIN teacher t ON t."user" = u.id
WHERE u.id = ?"""
"""Who a user is, in one query (every signed-in request asks it, unless remembered)."""


async def principal_for_user(user_id: int, issued_ms: int | None = None) -> Principal | None:
    """The user's principal; None when unknown, retired, or (``issued_ms`` given: a session
    cookie issued then) when the user signed out or changed password since."""
    found = await rows.fetch(PRINCIPAL_SQL, [user_id])
    row = found[0] if found else None
    if row is None or not row["active"]:
        return None
    if issued_ms is not None and issued_ms < (row["sessions_after"] or 0):
        return None
    teacher_id = row["teacher_id"] if row["role"] == Role.teacher.value else None
    return Principal(
        user_id=row["id"],
        username=row["username"],
        role=Role(row["role"]),
        center_id=row["center"],
        teacher_id=teacher_id,
        timezone=row["timezone"] or row["center_timezone"] or "",
    )


async def principal_for_token(token: str) -> Principal | None:
    """The principal of a live API token (None: unknown, revoked or expired)."""
    user_id = await tokens.user_of_token(token)
    return None if user_id is None else await principal_for_user(user_id)


async def authenticate(username: str, password: str) -> Principal | None:
    row = (
        await User.select(User.id, User.password_hash)
        .where(User.username == username)
        .first()
        .run()
    )
    if row is None:
        verify_password(_DUMMY_HASH, password)  # same cost whether or not the user exists
        return None
    if not verify_password(row["password_hash"], password):
        return None
    return await principal_for_user(row["id"])


_DUMMY_HASH = _hasher.hash("not-a-real-password")


async def deactivated(username: str, password: str) -> bool:
    """Whether a sign-in failed because the account was deactivated: the right password of a
    user who is not active (a wrong password says nothing about the account)."""
    row = (
        await User.select(User.password_hash, User.active)
        .where(User.username == username)
        .first()
        .run()
    )
    return row is not None and not row["active"] and verify_password(row["password_hash"], password)


async def center_exists(center_id: int) -> bool:
    return await ShareCenter.exists().where(ShareCenter.id == center_id).run()


# --- signed session cookies (stateless, so any serve process can read them) ---


def sign_session(user_id: int, secret: str, now: float | None = None) -> str:
    """``<user id>.<issued, Unix ms>.<HMAC-SHA256>``."""
    issued = int((now if now is not None else time.time()) * 1000)
    payload = f"{user_id}.{issued}"
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return payload + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def read_session_issued(
    value: str, secret: str, max_age: int, now: float | None = None
) -> tuple[int, int] | None:
    """(user id, issued Unix ms) of a session cookie, or None when forged, malformed or
    expired. Cookies from before the stamp was in milliseconds are read as seconds."""
    try:
        user_id_s, issued_s, mac_s = value.split(".")
        user_id, issued = int(user_id_s), int(issued_s)
        given = base64.urlsafe_b64decode(mac_s + "=" * (-len(mac_s) % 4))
    except ValueError:  # also binascii.Error
        return None
    expected = hmac.new(secret.encode(), f"{user_id}.{issued}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, given):
        return None
    issued_ms = issued if issued > 10**11 else issued * 1000
    current = now if now is not None else time.time()
    if current - issued_ms / 1000 > max_age or issued_ms / 1000 > current + 60:
        return None
    return user_id, issued_ms


def read_session(value: str, secret: str, max_age: int, now: float | None = None) -> int | None:
    """The user id in a session cookie, or None when forged, malformed or expired."""
    found = read_session_issued(value, secret, max_age, now)
    return found[0] if found else None


async def end_sessions(user_id: int) -> int:
    """Void every session cookie of the user issued until now (sign-out, password change);
    the stamp, Unix ms. API tokens are not affected (revoke those one by one)."""
    stamp = int(time.time() * 1000)
    await User.update({User.sessions_after: stamp}).where(User.id == user_id).run()
    return stamp


def utcnow() -> datetime:
    return datetime.now(UTC)
