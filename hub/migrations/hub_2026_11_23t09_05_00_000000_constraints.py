"""One booking per center per session; indexes for the schedule's hot queries."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.migrations import run_statements

ID = "2026-11-23T09:05:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "booking uniqueness and schedule indexes"

STATEMENTS = [
    "CREATE UNIQUE INDEX booking_session_center ON booking (session, center)",
    "CREATE INDEX live_session_teacher_starts ON live_session (teacher, starts_at)",
    "CREATE INDEX live_session_starts_ends ON live_session (starts_at, ends_at)",
    "CREATE UNIQUE INDEX booking_checkin_key ON booking (checkin_key)",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)
    manager.add_raw(run_statements(STATEMENTS))
    return manager
