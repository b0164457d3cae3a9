"""Fixtures: the hub on a real SQLite file and a real PostgreSQL database, and signed-in clients.

Tests that take the ``db`` fixture run twice: once on SQLite, once on PostgreSQL. PostgreSQL
needs ``SHAREHUB_TEST_PG_URL`` (``.ci/run`` sets it to a throw-away database); without it those
runs are reported as skipped, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.tables import Course, Job, JobState, Role, ShareCenter, Teacher, User
from hub.views import FlushResult
from tests import cluster
from tests.cluster import Cluster

PG_ENV = "SHAREHUB_TEST_PG_URL"
BACKENDS = ["sqlite", "postgres", "cluster"]
IN_PROCESS = "in_process"
"""Marker of tests that need the app in the test's own process (skipped on ``cluster``)."""
CROSS_PROCESS = "cross_process"
"""Marker of the tests whose behaviour depends on several processes sharing one database and one
store (view tallies, throttles, caches, jobs, callbacks, exports): only these get a ``cluster``
variant. The rest (registry edits, pages, schedule rules) would repeat the PostgreSQL run."""
HUB_FIXTURES = ("world", "module_client", "seeded")
"""Fixtures that talk to the hub (the cluster's servers on ``cluster``)."""
HERE = Path(__file__).resolve().parent
PROCESS_TESTS = ("test_views_processes.py", "test_scale_out.py")
"""Tests that start hub processes of their own: no cluster variant."""


def cluster_mode(url: str) -> bool:
    """Whether ``url`` (a ``backend`` value) is the cluster backend's database."""
    pg = os.environ.get(PG_ENV)
    return bool(pg) and url == cluster.cluster_url(pg or "")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database URL of one backend (``cluster``: a database of its own, next to PG's)."""
    if request.param in ("postgres", "cluster"):
        url = os.environ.get(PG_ENV)
        if not url:
            pytest.skip(f"PostgreSQL tests need {PG_ENV} (set by .ci/run)")
        return cluster.cluster_url(url) if request.param == "cluster" else url
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'hub.sqlite'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A cluster variant only for ``cross_process`` tests that talk to the hub through
    ``HUB_FIXTURES`` (not unit tests, not tests with processes or apps of their own); the
    ``in_process`` ones among them are skipped there, with why."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        spec = getattr(item, "callspec", None)
        if spec is None or spec.params.get("backend") != "cluster":
            keep.append(item)
            continue
        if item.get_closest_marker(CROSS_PROCESS) is None:
            dropped.append(item)
            continue
        marker = item.get_closest_marker(IN_PROCESS)
        if marker is not None:
            why = marker.args[0] if marker.args else "needs the app in the test process"
            item.add_marker(pytest.mark.skip(reason=f"in-process only: {why}"))
        else:
            names = getattr(item, "fixturenames", ())
            talks = any(name in names for name in HUB_FIXTURES)
            # tests/media, e2e, faults and browser run hub processes or workers of their own
            own_processes = item.path.name in PROCESS_TESTS or item.path.parent != HERE
            if own_processes or not talks:
                dropped.append(item)
                continue
        keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
async def hub_cluster(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster | None]:
    """The running cluster on the ``cluster`` backend (started once), else None."""
    if not cluster_mode(backend):
        yield None
        return
    await cluster.ensure_database(backend)
    await cluster.reset_schema(backend)
    with contextlib.ExitStack() as stack:
        root = tmp_path_factory.mktemp("cluster")
        running = await asyncio.to_thread(
            stack.enter_context, cluster.running_cluster(backend, root)
        )
        RUNNING.append(running)
        try:
            yield running
        finally:
            RUNNING.remove(running)


RUNNING: list[Cluster] = []
"""The cluster while it runs (a failed test's report gets its processes' log tails)."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    spec = getattr(item, "callspec", None)
    if report.failed and RUNNING and spec is not None and spec.params.get("backend") == "cluster":
        report.sections.append(("cluster processes' logs", RUNNING[0].logs()))


@pytest.fixture(scope="session")
async def bound(backend: str, hub_cluster: Cluster | None) -> AsyncIterator[str]:
    engine = db.engine_for(backend)
    db.bind(engine)
    await db.open_engine(engine)
    if hub_cluster is None:  # the cluster ran ``sharehub migrate`` on an empty schema
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
    """Empty every table. Ids keep counting up (nothing depends on them starting at 1): hub
    processes keep short per-id caches, and a reused id would answer with another test's rows."""
    tables = [t._meta.tablename for t in db.bound_tables() if t._meta.tablename != "migration"]
    if db.is_sqlite():
        for name in reversed(tables):
            await db.engine().run_ddl(f'DELETE FROM "{name}"')
    else:
        names = ", ".join(f'"{n}"' for n in tables)
        await db.engine().run_ddl(f"TRUNCATE {names} CASCADE")


@pytest.fixture
async def database(bound: str, hub_cluster: Cluster | None) -> str:
    """An empty, migrated database on the current backend (on ``cluster``: once the processes
    have written the last test's beacons and finished its jobs, so none lands in this one)."""
    if hub_cluster is not None:
        await cluster.settled(hub_cluster)
    await truncate_all()
    return bound


def hub_settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key="test-secret-key-0123456789",
        timezone="Asia/Shanghai",
        public_url="http://testserver.local",
        # every request asks who its credential is, as on the cluster: tests move token clocks
        # and revoke behind the app's back; tests of the memory itself turn it on
        credential_cache_seconds=0,
        figures_cache_seconds=0,  # tests write rows behind the app's back
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
    cluster: Cluster | None = None
    """The hub's processes on the ``cluster`` backend; None when the app is in this process."""

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


def app_settings(world: World) -> Settings:
    """The settings of the hub that ``world`` talks to (the processes' on ``cluster``)."""
    if world.cluster is not None:
        return world.cluster.settings()
    return world.client._transport.app.state.settings  # type: ignore[attr-defined,no-any-return]


def app_plugins(world: World) -> PluginHost:
    """The plugins of the hub that ``world`` talks to (on ``cluster``: loaded here alike)."""
    if world.cluster is not None:
        return PluginHost(world.cluster.settings())
    return world.client._transport.app.state.plugins  # type: ignore[attr-defined,no-any-return]


async def flush_views(world: World) -> FlushResult | None:
    """Write the beacon tallies: the app's flush here; on ``cluster``, wait (bounded) for the
    servers' periodic flushes to have written every beacon they accepted (no result then)."""
    if world.cluster is not None:
        await cluster.views_flushed(world.client, world.cluster)
        return None
    counter = world.client._transport.app.state.views  # type: ignore[attr-defined]
    return await counter.flush()  # type: ignore[no-any-return]


async def jobs_finished(world: World) -> list[dict[str, Any]]:
    """On ``cluster``: until the workers have finished every queued job, then each job ran
    once and succeeded. In this process nothing runs them (the test runs the handlers)."""
    not_periodic = Job.dedupe_key.is_null() | Job.dedupe_key.not_like("periodic:%")
    if world.cluster is not None:

        async def idle() -> bool:
            busy = Job.state.is_in([JobState.todo.value, JobState.doing.value])
            return await Job.count().where(busy & not_periodic).run() == 0

        await cluster.until("the workers to finish the queued jobs", idle, world.cluster)
    # the workers' periodic housekeeping jobs (periodic:<kind>) come and go on their own
    rows = await Job.select().where(not_periodic).order_by(Job.id).run()
    if world.cluster is not None:
        ran = [(r["id"], r["kind"], r["state"], r["attempts"]) for r in rows]
        assert all(state == JobState.succeeded and n == 1 for _, _, state, n in ran), ran
    return rows


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


@contextlib.asynccontextmanager
async def hub_client(
    settings: Settings, running: Cluster | None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the hub: an in-process app, or the cluster's servers in turn."""
    if running is not None:
        async with cluster.client(running) as c:
            yield c
        return
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)  # same event loop as the database pool
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c


@pytest.fixture
async def world(settings: Settings, hub_cluster: Cluster | None) -> AsyncIterator[World]:
    async with hub_client(settings, hub_cluster) as client:
        w = World(client=client, cluster=hub_cluster)
        await seed(w)
        yield w


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"


@pytest.fixture(scope="module")
async def module_client(
    bound: str, hub_cluster: Cluster | None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """One app and client for a whole module (building the app is the slow part of a test)."""
    settings = hub_settings(tmp_path_factory.mktemp("module"), bound)
    async with hub_client(settings, hub_cluster) as c:
        yield World(client=c, cluster=hub_cluster)


async def reseeded(module: World) -> World:
    """conftest's seeded programme on an emptied database, served by the module's app."""
    await truncate_all()
    fresh = World(client=module.client, cluster=module.cluster)
    await seed(fresh)
    return fresh
