"""Sign-in, API tokens and user management."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import TooManyRequestsException

from hub import accounts, passwords, security
from hub.accounts import Principal
from hub.api.common import need
from hub.auth import SESSION_COOKIE, admin_only, signed_in
from hub.errors import Conflict, Invalid, NotAuthorized, NotFound
from hub.settings import Settings
from hub.tables import Role, User

Username = Annotated[str, msgspec.Meta(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
Password = Annotated[
    str,
    msgspec.Meta(
        min_length=passwords.MIN_LENGTH,
        max_length=passwords.MAX_LENGTH,
        description="at least 10 characters, not a common password, not containing the username",
    ),
]


class Login(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class Me(msgspec.Struct):
    id: int
    username: str
    role: str
    center_id: int | None
    teacher_id: int | None


class UserIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    role: Role
    display_name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    center_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None


class UserOut(msgspec.Struct):
    id: int
    username: str
    display_name: str
    role: str
    center_id: int | None
    active: bool


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    new_password: Password


def too_many(exc: security.Throttled) -> TooManyRequestsException:
    """429 with Retry-After: too many wrong passwords for this user or from this address."""
    return TooManyRequestsException(
        f"too many failed sign-ins for this {exc.reason}; try again in {exc.retry_after} s",
        headers={"Retry-After": str(exc.retry_after)},
    )


def me_of(p: Principal) -> Me:
    return Me(p.user_id, p.username, p.role.value, p.center_id, p.teacher_id)


def session_cookie(user_id: int, settings: Settings, request: Request[Any, Any, Any]) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=accounts.sign_session(user_id, settings.secret_key),
        max_age=settings.session_max_age,
        httponly=True,
        samesite="lax",
        secure=security.secure_cookies(settings, request),
        path="/",
    )


def cleared_cookie(settings: Settings, request: Request[Any, Any, Any]) -> Cookie:
    """The session cookie, emptied (sign-out)."""
    return Cookie(
        key=SESSION_COOKIE,
        value="",
        max_age=0,
        path="/",
        httponly=True,
        samesite="lax",
        secure=security.secure_cookies(settings, request),
    )


def uses_session_cookie(request: Request[Any, Any, Any]) -> bool:
    return SESSION_COOKIE in request.cookies and not request.headers.get("authorization")


class AccountController(Controller):
    path = "/api/v1"
    tags = ["accounts"]

    @post("/auth/login", status_code=200, opt={"origin_check": False})
    async def login(
        self, data: Login, settings: Settings, request: Request[Any, Any, Any]
    ) -> Response[Me]:
        """Sign in with a username and password; sets the session cookie.

        Repeated failures for a username or from an address answer 429 with Retry-After."""
        try:
            principal = await security.throttled_authenticate(
                data.username, data.password, security.client_address(request), settings
            )
        except security.Throttled as exc:
            raise too_many(exc) from None
        if principal is None:
            raise NotAuthorized("wrong username or password", field="password")
        return Response(
            me_of(principal), cookies=[session_cookie(principal.user_id, settings, request)]
        )

    @post("/auth/logout", status_code=200)
    async def logout(
        self, principal: Principal | None, settings: Settings, request: Request[Any, Any, Any]
    ) -> Response[dict[str, str]]:
        """Sign out: the session cookie is cleared and every other sign-in of the user ends."""
        if principal is not None and uses_session_cookie(request):
            await accounts.end_sessions(principal.user_id)
        return Response({"detail": "signed out"}, cookies=[cleared_cookie(settings, request)])

    @get("/me", guards=[signed_in])
    async def me(self, principal: Principal | None) -> Me:
        """The signed-in user."""
        return me_of(need(principal))

    @post("/me/password", guards=[signed_in], status_code=200)
    async def change_password(
        self,
        data: PasswordChange,
        principal: Principal | None,
        settings: Settings,
        request: Request[Any, Any, Any],
    ) -> Response[dict[str, str]]:
        """Change your own password; your other sign-ins end (this one gets a new cookie)."""
        who = need(principal)
        address = security.client_address(request)
        try:
            right = await security.throttled_check_password(
                who, data.current_password, address, settings
            )
        except security.Throttled as exc:
            raise too_many(exc) from None
        if not right:
            raise Invalid("the current password is wrong", field="current_password")
        if found := passwords.problem(data.new_password, who.username):
            raise Invalid(found, field="new_password")
        await (
            User.update({User.password_hash: accounts.hash_password(data.new_password)})
            .where(User.id == who.user_id)
            .run()
        )
        await accounts.end_sessions(who.user_id)
        cookies = [session_cookie(who.user_id, settings, request)]
        return Response(
            {"detail": "password changed"}, cookies=cookies if uses_session_cookie(request) else []
        )

    @get("/users", guards=[admin_only])
    async def list_users(self) -> list[UserOut]:
        """All user accounts (administrators)."""
        rows = await User.select().order_by(User.id).run()
        return [user_out(r) for r in rows]

    @post("/users", guards=[admin_only])
    async def create_user(self, data: UserIn) -> UserOut:
        """Create a user (administrators). Center operators name their center."""
        user_id = await add_user(data)
        row = await User.select().where(User.id == user_id).first().run()
        assert row is not None
        return user_out(row)


async def check_center_of(role: Role, center_id: int | None) -> None:
    """A center operator names a center, and a named center exists (API and pages)."""
    if role is Role.center and center_id is None:
        raise Invalid("a center operator needs a center_id", field="center_id")
    if center_id is not None and not await accounts.center_exists(center_id):
        raise NotFound(f"share-center {center_id} not found", field="center_id")


async def add_user(data: UserIn) -> int:
    """Create a user (the API and the administrator's page); the new id."""
    if found := passwords.problem(data.password, data.username):
        raise Invalid(found, field="password")
    await check_center_of(data.role, data.center_id)
    if await User.exists().where(User.username == data.username).run():
        raise Conflict(f"username {data.username!r} is taken", field="username")
    return await accounts.create_user(
        data.username, data.password, data.role, data.display_name, data.center_id
    )


def user_out(r: dict[str, Any]) -> UserOut:
    return UserOut(r["id"], r["username"], r["display_name"], r["role"], r["center"], r["active"])
