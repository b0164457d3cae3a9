"""API tokens: make one (shown once), list your own, revoke one; administrators list and
revoke anyone's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post
from litestar.params import Parameter

from hub import tokens
from hub.accounts import Principal
from hub.api.common import PathId, need
from hub.auth import signed_in
from hub.errors import Forbidden, NotFound


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    expires_in_days: Annotated[
        int,
        msgspec.Meta(
            ge=1, le=tokens.MAX_DAYS, description="days the token lives (default 90, at most 365)"
        ),
    ] = tokens.DEFAULT_DAYS


class TokenOut(msgspec.Struct):
    id: int
    token: str
    name: str
    expires_at: datetime


class TokenInfo(msgspec.Struct):
    id: int
    name: str
    user_id: int
    username: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


def info_of(row: dict[str, Any]) -> TokenInfo:
    return TokenInfo(
        id=row["id"],
        name=row["name"],
        user_id=row["user"],
        username=row["username"] or "",
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked=bool(row["revoked"]),
    )


UserFilter = Annotated[
    int | None,
    Parameter(
        ge=1,
        le=2**31 - 1,
        description="administrators: the tokens of this user (default: your own)",
    ),
]
AllFilter = Annotated[
    bool, Parameter(description="administrators: every user's tokens (default: your own)")
]


class TokenController(Controller):
    path = "/api/v1/tokens"
    tags = ["accounts"]

    @post("/", guards=[signed_in])
    async def create_token(self, data: TokenIn, principal: Principal | None) -> TokenOut:
        """A new API token for scripts; shown once, send it as 'Authorization: Bearer ...'.
        It expires after ``expires_in_days`` (default 90, at most 365)."""
        who = need(principal)
        token, token_id = await tokens.create_token(who.user_id, data.name, data.expires_in_days)
        row = await tokens.token_row(token_id)
        assert row is not None
        return TokenOut(id=token_id, token=token, name=data.name, expires_at=row["expires_at"])

    @get("/", guards=[signed_in])
    async def list_tokens(
        self, principal: Principal | None, user_id: UserFilter = None, all: AllFilter = False
    ) -> list[TokenInfo]:
        """Your API tokens (never their values); administrators may ask for one user's
        (``user_id``) or everyone's (``all=true``)."""
        who = need(principal)
        if (all or (user_id is not None and user_id != who.user_id)) and not who.is_admin:
            raise Forbidden("only administrators see other users' tokens", field="user_id")
        owner = None if all else (user_id or who.user_id)
        return [info_of(r) for r in await tokens.tokens_of(owner)]

    @delete("/{token_id:int}", guards=[signed_in], status_code=204)
    async def revoke_token(self, token_id: PathId, principal: Principal | None) -> None:
        """Revoke a token: yours, or (administrators) anyone's. It signs nothing in after."""
        who = need(principal)
        row = await tokens.token_row(token_id)
        if row is None or (row["user"] != who.user_id and not who.is_admin):
            raise NotFound(f"token {token_id} not found", field="token_id")
        await tokens.revoke(token_id)
