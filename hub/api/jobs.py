"""The worker's jobs, for administrators: list, retry a failed one, cancel one."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.params import Parameter, QueryParameter

from hub import jobs
from hub.api.common import Page, PageNo, PathId, PerPage
from hub.auth import admin_only
from hub.jobs import JobOut

StateFilter = Annotated[
    Literal["todo", "doing", "succeeded", "failed", "cancelled"] | None,
    QueryParameter(name="state", description="only jobs in this state"),
]
KindFilter = Annotated[
    str | None, Parameter(max_length=32, description="record, finalize, transcode, ...")
]


class JobController(Controller):
    path = "/api/v1/jobs"
    tags = ["jobs"]
    guards = [admin_only]

    @get("/")
    async def list_jobs(
        self,
        job_state: StateFilter = None,
        kind: KindFilter = None,
        page: PageNo = 1,
        per_page: PerPage = 50,
    ) -> Page[JobOut]:
        """Jobs newest first, with their attempts, lease and last error."""
        items, total = await jobs.list_jobs(
            state=job_state, kind=kind, limit=per_page, offset=(page - 1) * per_page
        )
        return Page(items=items, page=page, per_page=per_page, total=total)

    @get("/{job_id:int}")
    async def get_job(self, job_id: PathId) -> JobOut:
        """One job."""
        return await jobs.get(job_id)

    @post("/{job_id:int}/retry", status_code=200)
    async def retry_job(self, job_id: PathId) -> JobOut:
        """Run a failed or cancelled job again (409 for any other state)."""
        return await jobs.retry(job_id)

    @post("/{job_id:int}/cancel", status_code=200)
    async def cancel_job(self, job_id: PathId) -> JobOut:
        """Cancel a waiting or running job (a running one stops within a heartbeat)."""
        return await jobs.cancel(job_id)
