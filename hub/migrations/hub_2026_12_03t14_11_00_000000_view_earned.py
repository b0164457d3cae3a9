"""Views earned in server time: a viewer window keeps when the server first and last took a
beacon of it (milliseconds), how many, and which flush counted it (so the one statement that
makes it count is known on both backends)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.migrations import run_statements

ID = "2026-12-03T14:11:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "viewer windows: first/last seen in milliseconds, beacon count, counting flush"

STATEMENTS = [
    "ALTER TABLE viewer_window ADD COLUMN first_ms BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE viewer_window ADD COLUMN last_ms BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE viewer_window ADD COLUMN beacons INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE viewer_window ADD COLUMN counted_by BIGINT NULL",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)
    manager.add_raw(run_statements(STATEMENTS))
    return manager
