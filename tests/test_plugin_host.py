"""The plugin host: entry-point discovery, failure isolation, options validation, listing.

Every hook in ``hub.hookspecs`` has a test here named ``test_hook_<hook name>...``; the
last test fails when a hook is added without one.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import httpx
import msgspec
import pytest

from hub import cli, hookspecs
from hub.app import create_app
from hub.hookspecs import hookimpl
from hub.plugin_host import PluginHost
from hub.reporter_base import ReporterBase
from hub.settings import Settings, load_settings
from hub.streaming import (
    Capabilities,
    Ingest,
    NoOptions,
    Playback,
    PlaybackUrl,
    ProviderBase,
    RecordingSource,
    StreamContext,
)


class EchoOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    room: str = "default"
    loud: bool = False


class EchoSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    host: str = "echo.example.org"
    port: int = 1935


class EchoProvider(ProviderBase):
    name: ClassVar[str] = "echo"
    label: ClassVar[str] = "Echo"
    capabilities: ClassVar[Capabilities] = Capabilities(push=("rtmp",), playback=("hls",))
    settings_model: ClassVar[type[EchoSettings]] = EchoSettings
    session_model: ClassVar[type[EchoOptions]] = EchoOptions

    def ingest(self, ctx: StreamContext) -> Ingest:
        return Ingest()

    def playback(self, ctx: StreamContext, expires_at: Any) -> Playback:
        return Playback(urls=(PlaybackUrl("hls", f"https://{ctx.options.host}/x.m3u8"),))

    def recording_source(self, ctx: StreamContext) -> RecordingSource | None:
        return None


class EchoReporter(ReporterBase):
    name = "echo_report"
    label = "Echo report"


class InlinePlugin:
    """A plugin object registered by a fixture (no entry point)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def register_providers(self, register: Callable[[Any], None]) -> None:
        self.calls.append("register_providers")
        register(EchoProvider())

    @hookimpl
    def register_reporters(self, register: Callable[[Any], None]) -> None:
        self.calls.append("register_reporters")
        register(EchoReporter())


def bare_settings(tmp_path: Path, **plugin_options: dict[str, str]) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'unused.sqlite'}",
        secret_key="plugin-tests-secret-0123456789",
        plugin_options=plugin_options,
    )


@pytest.fixture
def inline() -> InlinePlugin:
    return InlinePlugin()


@pytest.fixture
def tiny_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, str, str], None]:
    """Install a third-party distribution (package + dist-info) on a temporary sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    added: list[str] = []

    def install(dist: str, module: str, source: str, version: str = "1.2.3") -> None:
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[sharehub]\n{module} = {module}\n")
        added.append(module)
        importlib.invalidate_caches()

    yield install  # type: ignore[misc]
    for module in added:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


TINY_PROVIDER = """
    from typing import ClassVar
    from hub.hookspecs import hookimpl
    from hub.streaming import Capabilities, Ingest, NoOptions, Playback, ProviderBase

    class Tiny(ProviderBase):
        name: ClassVar[str] = "tiny"
        label: ClassVar[str] = "Tiny CDN"
        capabilities: ClassVar[Capabilities] = Capabilities(push=("rtmp",), playback=("hls",))
        settings_model = NoOptions
        session_model = NoOptions

        def ingest(self, ctx):
            return Ingest()

        def playback(self, ctx, expires_at):
            return Playback()

        def recording_source(self, ctx):
            return None

    @hookimpl
    def register_providers(register):
        register(Tiny())
"""


def test_hook_register_providers_from_an_inline_plugin(
    tmp_path: Path, inline: InlinePlugin
) -> None:
    host = PluginHost(bare_settings(tmp_path), entry_points=False, extra=[("inline", inline)])
    assert host.provider("echo").label == "Echo"
    assert host.provider_options["echo"] == EchoSettings()
    record = host.plugins["inline"]
    assert record.state == "ok" and record.providers == ["echo"]
    assert record.hooks == ["register_providers", "register_reporters"]


def test_hook_register_reporters_from_an_inline_plugin(
    tmp_path: Path, inline: InlinePlugin
) -> None:
    host = PluginHost(bare_settings(tmp_path), entry_points=False, extra=[("inline", inline)])
    assert host.reporter("echo_report").label == "Echo report"
    assert host.plugins["inline"].reporters == ["echo_report"]
    assert inline.calls == ["register_providers", "register_reporters"]


def test_hook_register_commands_adds_a_subcommand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []

    class CommandPlugin:
        @hookimpl
        def register_commands(self, subcommands: argparse._SubParsersAction[Any]) -> None:
            hello = subcommands.add_parser("hello", help="say hello")
            hello.add_argument("--name", default="world")
            hello.set_defaults(run=lambda settings, args: ran.append(args.name) or 0)

    settings = bare_settings(tmp_path)
    host = PluginHost(settings, entry_points=False, extra=[("commands", CommandPlugin())])
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    monkeypatch.setattr(cli, "PluginHost", lambda _settings: host)
    assert cli.main(["hello", "--name", "乡村"]) == 0
    assert ran == ["乡村"]


async def test_hook_serve_tasks_run_while_serving(tmp_path: Path) -> None:
    started: list[str] = []

    class TaskPlugin:
        @hookimpl
        def serve_tasks(self, settings: Settings, plugins: PluginHost) -> list[Any]:
            async def task() -> None:
                started.append(settings.timezone)

            return [task]

    host = PluginHost(bare_settings(tmp_path), entry_points=False, extra=[("tasks", TaskPlugin())])
    results = host.call_each("serve_tasks", settings=host.settings, plugins=host)
    assert len(results) == 1 and len(results[0]) == 1
    await results[0][0]()
    assert started == ["Asia/Shanghai"]


def test_a_third_party_distribution_is_discovered_through_its_entry_point(
    tmp_path: Path, tiny_distribution: Callable[..., None]
) -> None:
    tiny_distribution("sharehub-tiny", "sharehub_tiny", TINY_PROVIDER)
    host = PluginHost(bare_settings(tmp_path))
    record = host.plugins["sharehub_tiny"]
    assert (record.state, record.version, record.distribution) == ("ok", "1.2.3", "sharehub-tiny")
    assert record.providers == ["tiny"] and record.hooks == ["register_providers"]
    assert host.provider("tiny").capabilities.push == ("rtmp",)


def test_built_in_providers_come_through_the_same_entry_points(tmp_path: Path) -> None:
    host = PluginHost(bare_settings(tmp_path))
    for name in ("tencent", "aliyun", "external_link"):
        record = host.plugins[name]
        assert record.distribution == "sharehub" and record.state == "ok", record
        assert name in host.providers


def test_a_plugin_that_fails_to_import_is_listed_failed_and_the_hub_starts(
    tmp_path: Path, tiny_distribution: Callable[..., None]
) -> None:
    tiny_distribution("sharehub-broken", "sharehub_broken", "import does_not_exist_anywhere\n")
    host = PluginHost(bare_settings(tmp_path))
    record = host.plugins["sharehub_broken"]
    assert record.state == "failed"
    assert record.error and "does_not_exist_anywhere" in record.error
    assert "tencent" in host.providers  # the others still load


def test_a_plugin_whose_register_hook_raises_is_failed_alone(
    tmp_path: Path, inline: InlinePlugin
) -> None:
    class Raising:
        @hookimpl
        def register_providers(self, register: Callable[[Any], None]) -> None:
            raise RuntimeError("no licence file")

    host = PluginHost(
        bare_settings(tmp_path),
        entry_points=False,
        extra=[("raising", Raising()), ("inline", inline)],
    )
    assert host.plugins["raising"].state == "failed"
    assert "no licence file" in (host.plugins["raising"].error or "")
    assert host.plugins["inline"].state == "ok" and "echo" in host.providers


def test_two_providers_with_one_name_the_second_fails(tmp_path: Path) -> None:
    class Twice:
        @hookimpl
        def register_providers(self, register: Callable[[Any], None]) -> None:
            register(EchoProvider())

    host = PluginHost(
        bare_settings(tmp_path),
        entry_points=False,
        extra=[("first", Twice()), ("second", Twice())],
    )
    assert host.plugins["first"].state == "ok"
    assert host.plugins["second"].state == "failed"
    assert "already taken" in (host.plugins["second"].error or "")


def test_a_provider_that_does_not_subclass_the_base_fails_clearly(tmp_path: Path) -> None:
    class Bare:  # every attribute a provider has, but not ProviderBase's optional methods
        name: ClassVar[str] = "bare"
        label: ClassVar[str] = "Bare"
        capabilities: ClassVar[Capabilities] = Capabilities(push=("rtmp",), playback=("hls",))
        settings_model = NoOptions
        session_model = NoOptions

    class Plugin:
        @hookimpl
        def register_providers(self, register: Callable[[Any], None]) -> None:
            register(Bare())

    host = PluginHost(bare_settings(tmp_path), entry_points=False, extra=[("bare", Plugin())])
    assert host.plugins["bare"].state == "failed"
    assert "must subclass hub.streaming.ProviderBase" in (host.plugins["bare"].error or "")
    assert "bare" not in host.providers


def test_a_reporter_that_does_not_subclass_the_base_fails_clearly(tmp_path: Path) -> None:
    class Bare:
        name = "bare_report"
        label = "Bare report"

        def render(self, data: Any, options: Any) -> bytes:
            return b""

    class Plugin:
        @hookimpl
        def register_reporters(self, register: Callable[[Any], None]) -> None:
            register(Bare())

    host = PluginHost(bare_settings(tmp_path), entry_points=False, extra=[("bare", Plugin())])
    assert host.plugins["bare"].state == "failed"
    assert "must subclass hub.reporter_base.ReporterBase" in (host.plugins["bare"].error or "")
    assert "bare_report" not in host.reporters


def test_settings_options_are_validated_at_start_up_naming_plugin_and_key(
    tmp_path: Path, inline: InlinePlugin
) -> None:
    host = PluginHost(
        bare_settings(tmp_path, echo={"hots": "x"}), entry_points=False, extra=[("inline", inline)]
    )
    record = host.plugins["inline"]
    assert record.state == "failed"
    assert record.error is not None and "echo" in record.error and "`hots`" in record.error
    assert "echo" not in host.providers

    typed = PluginHost(
        bare_settings(tmp_path, echo={"port": "19350"}),
        entry_points=False,
        extra=[("inline", InlinePlugin())],
    )
    assert typed.provider_options["echo"] == EchoSettings(port=19350)

    wrong_type = PluginHost(
        bare_settings(tmp_path, echo={"port": "many"}),
        entry_points=False,
        extra=[("inline", InlinePlugin())],
    )
    error = wrong_type.plugins["inline"].error or ""
    assert "echo" in error and "$.port" in error


def test_plugin_settings_come_from_environment_variables(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "SHAREHUB_DATA_DIR": str(tmp_path),
            "SHAREHUB_PLUGIN__TENCENT__PUSH_DOMAIN": "push.example.cn",
            "SHAREHUB_PLUGIN__TENCENT__PUSH_KEY": "0123456789abcdef",
        }
    )
    assert settings.plugin_options == {
        "tencent": {"push_domain": "push.example.cn", "push_key": "0123456789abcdef"}
    }
    masked = settings.masked()
    assert masked["SHAREHUB_PLUGIN__TENCENT__PUSH_DOMAIN"] == "push.example.cn"
    assert "0123456789abcdef" not in masked["SHAREHUB_PLUGIN__TENCENT__PUSH_KEY"]
    host = PluginHost(settings)
    assert host.provider_options["tencent"].push_domain == "push.example.cn"


def test_session_options_are_validated_naming_plugin_and_key(
    tmp_path: Path, inline: InlinePlugin
) -> None:
    from hub.errors import Invalid

    host = PluginHost(bare_settings(tmp_path), entry_points=False, extra=[("inline", inline)])
    assert host.session_options("echo", {"room": "3"}) == EchoOptions(room="3")
    with pytest.raises(Invalid) as unknown:
        host.session_options("echo", {"rooom": "3"})
    assert unknown.value.field == "provider_settings.rooom"
    assert "echo" in unknown.value.detail
    with pytest.raises(Invalid) as typed:
        host.session_options("echo", {"loud": "very"})
    assert typed.value.field == "provider_settings.loud"
    with pytest.raises(Invalid) as missing:
        host.provider("nope")
    assert missing.value.field == "provider" and "echo" in missing.value.detail


async def test_plugins_are_listed_over_http_with_errors_for_admins_only(
    tmp_path: Path, tiny_distribution: Callable[..., None]
) -> None:
    tiny_distribution("sharehub-broken", "sharehub_broken", "raise ImportError('secret path')\n")
    settings = bare_settings(tmp_path)
    app = create_app(settings, manage_db=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
    ) as client:
        listing = (await client.get("/api/v1/plugins")).json()
    by_name = {p["name"]: p for p in listing}
    assert by_name["sharehub_broken"]["state"] == "failed"
    assert "secret path" not in str(by_name["sharehub_broken"])  # anonymous: no details
    tencent = by_name["tencent"]
    assert tencent["state"] == "ok" and tencent["hooks"] == [
        "register_providers",
        "register_routes",
    ]
    provider = tencent["providers"][0]
    assert provider["name"] == "tencent" and provider["ready"] is False
    assert "SHAREHUB_PLUGIN__TENCENT__PUSH_DOMAIN" in provider["problem"]
    assert provider["capabilities"]["push"] == ["rtmp", "srt", "webrtc"]


def test_sharehub_plugins_command_lists_state_and_errors(
    tmp_path: Path,
    tiny_distribution: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tiny_distribution("sharehub-broken", "sharehub_broken", "raise ImportError('bad wheel')\n")
    settings = bare_settings(tmp_path)
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    status = cli.main(["plugins"])
    out = capsys.readouterr().out
    assert status == 1  # a failed plugin makes the command fail, for scripts
    assert re.search(r"sharehub_broken\s.*failed", out)
    assert "bad wheel" in out
    assert re.search(r"tencent\s.*ok", out)
    assert "register_providers" in out


def test_every_hook_has_a_test() -> None:
    specs = [n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "sharehub_spec")]
    assert specs, "no hook specifications found"
    source = "\n".join(p.read_text() for p in Path(__file__).parent.rglob("test_*.py"))
    untested = [n for n in specs if not re.search(rf"def test_hook_{n}[_(]", source)]
    assert not untested, f"hooks without a test named test_hook_<hook>...: {untested}"
    assert all(getattr(hookspecs, n).__doc__ for n in specs), "every hook needs a docstring"


async def test_hook_register_routes_serves_a_plugin_route(tmp_path: Path) -> None:
    from litestar import get

    @get("/api/v1/ingest/echo/ping", sync_to_thread=False)
    def ping() -> dict[str, str]:
        return {"pong": "echo"}

    class RoutePlugin:
        @hookimpl
        def register_routes(self, register: Callable[[Any], None]) -> None:
            register(ping)

    host = PluginHost(
        bare_settings(tmp_path), entry_points=False, extra=[("routes", RoutePlugin())]
    )
    assert host.plugins["routes"].routes == ["/api/v1/ingest/echo/ping"]
    app = create_app(host.settings, manage_db=False, plugins=host)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver.local"
    ) as client:
        answer = await client.get("/api/v1/ingest/echo/ping")
    assert answer.status_code == 200 and answer.json() == {"pong": "echo"}


def test_hook_register_notifiers_keeps_channels_and_refuses_bad_ones(tmp_path: Path) -> None:
    from hub.notify.base import NotifierBase

    class Lamp(NotifierBase):
        name = "lamp"
        label = "A lamp that blinks"
        target_fields = ("lamp_id",)

    class Inbox(NotifierBase):
        name = "inbox"  # the built-in channel's name
        label = "Another inbox"

    class Channels:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            register(Lamp())

    class Shadow:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            register(Inbox())

    class NotANotifier:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            register(object())

    host = PluginHost(
        bare_settings(tmp_path),
        entry_points=False,
        extra=[("channels", Channels()), ("shadow", Shadow()), ("odd", NotANotifier())],
    )
    assert host.notifier_ready("lamp") and host.plugins["channels"].notifiers == ["lamp"]
    assert host.plugins["shadow"].state == "failed" and "inbox" in str(host.plugins["shadow"].error)
    assert host.plugins["odd"].state == "failed" and "NotifierBase" in str(
        host.plugins["odd"].error
    )
    assert "inbox" not in host.notifiers
