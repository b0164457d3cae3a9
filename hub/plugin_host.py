"""Finds plugins through the ``sharehub`` entry-point group and keeps what they register.

A plugin that fails to import, to register or to validate its settings is listed as
failed with its error; the hub still starts, without that plugin's providers and
reporters. ``GET /api/v1/plugins`` and ``sharehub plugins`` show the list.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import msgspec
import pluggy

from hub import hookspecs, jobs
from hub.errors import Invalid
from hub.job_runner import JobKind
from hub.notify.base import NotifierBase
from hub.reporter_base import ReporterBase
from hub.settings import Settings
from hub.streaming import ProviderBase, StreamingProvider

log = logging.getLogger("sharehub.plugins")

ENTRY_POINT_GROUP = hookspecs.PROJECT
State = Literal["ok", "failed"]
PROVIDER_ATTRS = ("name", "label", "capabilities", "settings_model", "session_model")


@dataclass
class PluginRecord:
    """One plugin as ``sharehub plugins`` lists it."""

    name: str
    module: str
    version: str | None
    distribution: str | None
    hooks: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    reporters: list[str] = field(default_factory=list)
    notifiers: list[str] = field(default_factory=list)
    job_kinds: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    state: State = "ok"
    error: str | None = None

    def fail(self, error: str) -> None:
        self.state = "failed"
        self.error = error if self.error is None else f"{self.error}; {error}"
        log.error("plugin %s failed: %s", self.name, error)


def option_error(plugin: str, exc: msgspec.ValidationError, where: str) -> str:
    """msgspec's message with the plugin and the key named, e.g.
    ``plugin tencent: settings: Object contains unknown field `pushdomain```."""
    return f"plugin {plugin}: {where}: {exc}"


def error_key(exc: msgspec.ValidationError) -> str | None:
    """The option key a validation error is about (``$.key`` or an unknown field)."""
    text = str(exc)
    if "unknown field `" in text:
        return text.split("unknown field `", 1)[1].split("`", 1)[0]
    if "at `$." in text:
        return text.rsplit("at `$.", 1)[1].rstrip("`").split(".", 1)[0].split("[", 1)[0]
    return None


class PluginHost:
    """The plugin manager, the plugins it loaded and the providers and reporters they gave."""

    def __init__(
        self,
        settings: Settings,
        *,
        extra: Iterable[tuple[str, object]] = (),
        entry_points: bool = True,
    ) -> None:
        self.settings = settings
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginRecord] = {}
        self.providers: dict[str, StreamingProvider] = {}
        self.provider_options: dict[str, msgspec.Struct] = {}
        self.reporters: dict[str, Any] = {}
        self.reporter_options: dict[str, msgspec.Struct] = {}
        self.notifiers: dict[str, NotifierBase] = {}
        self.notifier_options: dict[str, msgspec.Struct] = {}
        self.job_kinds: dict[str, JobKind] = {}
        self.routes: list[Any] = []
        if entry_points:
            self._load_entry_points()
        for name, plugin in extra:
            self._register(name, plugin, PluginRecord(name, _module_name(plugin), None, None))
        self._collect()
        self._check_unclaimed_options()

    # -- loading ----------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        for ep in sorted(
            importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
        ):
            dist = ep.dist
            record = PluginRecord(
                ep.name, ep.value, dist.version if dist else None, dist.name if dist else None
            )
            if ep.name in self.plugins:
                record.fail(f"another plugin is already called {ep.name!r}")
                self.plugins[f"{ep.name} ({ep.value})"] = record
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # any import error must not take the hub down
                self.plugins[ep.name] = record
                record.fail(f"import failed: {type(exc).__name__}: {exc}")
                continue
            self._register(ep.name, plugin, record)

    def _register(self, name: str, plugin: object, record: PluginRecord) -> None:
        self.plugins[name] = record
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # pluggy validates hook signatures here
            record.fail(f"registration failed: {type(exc).__name__}: {exc}")
            return
        record.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])

    def _collect(self) -> None:
        """Call each plugin's register hooks on its own, so one failure stays its own."""
        from hub.job_kinds import CORE_KINDS

        for kind in CORE_KINDS:
            self.add_job_kind(kind)
        for hook_name, sink in (
            ("register_providers", self._add_provider),
            ("register_reporters", self._add_reporter),
            ("register_notifiers", self._add_notifier),
            ("register_job_kinds", self._add_job_kind),
            ("register_routes", self._add_route),
        ):
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                record = self.plugins[impl.plugin_name]
                if record.state == "failed":
                    continue

                def register(thing: Any, record: PluginRecord = record, sink: Any = sink) -> None:
                    sink(record, thing)

                try:
                    impl.function(**({"register": register} if impl.argnames else {}))
                except Exception as exc:
                    record.fail(f"{hook_name} failed: {type(exc).__name__}: {exc}")

    def _add_route(self, record: PluginRecord, handler: Any) -> None:
        self.routes.append(handler)
        paths = getattr(handler, "paths", None) or {getattr(handler, "path", None) or repr(handler)}
        record.routes.extend(sorted(str(p) for p in paths))

    def _add_job_kind(self, record: PluginRecord, kind: Any) -> None:
        if not isinstance(kind, JobKind):
            record.fail(f"register_job_kinds: {kind!r} is not a hub.job_runner.JobKind")
            return
        if kind.name in self.job_kinds:
            record.fail(f"the job kind {kind.name!r} is already taken")
            return
        self.add_job_kind(kind)
        record.job_kinds.append(kind.name)

    def add_job_kind(self, kind: JobKind) -> None:
        """Keep a kind and its retry policy (so jobs enqueued here get its attempt limit)."""
        self.job_kinds[kind.name] = kind
        jobs.register_policy(kind.name, kind.policy)

    def _validated_options(self, record: PluginRecord, thing: Any) -> msgspec.Struct | None:
        name = thing.name
        raw = self.settings.plugin_options.get(name, {})
        model = getattr(thing, "settings_model", None)
        if model is None:
            if raw:
                record.fail(f"plugin {name}: settings given but it takes none: {sorted(raw)}")
                return None
            return msgspec.Struct()
        try:
            return msgspec.convert(raw, model, strict=False)
        except msgspec.ValidationError as exc:
            record.fail(option_error(name, exc, "settings"))
            return None

    def _add_provider(self, record: PluginRecord, provider: Any) -> None:
        if not isinstance(provider, ProviderBase):
            record.fail(
                f"provider {getattr(provider, 'name', provider)!r} must subclass "
                "hub.streaming.ProviderBase (its optional methods' defaults)"
            )
            return
        if self._add(record, provider, PROVIDER_ATTRS, self.providers, self.provider_options):
            record.providers.append(provider.name)

    def _add_reporter(self, record: PluginRecord, reporter: Any) -> None:
        if not isinstance(reporter, ReporterBase):
            record.fail(
                f"reporter {getattr(reporter, 'name', reporter)!r} must subclass "
                "hub.reporter_base.ReporterBase (its optional parts' defaults)"
            )
            return
        if self._add(record, reporter, ("name", "label"), self.reporters, self.reporter_options):
            record.reporters.append(reporter.name)

    def _add_notifier(self, record: PluginRecord, notifier: Any) -> None:
        if not isinstance(notifier, NotifierBase):
            record.fail(
                f"notifier {getattr(notifier, 'name', notifier)!r} must subclass "
                "hub.notify.base.NotifierBase"
            )
            return
        if notifier.name in self.notifiers or notifier.name == "inbox":
            record.fail(f"the notifier name {notifier.name!r} is already taken")
            return
        if self._add(record, notifier, ("name", "label"), self.notifiers, self.notifier_options):
            record.notifiers.append(notifier.name)

    def notifier_ready(self, name: str) -> bool:
        """Whether a channel is loaded and its hub settings are complete."""
        notifier = self.notifiers.get(name)
        return notifier is not None and notifier.ready(self.notifier_options[name])

    def _add(
        self,
        record: PluginRecord,
        thing: Any,
        required: tuple[str, ...],
        into: dict[str, Any],
        options_into: dict[str, msgspec.Struct],
    ) -> bool:
        """Validate and keep one registered provider or reporter; False if it failed."""
        missing = [attr for attr in required if not hasattr(thing, attr)]
        if missing:
            record.fail(f"{thing!r} lacks {', '.join(missing)}")
            return False
        name = thing.name
        if name in self.providers or name in self.reporters:
            record.fail(f"the name {name!r} is already taken")
            return False
        options = self._validated_options(record, thing)
        if options is None:
            return False
        into[name] = thing
        options_into[name] = options
        return True

    def _check_unclaimed_options(self) -> None:
        known = set(self.providers) | set(self.reporters) | set(self.notifiers)
        for record in self.plugins.values():
            known |= set(record.providers) | set(record.reporters) | {record.name}
        for name in sorted(set(self.settings.plugin_options) - known):
            log.warning(
                "settings for plugin %r given, but no plugin registers that name "
                "(SHAREHUB_PLUGIN__%s__...)",
                name,
                name.upper(),
            )

    # -- use --------------------------------------------------------------------------------
    def call_each(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of a hook on its own; one that raises is marked failed
        (the others still run). Returns the results of those that succeeded."""
        results: list[Any] = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            record = self.plugins[impl.plugin_name]
            if record.state == "failed":
                continue
            try:
                results.append(impl.function(**{a: kwargs[a] for a in impl.argnames}))
            except Exception as exc:
                record.fail(f"{hook_name} failed: {type(exc).__name__}: {exc}")
        return results

    def default_provider(self) -> str:
        """The provider a new class uses when none is named (see ``Settings.default_provider``
        and ``ProviderBase.default_choice``); "" when no provider is loaded."""
        wanted = self.settings.default_provider
        if wanted:
            return wanted
        for name, provider in self.providers.items():
            if provider.default_choice:
                return name
        return next(iter(self.providers), "")

    def chosen_provider(self, name: str) -> str:
        """``name``, or the default provider when it is empty."""
        return name or self.default_provider()

    def provider(self, name: str, field_name: str = "provider") -> StreamingProvider:
        """The provider called ``name``; an unknown or failed one is a 400 naming the field."""
        try:
            return self.providers[name]
        except KeyError:
            known = ", ".join(sorted(self.providers)) or "none"
            raise Invalid(
                f"unknown streaming provider {name!r} (available: {known})", field=field_name
            ) from None

    def session_options(
        self, provider_name: str, raw: dict[str, Any] | None, field_name: str = "provider_settings"
    ) -> msgspec.Struct:
        """Validate a session's provider options; an error names the plugin and the key."""
        provider = self.provider(provider_name)
        try:
            return msgspec.convert(raw or {}, provider.session_model, strict=False)
        except msgspec.ValidationError as exc:
            key = error_key(exc)
            raise Invalid(
                option_error(provider_name, exc, "session options"),
                field=f"{field_name}.{key}" if key else field_name,
            ) from None

    def checked_session_options(
        self, provider_name: str, raw: dict[str, Any] | None, field_name: str = "provider_settings"
    ) -> msgspec.Struct:
        """``session_options`` and the provider's own check before saving (e.g. that a
        stream address is public)."""
        options = self.session_options(provider_name, raw, field_name)
        provider = self.providers[provider_name]
        if isinstance(provider, ProviderBase):
            provider.check_session(options, self.settings, field_name)
        return options

    def reporter(self, name: str, field_name: str = "reporter") -> Any:
        try:
            return self.reporters[name]
        except KeyError:
            known = ", ".join(sorted(self.reporters)) or "none"
            raise Invalid(
                f"unknown reporter {name!r} (available: {known})", field=field_name
            ) from None

    def listing(self) -> list[PluginRecord]:
        return [self.plugins[name] for name in sorted(self.plugins)]

    @property
    def hook_names(self) -> list[str]:
        return sorted(
            name
            for name in dir(hookspecs)
            if getattr(getattr(hookspecs, name), "sharehub_spec", None)
        )


def _module_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return f"{type(plugin).__module__}.{type(plugin).__qualname__}"
