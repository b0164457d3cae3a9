"""The hooks a Sharehub plugin may implement.

A plugin is a module (or any object) with functions marked ``@hookimpl``, listed under the
``sharehub`` entry-point group of its distribution::

    [project.entry-points.sharehub]
    my_provider = "my_package.my_provider"

Built-in plugins in ``plugins/`` are registered through that same group in Sharehub's own
``pyproject.toml``; the hub finds every plugin through entry points and never imports one
by name. A hook's arguments are passed by keyword; an implementation may take fewer.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from hub.job_runner import JobKind
    from hub.notify.base import NotifierBase
    from hub.plugin_host import PluginHost
    from hub.reporting import Reporter
    from hub.settings import Settings
    from hub.streaming import StreamingProvider

PROJECT = "sharehub"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_providers(register: Callable[[StreamingProvider], None]) -> None:
    """Register streaming providers: call ``register(provider)`` once for each.

    Called once when the hub starts. A provider (see ``hub.streaming.StreamingProvider``)
    has a unique ``name``, a ``label``, its ``capabilities`` and two options models: one
    for the provider's settings (``SHAREHUB_PLUGIN__<NAME>__<KEY>`` variables) and one for
    the options a session carries. Both reject unknown keys.
    """


@hookspec
def register_reporters(register: Callable[[Reporter], None]) -> None:
    """Register charity reporters: call ``register(reporter)`` once for each.

    Called once when the hub starts. A reporter (see ``hub.reporting.Reporter``) turns the
    impact figures and detail rows of a period into a report file and may publish it.
    """


@hookspec
def register_commands(subcommands: argparse._SubParsersAction[Any]) -> None:
    """Add subcommands to the ``sharehub`` command line.

    ``subcommands`` is the argparse sub-parser collection; give each new parser
    ``set_defaults(run=handler)`` where ``handler(settings, args) -> int`` returns the exit
    status (``settings`` is the hub's ``Settings``).
    """


@hookspec
def serve_tasks(settings: Settings, plugins: PluginHost) -> list[Callable[[], Awaitable[None]]]:
    """Background work to run inside ``sharehub serve`` while it serves HTTP.

    Return coroutine functions; each is started after the database is ready and cancelled
    on shutdown (for example the embedded worker on the SQLite default). Return an empty
    list when there is nothing to run with these settings.
    """


@hookspec
def register_job_kinds(register: Callable[[JobKind], None]) -> None:
    """Add kinds of job: call ``register(kind)`` once for each (see ``hub.job_runner.JobKind``:
    name, handler, retry policy, lease and renewal interval, CPU-bound or not, payload
    model, and ``every`` for periodic work the runner's tick queues).

    Called once when the hub starts. A kind's name must be unique; the core registers
    ``export``, ``publish-report`` and its periodic housekeeping itself.
    """


@hookspec
def register_routes(register: Callable[[Any], None]) -> None:
    """Add HTTP routes: call ``register(handler)`` with Litestar route handlers or
    controllers, e.g. a provider's stream callbacks (``/api/v1/ingest/<provider>/...``).

    Called once when the hub starts; the routes are served by every ``sharehub serve``.
    Handlers may ask for the ``settings``, ``plugins`` and ``principal`` dependencies.
    A route that changes something checks who asks (a callback: its shared secret or
    the provider's signature).
    """


@hookspec
def register_notifiers(register: Callable[[NotifierBase], None]) -> None:
    """Register notification channels: call ``register(notifier)`` once for each.

    Called once when the hub starts. A notifier subclasses ``hub.notify.base.NotifierBase``:
    a unique ``name``, a ``label``, the preference fields holding a user's address on it
    (``target_fields``), an optional ``settings_model`` (``SHAREHUB_PLUGIN__<NAME>__<KEY>``,
    unknown keys refused) and ``send``. The in-hub inbox is built in and always on.
    """
