"""Index for the worker's claim query: due jobs by state and run-after time."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.migrations import run_statements

ID = "2026-11-23T12:06:50:000000"
VERSION = "1.38.0"
DESCRIPTION = "job claim index on state and run_after"

STATEMENTS = [
    "CREATE INDEX job_state_run_after ON job (state, run_after)",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)
    manager.add_raw(run_statements(STATEMENTS))
    return manager
