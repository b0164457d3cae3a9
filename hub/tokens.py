"""API tokens: made with a name and an expiry, listed, revoked; only a SHA-256 of a token is
stored, so its value is shown once.

A token lives ``DEFAULT_DAYS`` days unless asked otherwise, at most ``MAX_DAYS``. Using one
stamps its last-used time (at most once a minute, so reading does not write on every call).
A password reset, a deactivation or a role change by an administrator revokes every token of
the user (``end_everything``); a self-service password change ends the other sign-ins but
leaves the user's scripts running (they revoke tokens themselves).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.tables import ApiToken, User

TOKEN_PREFIX = "shk_"
DEFAULT_DAYS = 90
MAX_DAYS = 365
LAST_USED_EVERY = timedelta(seconds=60)
"""A token's last-used time is written when it is this much older than now."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


async def create_token(user_id: int, name: str = "", days: int = DEFAULT_DAYS) -> tuple[str, int]:
    """A new token (its value, its id), valid ``days`` days (1..``MAX_DAYS``)."""
    days = max(1, min(days, MAX_DAYS))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    rows = await ApiToken.insert(
        ApiToken(
            user=user_id,
            name=name,
            token_hash=hash_token(token),
            expires_at=now() + timedelta(days=days),
        )
    ).run()
    return token, int(rows[0]["id"])


async def user_of_token(token: str) -> int | None:
    """The user a live token belongs to (None: unknown, revoked or expired); stamps its use."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = (
        await ApiToken.select(
            ApiToken.id, ApiToken.user, ApiToken.revoked, ApiToken.expires_at, ApiToken.last_used_at
        )
        .where(ApiToken.token_hash == hash_token(token))
        .first()
        .run()
    )
    if row is None or row["revoked"]:
        return None
    current = now()
    expires = _aware(row["expires_at"])
    if expires is not None and expires <= current:
        return None
    used = _aware(row["last_used_at"])
    if used is None or current - used >= LAST_USED_EVERY:
        await (
            ApiToken.update({ApiToken.last_used_at: current}).where(ApiToken.id == row["id"]).run()
        )
    return int(row["user"])


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


COLUMNS = (
    ApiToken.id,
    ApiToken.name,
    ApiToken.user,
    ApiToken.user.username.as_alias("username"),
    ApiToken.created_at,
    ApiToken.expires_at,
    ApiToken.last_used_at,
    ApiToken.revoked,
)


async def tokens_of(user_id: int | None) -> list[dict[str, Any]]:
    """The tokens of one user (None: every user's), newest first; never the hashes."""
    query = ApiToken.select(*COLUMNS).order_by(ApiToken.id, ascending=False)
    if user_id is not None:
        query = query.where(ApiToken.user == user_id)
    return list(await query.run())


async def token_row(token_id: int) -> dict[str, Any] | None:
    return await ApiToken.select(*COLUMNS).where(ApiToken.id == token_id).first().run()


async def revoke(token_id: int) -> None:
    await ApiToken.update({ApiToken.revoked: True}).where(ApiToken.id == token_id).run()


async def revoke_all(user_id: int) -> None:
    await (
        ApiToken.update({ApiToken.revoked: True})
        .where(
            (ApiToken.user == user_id) & (ApiToken.revoked == False)  # noqa: E712
        )
        .run()
    )


async def end_everything(user_id: int) -> None:
    """End every sign-in (session cookies issued until now) and revoke every token of a user."""
    stamp = int(time.time() * 1000)
    await User.update({User.sessions_after: stamp}).where(User.id == user_id).run()
    await revoke_all(user_id)
