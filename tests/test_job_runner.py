"""The core job runner: kinds registered by plugins, payload checks, per-kind leases,
periodic housekeeping as jobs, and a restarted worker taking its own leases back at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hub import jobs
from hub.hookspecs import hookimpl
from hub.job_runner import JobContext, JobKind, Runner, identity
from hub.jobs import RetryPolicy
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.tables import Job, JobState

SEEN: list[Any] = []


class Greeting(msgspec.Struct):
    name: str
    times: int = 1


async def greet(ctx: JobContext) -> None:
    SEEN.append((ctx.job.id, ctx.payload))


GREET = JobKind(
    "greet",
    greet,
    RetryPolicy(max_attempts=2, base_seconds=1, cap_seconds=1),
    lease_seconds=7,
    renew_seconds=1,
    payload=Greeting,
)


class GreetPlugin:
    @hookimpl
    def register_job_kinds(self, register: Any) -> None:
        register(GREET)


def host_with_greet(settings: Settings) -> PluginHost:
    return PluginHost(settings, entry_points=False, extra=[("greeter", GreetPlugin())])


def quick(settings: Settings, host: PluginHost, **kw: Any) -> Runner:
    return Runner(settings, host, poll_interval=0.1, tick_interval=60, **kw)


async def test_hook_register_job_kinds_adds_a_kind_the_runner_runs(settings: Settings) -> None:
    host = host_with_greet(settings)
    assert host.plugins["greeter"].job_kinds == ["greet"]
    assert {"export", "publish-report", "end-overdue", "greet"} <= set(host.job_kinds)
    assert jobs.policy("greet").max_attempts == 2
    SEEN.clear()
    job_id = await jobs.enqueue("greet", {"name": "小明", "times": 2})
    assert (await jobs.get(job_id)).max_attempts == 2, "the kind's policy sets the attempts"
    await quick(settings, host, kinds=["greet"]).run_until_idle(limit=60)
    assert SEEN == [(job_id, Greeting("小明", 2))]
    assert (await jobs.get(job_id)).state == JobState.succeeded


async def test_a_kind_name_is_taken_once(settings: Settings) -> None:
    class Again:
        @hookimpl
        def register_job_kinds(self, register: Any) -> None:
            register(replace(GREET, name="export"))

    host = PluginHost(settings, entry_points=False, extra=[("again", Again())])
    record = host.plugins["again"]
    assert record.state == "failed" and "export" in (record.error or "")


async def test_a_malformed_payload_fails_at_once_naming_the_field(settings: Settings) -> None:
    host = host_with_greet(settings)
    SEEN.clear()
    job_id = await jobs.enqueue("greet", {"name": 5})
    await quick(settings, host, kinds=["greet"]).run_until_idle(limit=60)
    job = await jobs.get(job_id)
    assert job.state == JobState.failed and job.attempts == 1, job
    assert "malformed payload" in job.last_error and "$.name" in job.last_error
    assert SEEN == []
    session_job = await jobs.enqueue("finalize", {"session_id": "seven"})
    from media.worker import Worker

    await Worker(settings, host, kinds=["finalize"], poll_interval=0.1).run_until_idle(60)
    failed = await jobs.get(session_job)
    assert failed.state == JobState.failed and failed.attempts == 1
    assert "$.session_id" in failed.last_error


async def test_each_kind_has_its_own_lease(settings: Settings) -> None:
    host = host_with_greet(settings)
    runner = quick(settings, host)
    assert runner.lease_of("greet") == 7 and runner.renew_of("greet") == 1
    assert runner.lease_of("export") == settings.worker_lease_seconds
    from media.worker import Worker

    worker = Worker(settings, host)
    assert worker.lease_of("record") < worker.lease_of("finalize")
    assert worker.renew_of("record") < worker.renew_of("finalize")
    # two renewals in a row may come late or fail and a live recording keeps its job
    assert worker.renew_of("record") <= worker.lease_of("record") / 3
    assert quick(settings, host, lease_seconds=1.5).renew_of("greet") == 0.5
    await jobs.enqueue("greet", {"name": "a"})
    await jobs.enqueue("export", {"export_id": 1})
    leases = {"greet": 7.0, "export": 30.0}
    for _ in range(2):
        job = await jobs.claim("w", leases, ["greet", "export"])
        assert job is not None and job.lease_expires_at is not None
        left = (job.lease_expires_at - datetime.now(UTC)).total_seconds()
        assert abs(left - leases[job.kind]) < 3, (job.kind, left)


async def test_housekeeping_runs_as_periodic_jobs(settings: Settings) -> None:
    host = host_with_greet(settings)
    await quick(settings, host, kinds=["greet"]).run_until_idle(limit=60)
    rows = await Job.select(Job.kind, Job.state).where(Job.dedupe_key.like("periodic:%")).run()
    assert {r["kind"] for r in rows} >= {"end-overdue", "archive-finished", "queue-reports"}
    assert {r["state"] for r in rows} == {JobState.succeeded}


async def test_a_restarted_worker_takes_its_own_leases_back_at_once(
    settings: Settings, tmp_path: Path
) -> None:
    host = host_with_greet(settings)
    SEEN.clear()
    job_id = await jobs.enqueue("greet", {"name": "restart"})
    # the previous run on this machine and work folder claimed it, then died
    dead = f"{identity(settings)}:4242:dead00"
    assert await jobs.claim(dead, 300, ["greet"]) is not None

    elsewhere = replace(settings, work_dir=str(tmp_path / "other-folder"))
    await quick(elsewhere, host, kinds=["greet"]).run_until_idle(limit=60)
    held = await jobs.get(job_id)
    assert held.state == JobState.doing and held.lease_owner == dead, "another folder waits"

    await quick(settings, host, kinds=["greet"]).run_until_idle(limit=60)
    job = await jobs.get(job_id)
    assert job.state == JobState.succeeded, job
    assert job.attempts == 1, "the dead run's attempt is not counted"
    assert [i for i, _ in SEEN] == [job_id]


def test_a_runner_refuses_kinds_nobody_registered(settings: Settings) -> None:
    with pytest.raises(ValueError, match="nope"):
        Runner(settings, PluginHost(settings, entry_points=False), kinds=["nope"])


async def test_slow_renewals_do_not_push_the_next_ones_later(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renewals keep their schedule when each takes long (a slow database) or one fails:
    the lease of a live job never lapses for that, so no other worker takes it over."""
    import asyncio
    import itertools
    import time

    async def hold(ctx: JobContext) -> None:
        await asyncio.sleep(1.6)

    kind = JobKind("hold", hold, lease_seconds=0.9, renew_seconds=0.3)
    calls: list[float] = []
    real = jobs.heartbeat

    async def slow_heartbeat(job_id: int, owner: str, lease: float) -> bool:
        calls.append(time.monotonic())
        await asyncio.sleep(0.2)
        if len(calls) == 2:
            raise OSError("the database went away for a moment")
        return await real(job_id, owner, lease)

    monkeypatch.setattr(jobs, "heartbeat", slow_heartbeat)
    host = PluginHost(settings, entry_points=False)
    runner = Runner(settings, host, job_kinds=[kind], poll_interval=0.1, tick_interval=60)
    job_id = await jobs.enqueue("hold", {})
    await runner.run_until_idle(limit=30)
    assert (await jobs.get(job_id)).state == JobState.succeeded
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    # every 0.3 s although each renewal takes 0.2 s (sleeping 0.3 s after each: 0.5 s);
    # the failed one is tried again on the same schedule
    assert len(calls) >= 4 and max(gaps) < 0.45, gaps
