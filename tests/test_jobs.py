"""The job table: enqueue with dedupe, claim, lease and steal-back, back-off, cancel/retry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from hub import jobs
from hub.tables import Job, JobState

pytestmark = pytest.mark.cross_process


async def make_due(job_id: int) -> None:
    """Pretend the back-off has passed."""
    await (
        Job.update({Job.run_after: datetime.now(UTC) - timedelta(seconds=1)})
        .where(Job.id == job_id)
        .run()
    )


async def test_dedupe_key_keeps_one_job_and_reopens_a_finished_one(database: str) -> None:
    first = await jobs.enqueue(jobs.RECORD, {"session_id": 7}, dedupe_key="record:7")
    again = await jobs.enqueue(jobs.RECORD, {"session_id": 7}, dedupe_key="record:7")
    assert first == again
    assert await Job.count().where(Job.dedupe_key == "record:7").run() == 1

    job = await jobs.claim("w1", 30)
    assert job is not None and job.id == first and job.state == JobState.doing
    assert job.attempts == 1 and job.lease_owner == "w1"
    # enqueued again while running: it runs once more after this run
    await jobs.enqueue(jobs.RECORD, {"session_id": 7}, dedupe_key="record:7")
    assert await jobs.complete(first, "w1")
    assert (await jobs.get(first)).state == JobState.todo
    job = await jobs.claim("w1", 30)
    assert job is not None and job.id == first
    assert await jobs.complete(first, "w1")
    assert (await jobs.get(first)).state == JobState.succeeded
    # a finished job is reopened, not duplicated
    assert await jobs.enqueue(jobs.RECORD, {"session_id": 7}, dedupe_key="record:7") == first
    reopened = await jobs.get(first)
    assert reopened.state == JobState.todo and reopened.attempts == 0


async def test_failures_back_off_then_fail_for_good_with_the_error_kept(database: str) -> None:
    job_id = await jobs.enqueue("transcode", {"session_id": 1}, max_attempts=3)
    delays = []
    for attempt in range(1, 4):
        job = await jobs.claim("w1", 30)
        assert job is not None and job.id == job_id and job.attempts == attempt
        before = datetime.now(UTC)
        state = await jobs.fail(job_id, "w1", f"boom {attempt}")
        stored = await jobs.get(job_id)
        if attempt < 3:
            assert state == "todo"
            delays.append((stored.run_after - before).total_seconds())
            assert await jobs.claim("w1", 30) is None, "not due before the back-off"
            await make_due(job_id)
        else:
            assert state == "failed"
    assert delays[1] > delays[0] * 1.5, f"back-off is exponential: {delays}"
    failed = await jobs.get(job_id)
    assert failed.state == JobState.failed and failed.last_error == "boom 3"
    assert await jobs.claim("w1", 30) is None


async def test_a_stalled_lease_is_taken_back_and_the_old_owner_loses_it(database: str) -> None:
    job_id = await jobs.enqueue(jobs.FINALIZE, {"session_id": 3})
    assert (await jobs.claim("dead", 0.2)) is not None
    assert await jobs.claim("alive", 30) is None, "the lease still holds"
    await asyncio.sleep(0.4)
    taken = await jobs.claim("alive", 30)
    assert taken is not None and taken.id == job_id
    assert taken.attempts == 2 and "dead" in taken.last_error
    assert not await jobs.heartbeat(job_id, "dead", 30)
    assert not await jobs.complete(job_id, "dead")
    assert await jobs.heartbeat(job_id, "alive", 30)
    assert await jobs.complete(job_id, "alive")


async def test_lost_leases_count_as_attempts(database: str) -> None:
    job_id = await jobs.enqueue(jobs.FINALIZE, {"session_id": 4}, max_attempts=2)
    for _ in range(2):
        assert await jobs.claim("crashy", 0.1) is not None
        await asyncio.sleep(0.25)
    assert await jobs.claim("other", 30) is None
    job = await jobs.get(job_id)
    assert job.state == JobState.failed and "stopped renewing its lease" in job.last_error


async def test_release_hands_back_without_counting_an_attempt(database: str) -> None:
    job_id = await jobs.enqueue(jobs.RECORD, {"session_id": 5})
    assert (await jobs.claim("w1", 30)) is not None
    assert await jobs.release(job_id, "w1")
    job = await jobs.claim("w2", 30)
    assert job is not None and job.attempts == 1


async def test_cancel_and_retry(database: str) -> None:
    job_id = await jobs.enqueue(jobs.PUBLISH_REPORT, {"report_id": 1})
    assert (await jobs.claim("w1", 30)) is not None
    assert (await jobs.cancel(job_id)).state == JobState.cancelled
    assert not await jobs.heartbeat(job_id, "w1", 30), "a cancelled job's worker stops"
    assert (await jobs.retry(job_id)).state == JobState.todo
    with pytest.raises(Exception, match="only failed or cancelled"):
        await jobs.retry(job_id)


async def test_concurrent_claimers_never_share_a_job(database: str) -> None:
    ids = {await jobs.enqueue(jobs.FINALIZE, {"session_id": n}) for n in range(12)}
    claimed = await asyncio.gather(*(jobs.claim(f"w{n}", 30) for n in range(20)))
    taken = [job.id for job in claimed if job is not None]
    assert sorted(taken) == sorted(ids), "each job exactly once"


async def test_jobs_api_is_for_administrators(world) -> None:  # type: ignore[no-untyped-def]
    later = datetime.now(UTC) + timedelta(hours=1)  # not due: no worker takes it meanwhile
    job_id = await jobs.enqueue(jobs.FINALIZE, {"session_id": 9}, run_after=later)
    assert (await world.get("/api/v1/jobs", "teacher")).status_code == 403
    assert (await world.get("/api/v1/jobs")).status_code == 401
    listed = (await world.get("/api/v1/jobs?state=todo", "admin")).json()
    assert [j["id"] for j in listed["items"]] == [job_id]
    assert (await world.post(f"/api/v1/jobs/{job_id}/retry", who="admin")).status_code == 409
    cancelled = await world.post(f"/api/v1/jobs/{job_id}/cancel", who="admin")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    retried = await world.post(f"/api/v1/jobs/{job_id}/retry", who="admin")
    assert retried.json()["state"] == "todo"
    assert (await world.post(f"/api/v1/jobs/{job_id}/cancel", who="center")).status_code == 403
    assert (await world.get("/api/v1/jobs/999999", "admin")).status_code == 404
