"""Every hook of ``hub.hookspecs``, exercised through one third-party plugin that the hub
finds by its entry point (in the manner of Datasette's plugin tests): a hook added to the
specs without an implementation here fails ``test_every_hook_is_exercised``."""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub import hookspecs, jobs
from hub.app import create_app
from hub.job_runner import Runner
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.tables import JobState

EVERY_HOOK = """
    import msgspec
    from typing import ClassVar
    from litestar import get
    from hub.hookspecs import hookimpl
    from hub.job_runner import JobKind
    from hub.jobs import RetryPolicy
    from hub.notify.base import NotifierBase
    from hub.reporter_base import ReporterBase
    from hub.streaming import Capabilities, Ingest, NoOptions, Playback, ProviderBase

    RAN = []

    class Everywhere(ProviderBase):
        name: ClassVar[str] = "everywhere"
        label: ClassVar[str] = "Everywhere CDN"
        capabilities: ClassVar[Capabilities] = Capabilities(push=("rtmp",), playback=("hls",))
        settings_model = NoOptions
        session_model = NoOptions

        def ingest(self, ctx):
            return Ingest(note="push anywhere")

        def playback(self, ctx, expires_at):
            return Playback()

        def recording_source(self, ctx):
            return None

    class Postcard(ReporterBase):
        name = "postcard"
        label = "Postcard"

    class Pigeon(NotifierBase):
        name = "pigeon"
        label = "Carrier pigeon"
        target_fields = ("loft",)

        async def send(self, message, target, options, settings):
            RAN.append(("pigeon", target["loft"]))

    class Wave(msgspec.Struct):
        to: str

    async def wave(ctx):
        RAN.append(("wave", ctx.payload.to))

    @get("/api/v1/ingest/everywhere/ping", sync_to_thread=False)
    def ping() -> dict:
        return {"pong": "everywhere"}

    async def background():
        RAN.append(("serve_tasks", "ran"))

    def run_hello(settings, args):
        RAN.append(("register_commands", args.who))
        return 0

    @hookimpl
    def register_providers(register):
        register(Everywhere())

    @hookimpl
    def register_reporters(register):
        register(Postcard())

    @hookimpl
    def register_commands(subcommands):
        parser = subcommands.add_parser("hello")
        parser.add_argument("who")
        parser.set_defaults(run=run_hello)

    @hookimpl
    def serve_tasks(settings, plugins):
        return [background]

    @hookimpl
    def register_job_kinds(register):
        register(JobKind("wave", wave, RetryPolicy(2, 1, 1), payload=Wave))

    @hookimpl
    def register_routes(register):
        register(ping)

    @hookimpl
    def register_notifiers(register):
        register(Pigeon())
"""
MODULE = "sharehub_everywhere"


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The plugin as a distribution with a ``sharehub`` entry point, on a temporary path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{MODULE}.py").write_text(textwrap.dedent(EVERY_HOOK))
    info = site / "sharehub_everywhere-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: sharehub-everywhere\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(f"[sharehub]\n{MODULE} = {MODULE}\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield
    sys.modules.pop(MODULE, None)
    importlib.invalidate_caches()


def test_every_hook_is_exercised(installed: None, tmp_path: Path) -> None:
    specs = {n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "sharehub_spec")}
    host = PluginHost(Settings(data_dir=tmp_path, secret_key="x" * 32))
    record = host.plugins[MODULE]
    assert record.state == "ok", record.error
    assert record.distribution == "sharehub-everywhere"
    assert set(record.hooks) == specs, "implement the new hook in EVERY_HOOK and test it below"


async def test_each_hook_does_its_part(installed: None, settings: Settings) -> None:
    host = PluginHost(settings)
    plugin = sys.modules[MODULE]
    ran: list[tuple[str, str]] = plugin.RAN  # type: ignore[attr-defined]
    ran.clear()
    # register_providers and register_reporters
    assert host.provider("everywhere").label == "Everywhere CDN"
    assert host.reporter("postcard").label == "Postcard"
    # register_notifiers
    assert host.notifier_ready("pigeon") and host.plugins[MODULE].notifiers == ["pigeon"]
    # register_commands
    parser = argparse.ArgumentParser()
    subcommands = parser.add_subparsers()
    host.call_each("register_commands", subcommands=subcommands)
    args = parser.parse_args(["hello", "世界"])
    assert args.run(settings, args) == 0
    # serve_tasks (this plugin's: the others' run until the server stops)
    (impl,) = [i for i in host.pm.hook.serve_tasks.get_hookimpls() if i.plugin_name == MODULE]
    for factory in impl.function(settings=settings, plugins=host):
        await factory()
    # register_job_kinds: the runner runs the kind, its payload checked
    job_id = await jobs.enqueue("wave", {"to": "镇雄"})
    await Runner(settings, host, kinds=["wave"], poll_interval=0.1).run_until_idle(60)
    assert (await jobs.get(job_id)).state == JobState.succeeded
    assert ran == [("register_commands", "世界"), ("serve_tasks", "ran"), ("wave", "镇雄")]
    # register_routes: the hub serves the plugin's route
    app = create_app(settings, manage_db=False, plugins=host)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
    ) as client:
        answer = await client.get("/api/v1/ingest/everywhere/ping")
    assert answer.status_code == 200 and answer.json() == {"pong": "everywhere"}
