"""Piccolo's configuration module. ``DB`` is set by ``hub.db.bind`` from the settings."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.base import Engine

DB: Engine | None = None

APP_REGISTRY = AppRegistry(apps=["hub.piccolo_app"])
