"""`sharehub worker`: run the media worker until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from hub import db
from hub.plugin_host import PluginHost
from hub.settings import Settings

log = logging.getLogger("sharehub.worker")


def add_worker_command(subcommands: argparse._SubParsersAction[Any]) -> None:
    parser = subcommands.add_parser(
        "worker",
        help="run the media worker (recording, replays, report publishing)",
        description=(
            "Claim jobs from the job table and run them: record live classes into storage, "
            "make replays and renditions, publish reports. Several workers may run on "
            "PostgreSQL; on SQLite one at a time. SIGTERM stops it gracefully: recordings "
            "are handed back to another worker."
        ),
    )
    parser.add_argument("--once", action="store_true", help="run due jobs until idle, then exit")
    parser.add_argument("--slots", type=int, default=None, help="jobs at once (WORKER_SLOTS)")
    parser.add_argument(
        "--kinds", default="", help="only these kinds, comma separated (default: all)"
    )
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between claims")
    parser.add_argument("--lease", type=float, default=None, help="lease seconds")
    parser.add_argument("--record-timeout", type=float, default=10.0, dest="record_timeout")
    parser.set_defaults(run=cmd_worker)


async def run_worker(settings: Settings, plugins: PluginHost, args: argparse.Namespace) -> int:
    from media.worker import Worker

    engine = db.engine_for(settings.database_url)
    db.bind(engine)
    await db.open_engine(engine, settings.pg_pool)
    try:
        await db.migrate()
        worker = Worker(
            settings,
            plugins,
            slots=args.slots,
            kinds=[k.strip() for k in args.kinds.split(",") if k.strip()] or None,
            poll_interval=args.poll,
            lease_seconds=args.lease,
            record_timeout=args.record_timeout,
        )
        if args.once:
            await worker.run_until_idle(limit=24 * 3600)
            return 0
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(worker.stop()))
        print(f"worker {worker.owner} running; SIGTERM stops it", flush=True)
        await worker.start()
        return 0
    finally:
        await db.close_engine(engine)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    plugins = getattr(args, "plugin_host", None) or PluginHost(settings)
    return asyncio.run(run_worker(settings, plugins, args))
