"""Piccolo app configuration for the hub's tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from hub.classroom_tables import CLASSROOM_TABLES
from hub.notify.tables import NOTIFY_TABLES
from hub.tables import CORE_TABLES
from hub.volunteer.tables import VOLUNTEER_TABLES

APP_CONFIG = AppConfig(
    app_name="hub",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=[*CORE_TABLES, *VOLUNTEER_TABLES, *CLASSROOM_TABLES, *NOTIFY_TABLES],
    migration_dependencies=[],
    commands=[],
)
