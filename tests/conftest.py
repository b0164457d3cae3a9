"""Fixtures: the hub on a real SQLite file and a real PostgreSQL database, and signed-in clients.

Tests that take the ``db`` fixture run twice: once on SQLite, once on PostgreSQL. PostgreSQL
needs ``SHAREHUB_TEST_PG_URL`` (``.ci/run`` sets it to a throw-away database); without it those
runs are reported as skipped, with the reason.
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import accounts, db
from hub.app import create_app
from hub.settings import Settings
from hub.tables import Course, Role, ShareCenter, Teacher, User

PG_ENV = "SHAREHUB_TEST_PG_URL"
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database URL of one backend."""
    if request.param == "postgres":
        url = os.environ.get(PG_ENV)
        if not url:
            pytest.skip(f"PostgreSQL tests need {PG_ENV} (set by .ci/run)")
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'hub.sqlite'}"


@pytest.fixture(scope="session")
async def bound(backend: str) -> AsyncIterator[str]:
    engine = db.engine_for(backend)
    db.bind(engine)
    await db.open_engine(engine)
    if not backend.startswith("sqlite"):
        await reset_schema()
    await db.migrate()
    yield backend
    await db.close_engine(engine)


async def reset_schema() -> None:
    """A throw-away PostgreSQL database may hold a previous run's tables: start from empty."""
    await db.engine().run_ddl("DROP SCHEMA public CASCADE")
    await db.engine().run_ddl("CREATE SCHEMA public")


async def truncate_all() -> None:
    tables = [t._meta.tablename for t in db.bound_tables() if t._meta.tablename != "migration"]
    if db.is_sqlite():
        for name in reversed(tables):
            await db.engine().run_ddl(f'DELETE FROM "{name}"')
        # ids keep counting up between tests; nothing depends on them starting at 1
    else:
        names = ", ".join(f'"{n}"' for n in tables)
        await db.engine().run_ddl(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
async def database(bound: str) -> str:
    """An empty, migrated database on the current backend."""
    await truncate_all()
    return bound


def hub_settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key-0123456789",
        timezone="Asia/Shanghai",
        public_url="http://testserver.local",
    )


@pytest.fixture
def settings(tmp_path: Path, database: str) -> Settings:
    return hub_settings(tmp_path, database)


@dataclass
class World:
    """A small programme: an admin, two teachers, two centers, their users and tokens."""

    client: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def auth(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    async def get(self, url: str, who: str | None = None, **kw: Any) -> Any:
        return await self.client.get(url, headers=self.auth(who), **kw)

    async def post(self, url: str, json: Any = None, who: str | None = None, **kw: Any) -> Any:
        return await self.client.post(url, json=json, headers=self.auth(who), **kw)

    async def patch(self, url: str, json: Any = None, who: str | None = None) -> Any:
        return await self.client.patch(url, json=json, headers=self.auth(who))

    async def delete(self, url: str, who: str | None = None) -> Any:
        return await self.client.delete(url, headers=self.auth(who))


@functools.cache
def password_hash(username: str) -> str:
    """Argon2 is slow on purpose; hash each test user's password once per run."""
    return accounts.hash_password("password-" + username)


async def seed(world: World) -> None:
    ids = world.ids
    ids["center"] = (
        await ShareCenter.insert(
            ShareCenter(name="镇雄共享中心", province="云南省", city="昭通市", county="镇雄县")
        ).run()
    )[0]["id"]
    ids["center2"] = (
        await ShareCenter.insert(
            ShareCenter(
                name="威宁共享中心", province="贵州省", city="毕节市", county="威宁县", rooms=2
            )
        ).run()
    )[0]["id"]
    users = {
        "admin": (Role.admin, None),
        "teacher": (Role.teacher, None),
        "teacher2": (Role.teacher, None),
        "center": (Role.center, ids["center"]),
        "center2": (Role.center, ids["center2"]),
    }
    for name, (role, center_id) in users.items():
        uid = (
            await User.insert(
                User(
                    username=name,
                    password_hash=password_hash(name),
                    role=role.value,
                    center=center_id,
                )
            ).run()
        )[0]["id"]
        ids[f"user_{name}"] = uid
        if role is Role.teacher:
            ids[name + "_id"] = (
                await Teacher.insert(Teacher(name=f"{name}老师", school="北京小学", user=uid)).run()
            )[0]["id"]
        world.tokens[name] = await accounts.create_token(uid, "tests")
    ids["course"] = (
        await Course.insert(
            Course(title="数学直播课", subject="数学", teacher=ids["teacher_id"])
        ).run()
    )[0]["id"]
    ids["course2"] = (
        await Course.insert(
            Course(title="美术直播课", subject="美术", teacher=ids["teacher2_id"])
        ).run()
    )[0]["id"]


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)  # same event loop as the database pool
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        w = World(client=client)
        await seed(w)
        yield w


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"


@pytest.fixture(scope="module")
async def module_client(
    bound: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """One app and client for a whole module (building the app is the slow part of a test)."""
    app = create_app(hub_settings(tmp_path_factory.mktemp("module"), bound), manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield World(client=c)


async def reseeded(module: World) -> World:
    """conftest's seeded programme on an emptied database, served by the module's app."""
    await truncate_all()
    fresh = World(client=module.client)
    await seed(fresh)
    return fresh
