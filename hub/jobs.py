"""Durable jobs: enqueue, claim, lease, retry, cancel (run by ``hub.job_runner``).

A job is a row of the ``job`` table. Workers claim a due job (``todo`` and past its
``run_after``, or ``doing`` with an expired lease: its worker died) in one transaction:
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers on several
machines never take the same job; an immediate (single-writer) transaction on SQLite.
The claimer holds the job by renewing its lease (``heartbeat``); every state change
after the claim is conditional on the lease owner, so a worker that lost its lease
(stolen back after a stall, or the job was cancelled) cannot overwrite the new state.

A failed attempt goes back to ``todo`` after an exponential back-off, until the kind's
attempt limit; then it is ``failed`` with the error kept. ``dedupe_key`` is unique: one
record job per session, one finalize job per session. Enqueueing a key again reopens a
finished job (or marks a running one to run once more), it never adds a second row.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Count

from hub import db
from hub.errors import Conflict, NotFound
from hub.tables import Job, JobState

RECORD = "record"
FINALIZE = "finalize"
TRANSCODE = "transcode"
"""The media plugin's kinds (named here for the tests and benchmarks that queue them)."""
PUBLISH_REPORT = "publish-report"

TERMINAL = (JobState.succeeded, JobState.failed, JobState.cancelled)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a kind of job is tried and how long it waits between attempts."""

    max_attempts: int
    base_seconds: float
    cap_seconds: float

    def delay(self, attempts: int) -> timedelta:
        """Wait after the ``attempts``-th failed attempt: base, 2x base, 4x base ... capped."""
        seconds = self.base_seconds * 2 ** max(attempts - 1, 0)
        return timedelta(seconds=min(seconds, self.cap_seconds))


POLICIES: dict[str, RetryPolicy] = {}
"""Each registered kind's policy (``register_policy``; the plugin host fills it from the
kinds the core and the plugins register)."""
DEFAULT_POLICY = RetryPolicy(max_attempts=5, base_seconds=10, cap_seconds=600)


def register_policy(kind: str, retry: RetryPolicy) -> None:
    POLICIES[kind] = retry


def policy(kind: str) -> RetryPolicy:
    return POLICIES.get(kind, DEFAULT_POLICY)


class JobOut(msgspec.Struct):
    """A job as the API and ``sharehub jobs`` show it."""

    id: int
    kind: str
    state: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    run_after: datetime
    lease_owner: str
    lease_expires_at: datetime | None
    last_error: str
    dedupe_key: str | None
    created_at: datetime
    updated_at: datetime


def job_out(row: dict[str, Any]) -> JobOut:
    return JobOut(
        id=row["id"],
        kind=row["kind"],
        state=row["state"],
        payload=row["payload"] if isinstance(row["payload"], dict) else {},
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_after=row["run_after"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        last_error=row["last_error"],
        dedupe_key=row["dedupe_key"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def new_owner() -> str:
    """A lease owner name unique to this worker: host, process and a random part."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC)


async def get(job_id: int) -> JobOut:
    row = await Job.select().where(Job.id == job_id).first().output(load_json=True).run()
    if row is None:
        raise NotFound(f"job {job_id} not found", field="id")
    return job_out(row)


async def find(dedupe_key: str) -> JobOut | None:
    row = (
        await Job.select().where(Job.dedupe_key == dedupe_key).first().output(load_json=True).run()
    )
    return job_out(row) if row else None


async def enqueue(
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    run_after: datetime | None = None,
    max_attempts: int | None = None,
    reopen: Iterable[JobState] = (JobState.succeeded,),
    rerun_if_running: bool = True,
) -> int:
    """Add a job; returns its id.

    With a ``dedupe_key`` already taken no row is added: the existing job is reopened
    (back to ``todo`` with a fresh attempt count) when its state is in ``reopen``, marked
    to run once more when it is running and ``rerun_if_running``, and left alone
    otherwise (a cancelled or failed job stays so unless asked).
    """
    now = _now()
    values = {
        Job.kind: kind,
        Job.state: JobState.todo,
        Job.payload: payload,
        Job.attempts: 0,
        Job.max_attempts: max_attempts or policy(kind).max_attempts,
        Job.run_after: run_after or now,
        Job.dedupe_key: dedupe_key,
        Job.created_at: now,
        Job.updated_at: now,
    }
    row = Job(**{column._meta.name: value for column, value in values.items()})
    query = Job.insert(row)
    if dedupe_key is not None:
        query = query.on_conflict(target=Job.dedupe_key, action="DO NOTHING")
    inserted = await query.returning(Job.id).run()
    if inserted:
        return int(inserted[0]["id"])
    existing = await find(dedupe_key or "")
    if existing is None:  # deleted in between: try once more
        return await enqueue(
            kind, payload, dedupe_key=dedupe_key, run_after=run_after, max_attempts=max_attempts
        )
    states = [JobState(s) for s in reopen]
    if states:
        await (
            Job.update(
                {
                    Job.state: JobState.todo,
                    Job.payload: payload,
                    Job.attempts: 0,
                    Job.run_after: run_after or now,
                    Job.last_error: "",
                    Job.lease_owner: "",
                    Job.lease_expires_at: None,
                    Job.rerun: False,
                    Job.updated_at: now,
                }
            )
            .where((Job.id == existing.id) & Job.state.is_in(states))
            .run()
        )
    if rerun_if_running:
        await (
            Job.update({Job.rerun: True, Job.updated_at: now})
            .where((Job.id == existing.id) & (Job.state == JobState.doing))
            .run()
        )
    return existing.id


def _due(now: datetime) -> Any:
    return ((Job.state == JobState.todo) & (Job.run_after <= now)) | (
        (Job.state == JobState.doing) & (Job.lease_expires_at < now)
    )


async def claim(
    owner: str,
    lease_seconds: float | Mapping[str, float],
    kinds: Iterable[str] | None = None,
) -> JobOut | None:
    """Take one due job for ``owner`` (counting an attempt), or None when none is due.

    ``lease_seconds`` is one lease for every kind, or a lease per kind (a kind not in it
    gets the longest given). A job whose lease expired is taken back; one that has used
    all its attempts that way is failed instead, with the reason kept.
    """
    kinds = list(kinds) if kinds is not None else None
    if kinds == []:
        return None
    for _ in range(20):  # skip over jobs failed for lost leases
        now = _now()
        condition = _due(now)
        if kinds is not None:
            condition = condition & Job.kind.is_in(kinds)
        async with db.write_transaction():
            query = (
                Job.select(
                    Job.id, Job.kind, Job.state, Job.attempts, Job.max_attempts, Job.lease_owner
                )
                .where(condition)
                .order_by(Job.run_after)
                .order_by(Job.id)
                .limit(1)
            )
            if not db.is_sqlite():
                query = query.lock_rows("UPDATE", skip_locked=True)
            found = await query.first().run()
            if found is None:
                return None
            stolen = found["state"] == JobState.doing
            if stolen and found["attempts"] >= found["max_attempts"]:
                await (
                    Job.update(
                        {
                            Job.state: JobState.failed,
                            Job.last_error: (
                                f"worker {found['lease_owner']} stopped renewing its lease "
                                f"on attempt {found['attempts']} of {found['max_attempts']}"
                            ),
                            Job.lease_owner: "",
                            Job.lease_expires_at: None,
                            Job.updated_at: now,
                        }
                    )
                    .where(Job.id == found["id"])
                    .run()
                )
                continue
            if isinstance(lease_seconds, Mapping):
                lease = lease_seconds.get(found["kind"]) or max(lease_seconds.values(), default=30)
            else:
                lease = lease_seconds
            changes: dict[Any, Any] = {
                Job.state: JobState.doing,
                Job.lease_owner: owner,
                Job.lease_expires_at: now + timedelta(seconds=lease),
                Job.attempts: Job.attempts + 1,
                Job.updated_at: now,
            }
            if stolen:
                changes[Job.last_error] = (
                    f"taken back from {found['lease_owner']}, whose lease expired"
                )
            await Job.update(changes).where(Job.id == found["id"]).run()
        return await get(found["id"])
    return None


def _held(job_id: int, owner: str) -> Any:
    return (Job.id == job_id) & (Job.lease_owner == owner) & (Job.state == JobState.doing)


async def heartbeat(job_id: int, owner: str, lease_seconds: float) -> bool:
    """Renew the lease; False when the job is no longer ours (cancelled or taken back)."""
    now = _now()
    renewed = (
        await Job.update(
            {Job.lease_expires_at: now + timedelta(seconds=lease_seconds), Job.updated_at: now}
        )
        .where(_held(job_id, owner))
        .returning(Job.id)
        .run()
    )
    return bool(renewed)


async def complete(job_id: int, owner: str) -> bool:
    """The job succeeded (or, enqueued again meanwhile, goes back to ``todo`` once more)."""
    now = _now()
    released = {Job.lease_owner: "", Job.lease_expires_at: None, Job.updated_at: now}
    again = (
        await Job.update(
            {
                **released,
                Job.state: JobState.todo,
                Job.rerun: False,
                Job.attempts: 0,
                Job.run_after: now,
                Job.last_error: "",
            }
        )
        .where(_held(job_id, owner) & (Job.rerun == True))  # noqa: E712
        .returning(Job.id)
        .run()
    )
    if again:
        return True
    done = (
        await Job.update({**released, Job.state: JobState.succeeded, Job.last_error: ""})
        .where(_held(job_id, owner))
        .returning(Job.id)
        .run()
    )
    return bool(done)


async def fail(
    job_id: int, owner: str, error: str, *, retry: bool = True, policy: RetryPolicy | None = None
) -> str | None:
    """An attempt failed: back to ``todo`` after the back-off, or ``failed`` for good.

    Returns the new state, or None when the job was no longer ours.
    """
    row = (
        await Job.select(Job.kind, Job.attempts, Job.max_attempts)
        .where(_held(job_id, owner))
        .first()
        .run()
    )
    if row is None:
        return None
    now = _now()
    again = retry and row["attempts"] < row["max_attempts"]
    state = JobState.todo if again else JobState.failed
    changes: dict[Any, Any] = {
        Job.state: state,
        Job.last_error: error[-4000:],
        Job.lease_owner: "",
        Job.lease_expires_at: None,
        Job.updated_at: now,
    }
    if again:
        back_off = policy or POLICIES.get(row["kind"], DEFAULT_POLICY)
        changes[Job.run_after] = now + back_off.delay(row["attempts"])
    changed = await Job.update(changes).where(_held(job_id, owner)).returning(Job.id).run()
    return state.value if changed else None


async def release(job_id: int, owner: str, delay: float = 0.0) -> bool:
    """Hand the job back (a worker stopping): ``todo`` again, this attempt not counted."""
    now = _now()
    changed = (
        await Job.update(
            {
                Job.state: JobState.todo,
                Job.attempts: Job.attempts - 1,
                Job.run_after: now + timedelta(seconds=delay),
                Job.lease_owner: "",
                Job.lease_expires_at: None,
                Job.updated_at: now,
            }
        )
        .where(_held(job_id, owner))
        .returning(Job.id)
        .run()
    )
    return bool(changed)


async def take_back_own(prefix: str, owner: str) -> list[int]:
    """Jobs running under a lease owner starting with ``prefix`` (this machine and work
    folder) that is not ``owner``: a previous run that died. Back to ``todo`` at once,
    that attempt not counted; returns their ids."""
    now = _now()
    rows = (
        await Job.select(Job.id, Job.lease_owner)
        .where((Job.state == JobState.doing) & Job.lease_owner.like(prefix.replace("%", "") + "%"))
        .run()
    )
    taken = []
    for row in rows:
        if row["lease_owner"] == owner or not row["lease_owner"].startswith(prefix):
            continue
        changed = (
            await Job.update(
                {
                    Job.state: JobState.todo,
                    Job.attempts: Job.attempts - 1,
                    Job.run_after: now,
                    Job.last_error: f"taken back at once from {row['lease_owner']}: the same "
                    "machine and work folder started again",
                    Job.lease_owner: "",
                    Job.lease_expires_at: None,
                    Job.updated_at: now,
                }
            )
            .where((Job.id == row["id"]) & (Job.lease_owner == row["lease_owner"]))
            .where(Job.state == JobState.doing)
            .returning(Job.id)
            .run()
        )
        if changed:
            taken.append(row["id"])
    return taken


async def cancel(job_id: int) -> JobOut:
    """Cancel a waiting or running job (a running one stops at its next heartbeat)."""
    job = await get(job_id)
    if job.state in TERMINAL:
        raise Conflict(f"job {job_id} is {job.state} already", field="state")
    await (
        Job.update(
            {
                Job.state: JobState.cancelled,
                Job.lease_owner: "",
                Job.lease_expires_at: None,
                Job.rerun: False,
                Job.updated_at: _now(),
            }
        )
        .where((Job.id == job_id) & Job.state.is_in([JobState.todo, JobState.doing]))
        .run()
    )
    return await get(job_id)


async def retry(job_id: int) -> JobOut:
    """Run a failed or cancelled job again from a fresh attempt count."""
    job = await get(job_id)
    if job.state not in (JobState.failed, JobState.cancelled):
        raise Conflict(
            f"job {job_id} is {job.state}: only failed or cancelled jobs can be retried",
            field="state",
        )
    await (
        Job.update(
            {
                Job.state: JobState.todo,
                Job.attempts: 0,
                Job.run_after: _now(),
                Job.updated_at: _now(),
            }
        )
        .where((Job.id == job_id) & Job.state.is_in([JobState.failed, JobState.cancelled]))
        .run()
    )
    return await get(job_id)


async def list_jobs(
    *,
    state: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[JobOut], int]:
    """Jobs newest first, filtered by state and kind; with the total count."""
    condition: Any = None
    if state:
        condition = Job.state == state
    if kind:
        condition = (Job.kind == kind) if condition is None else condition & (Job.kind == kind)
    query = Job.select().order_by(Job.id, ascending=False).limit(limit).offset(offset)
    count = Job.count()
    if condition is not None:
        query = query.where(condition)
        count = count.where(condition)
    rows = await query.output(load_json=True).run()
    return [job_out(r) for r in rows], int(await count.run())


async def counts() -> dict[str, int]:
    """Jobs per state (for a dashboard and the benchmarks)."""
    rows = await Job.select(Job.state, Count(Job.id, alias="n")).group_by(Job.state).run()
    return {r["state"]: int(r["n"]) for r in rows}
