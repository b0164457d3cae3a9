"""The ``sharehub`` command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from hub import db, live
from hub.plugin_host import PluginHost
from hub.settings import Settings, SettingsError, load_settings, unknown_variables
from hub.tables import Role

log = logging.getLogger("sharehub")


async def with_db(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    engine = db.engine_for(settings.database_url)
    db.bind(engine)
    await db.open_engine(engine, settings.pg_pool)
    try:
        await db.migrate()
        return await work()
    finally:
        await db.close_engine(engine)


def cmd_config(settings: Settings, _: argparse.Namespace) -> int:
    for key, value in settings.masked().items():
        print(f"{key}={value}")
    return 0


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    async def work() -> None:
        for line in await db.migrate():
            print(line)

    asyncio.run(with_db(settings, work))
    print("database is up to date")
    return 0


def ask_password(args: argparse.Namespace) -> str:
    if args.password:
        return str(args.password)
    if not sys.stdin.isatty():
        raise SystemExit("--password is required when not run from a terminal")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("the passwords differ")
    return first


def add_user(settings: Settings, args: argparse.Namespace, role: Role) -> int:
    from hub import accounts, passwords
    from hub.tables import User

    password = ask_password(args)
    if weak := passwords.problem(password, args.username):
        raise SystemExit(weak)

    center_id = getattr(args, "center_id", None)

    async def work() -> int:
        if role is Role.center and center_id is None:
            raise SystemExit("a center operator needs --center-id (the share-center they run)")
        if await User.exists().where(User.username == args.username).run():
            raise SystemExit(f"user {args.username!r} exists already")
        if center_id is not None and not await accounts.center_exists(center_id):
            raise SystemExit(f"share-center {center_id} not found (see GET /api/v1/centers)")
        return await accounts.create_user(args.username, password, role, center_id=center_id)

    user_id = asyncio.run(with_db(settings, work))
    print(f"created {role.value} {args.username!r} (id {user_id})")
    return 0


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate; then make the first administrator (from the flags, or asked at a terminal).

    Safe to run again: an administrator already there is left as it is."""
    from hub.tables import User

    cmd_migrate(settings, args)

    async def admins() -> list[str]:
        rows = await User.select(User.username).where(User.role == Role.admin.value).run()
        return [r["username"] for r in rows]

    existing = asyncio.run(with_db(settings, admins))
    if existing:  # init makes the first one only; more with `sharehub user add --role admin`
        print(f"administrator {existing[0]!r} exists already")
        return 0
    if not args.username:
        if not sys.stdin.isatty():
            print("no administrator yet: run sharehub init --username NAME --password PASSWORD")
            return 0
        args.username = input("administrator username: ").strip()
        if not args.username:
            raise SystemExit("a username is needed")
    return add_user(settings, args, Role.admin)


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    return add_user(settings, args, Role(args.role))


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> int:
    import uvicorn

    uvicorn.run(
        "hub.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=None,  # keep the hub's logging (hub.logs): text or JSON with request ids
        access_log=False,  # hub.logs logs each request, with its id
        proxy_headers=False,  # hub.security.client_address reads X-Forwarded-For itself, only
        # from SHAREHUB_TRUSTED_PROXIES (uvicorn's would trust any from loopback)
    )
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(with_db(settings, _noop))  # migrate before the HTTP workers start
    return serve(settings, args.host, args.port, args.workers)


async def _noop() -> None:
    return None


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from hub import demo

    started = time.monotonic()
    host: PluginHost = getattr(args, "plugin_host", None) or PluginHost(settings)
    provider = host.default_provider()
    # the recorded classes and the live push are jobs the media worker gives (with ffmpeg)
    can_record = demo.RECORD_TEST_CLASS in host.job_kinds
    can_push = demo.PUSH_TEST_STREAM in host.job_kinds

    async def work() -> tuple[demo.DemoSummary, int | None]:
        made = await demo.run_demo(
            settings, args.admin_password, provider=provider, scale=args.scale, record=can_record
        )
        if args.no_live or not can_push or args.no_serve:
            await demo.stop_live_pushes()
            return made, None
        return made, await demo.start_live_class(provider)

    summary, live_session = asyncio.run(with_db(settings, work))
    verb = "created" if summary.created else "already there"
    print(
        f"demo programme {verb} in {time.monotonic() - started:.1f}s: "
        f"{summary.centers} share-centers, {summary.teachers} teachers, "
        f"{summary.courses} courses, {summary.sessions} classes ({summary.held} held), "
        f"{summary.bookings} bookings, {summary.check_ins} check-ins, "
        f"{summary.views} online views"
    )
    if summary.recordings_queued:
        print(
            f"{summary.recordings_queued} held classes are being recorded in the background "
            "(record-test-class, then finalize and transcode jobs; see `sharehub jobs` or "
            "/admin): their replays appear within a few minutes of the start"
        )
    elif not can_record:
        print("no recorded classes: the media worker (ffmpeg) is not available")
    if live_session is not None:
        print(
            f"class {live_session} is live now: a test stream is pushed to it while the demo "
            f"runs (watch it at /watch/{live_session}; --no-live skips it)"
        )
    print(
        f"sign in as demo-admin, teacher1..teacher10 or center1..center10; "
        f"password {args.admin_password or demo.DEMO_PASSWORD!r} (demo-admin) / "
        f"{demo.DEMO_PASSWORD!r}"
    )
    if args.no_serve:
        return 0
    print(f"serving on http://{args.host}:{args.port}/  (API: /api/v1/sessions, schema: /schema)")
    return serve(settings, args.host, args.port)


def cmd_plugins(settings: Settings, args: argparse.Namespace) -> int:
    """List plugins with their hooks, version and state; exit 1 when one failed."""
    host: PluginHost = getattr(args, "plugin_host", None) or PluginHost(settings)
    rows = [("NAME", "VERSION", "STATE", "HOOKS", "PROVIDES")]
    for record in host.listing():
        rows.append(
            (
                record.name,
                record.version or "-",
                record.state,
                ",".join(record.hooks) or "-",
                ",".join(record.providers + record.reporters) or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    failed = [r for r in host.listing() if r.state == "failed"]
    for record in failed:
        print(f"\n{record.name} ({record.module}) failed: {record.error}")
    return 1 if failed else 0


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    """List jobs, or retry / cancel one."""
    from hub import jobs
    from hub.errors import DomainError

    async def work() -> int:
        try:
            if args.jobs_cmd == "retry":
                job = await jobs.retry(args.id)
                print(f"job {job.id} ({job.kind}) is {job.state} again")
                return 0
            if args.jobs_cmd == "cancel":
                job = await jobs.cancel(args.id)
                print(f"job {job.id} ({job.kind}) is {job.state}")
                return 0
        except DomainError as exc:
            print(f"sharehub jobs: {exc.detail}", file=sys.stderr)
            return 1
        found, total = await jobs.list_jobs(state=args.state, kind=args.kind, limit=args.limit)
        print(f"{'ID':>6}  {'KIND':<15} {'STATE':<10} {'TRIES':<6} {'RUN AFTER':<20} DETAIL")
        for job in found:
            detail = job.last_error.splitlines()[-1][:70] if job.last_error else ""
            detail = detail or ", ".join(f"{k}={v}" for k, v in job.payload.items())[:70]
            print(
                f"{job.id:>6}  {job.kind:<15} {job.state:<10} "
                f"{f'{job.attempts}/{job.max_attempts}':<6} "
                f"{job.run_after:%Y-%m-%d %H:%M:%S}  {detail}"
            )
        print(f"({len(found)} of {total} jobs)")
        return 0

    return int(asyncio.run(with_db(settings, work)))


def cmd_pack(settings: Settings, args: argparse.Namespace) -> int:
    """Build a center's offline lesson pack of a week and write its files into a folder."""
    from pathlib import Path

    from hub import packs
    from hub.errors import DomainError
    from hub.storage import storage_for

    async def work() -> int:
        storage = storage_for(settings)
        try:
            pack = await packs.build(args.center, packs.week_of(args.week), storage)
            written = await packs.write_pack(pack, storage, Path(args.out))
        except DomainError as exc:
            print(f"sharehub pack: {exc.detail}", file=sys.stderr)
            return 1
        print(f"wrote {pack['files']} files and the page ({written} bytes) to {args.out}")
        return 0

    return int(asyncio.run(with_db(settings, work)))


def parser(plugins: PluginHost | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sharehub", description="Sharehub: live classes hub")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("plugins", help="list plugins, their hooks, version and state").set_defaults(
        run=cmd_plugins
    )

    sub.add_parser("config", help="print the effective settings (secrets masked)").set_defaults(
        run=cmd_config
    )
    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        run=cmd_migrate
    )

    init = sub.add_parser("init", help="migrate and create the first administrator")
    init.add_argument("--username", help="administrator's username")
    init.add_argument("--password", help="administrator's password (prompted when omitted)")
    init.set_defaults(run=cmd_init)

    user = sub.add_parser("user", help="manage users").add_subparsers(
        dest="user_cmd", required=True
    )
    add = user.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], required=True)
    add.add_argument("--password")
    add.add_argument("--center-id", type=int, dest="center_id")
    add.set_defaults(run=cmd_user_add)

    jobs_parser = sub.add_parser("jobs", help="list the worker's jobs; retry or cancel one")
    jobs_parser.add_argument(
        "--state", choices=["todo", "doing", "succeeded", "failed", "cancelled"]
    )
    jobs_parser.add_argument("--kind", help="record, finalize, transcode, publish-report")
    jobs_parser.add_argument("--limit", type=int, default=50)
    jobs_parser.set_defaults(run=cmd_jobs, jobs_cmd="list")
    jobs_sub = jobs_parser.add_subparsers(dest="jobs_cmd")
    jobs_sub.add_parser("list", help="list jobs, newest first")
    for verb, text in (
        ("retry", "run a failed or cancelled job again"),
        ("cancel", "cancel a job"),
    ):
        verb_parser = jobs_sub.add_parser(verb, help=text)
        verb_parser.add_argument("id", type=int)

    from hub.export_cli import add_export_parser

    add_export_parser(sub)

    pack = sub.add_parser("pack", help="write a center's offline lesson pack of a week")
    pack.add_argument("center", type=int, help="the share-center's id")
    pack.add_argument("--week", required=True, help="any day of the week, YYYY-MM-DD")
    pack.add_argument("-o", "--out", required=True, help="the folder to write the pack into")
    pack.set_defaults(run=cmd_pack)

    for name, helptext, run in (
        ("serve", "serve HTTP", cmd_serve),
        ("demo", "fill the database with a demo programme, then serve it", cmd_demo),
    ):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, default=8000)
        sp.set_defaults(run=run)
        if name == "serve":
            sp.add_argument("--workers", type=int, default=1, help="HTTP worker processes")
        else:
            sp.add_argument("--admin-password", dest="admin_password")
            sp.add_argument("--no-serve", action="store_true", help="fill the data and exit")
            sp.add_argument(
                "--no-live", action="store_true", help="no test stream pushed to a class now"
            )
            sp.add_argument(
                "--scale",
                type=float,
                default=1.0,
                help="the term's online views, times 500,000 (default 1: the full programme)",
            )
    if plugins is not None:
        plugins.call_each("register_commands", subcommands=sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from hub import logs

    logs.configure("text")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"sharehub: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format)
    live.configure(settings)
    for name in unknown_variables():
        print(
            f"sharehub: {name} is not a setting and is ignored (see sharehub config)",
            file=sys.stderr,
        )
    host = PluginHost(settings)
    args = parser(host).parse_args(argv)
    args.plugin_host = host
    if args.command == "worker" and settings.worker_metrics_port:
        from hub import metrics

        metrics.serve_worker_metrics(settings.worker_metrics_port)
    return int(args.run(settings, args))


if __name__ == "__main__":
    raise SystemExit(main())
