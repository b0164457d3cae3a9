"""A `Worker` in its own process (the kill -9 test's victim).

Usage: python worker_child.py SESSION_ID SOURCE_URL LISTEN(0|1)
Settings come from the SHAREHUB_* environment. Each job kind holds its own lease, as in
`sharehub worker` (a record job's is `media.handlers.RECORD_LEASE_SECONDS`).
"""

from __future__ import annotations

import asyncio
import logging
import sys

from worker_support import feed_host

from hub import db
from hub.settings import load_settings
from media.worker import Worker


async def main(session_id: int, url: str, listen: bool) -> None:
    settings = load_settings()
    engine = db.engine_for(settings.database_url)
    db.bind(engine)
    await db.open_engine(engine)
    host = feed_host(settings, {session_id: url}, listen)
    worker = Worker(
        settings,
        host,
        poll_interval=0.2,
        tick_interval=0.5,
        record_timeout=4,
        relisten_seconds=0,
        retry_wait=0.5,
    )
    print(f"owner {worker.owner}", flush=True)
    await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"))
