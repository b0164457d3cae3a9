"""The media worker as a Sharehub plugin: `sharehub worker` and the embedded worker.

Registered through the `sharehub` entry-point group like any plugin, so the hub never
imports `media` by name.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from hub.hookspecs import hookimpl
from hub.job_runner import JobKind
from hub.plugin_host import PluginHost
from hub.settings import Settings


def embedded_wanted(settings: Settings) -> bool:
    """SHAREHUB_EMBEDDED_WORKER: on, off, or auto (on with the SQLite default)."""
    if settings.embedded_worker == "on":
        return True
    if settings.embedded_worker == "off":
        return False
    return settings.is_sqlite


@hookimpl
def register_commands(subcommands: argparse._SubParsersAction[Any]) -> None:
    from media.cli import add_worker_command

    add_worker_command(subcommands)


@hookimpl
def register_job_kinds(register: Callable[[JobKind], None]) -> None:
    from media.handlers import MEDIA_KINDS
    from media.sample_classes import SAMPLE_CLASS_KINDS

    for kind in (*MEDIA_KINDS, *SAMPLE_CLASS_KINDS):
        register(kind)


@hookimpl
def serve_tasks(settings: Settings, plugins: PluginHost) -> list[Callable[[], Awaitable[None]]]:
    if not embedded_wanted(settings):
        return []
    from media.worker import embedded

    return [lambda: embedded(settings, plugins)]
