"""Indexes the figures read by at scale (issue 23): a center screen's viewer windows of a
session (the lesson delivery record and its per-center rollup on the admin dashboard sum
them for every booking)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.migrations import run_statements

ID = "2026-12-03T23:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "index of center screens' viewer windows per session"

STATEMENTS = [
    "CREATE INDEX viewer_window_center ON viewer_window (center_id, session_id) "
    "WHERE center_id IS NOT NULL",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)
    manager.add_raw(run_statements(STATEMENTS))
    return manager
