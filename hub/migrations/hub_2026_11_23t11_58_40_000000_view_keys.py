"""Unique keys that make view counting exact across processes, and the indexes it reads by."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from hub.migrations import run_statements

ID = "2026-11-23T11:58:40:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique keys and indexes for view tallies, viewer windows and report lookups"

STATEMENTS = [
    "CREATE UNIQUE INDEX view_tally_key ON view_tally (session_id, day, kind)",
    "CREATE INDEX view_tally_day ON view_tally (day)",
    "CREATE UNIQUE INDEX viewer_window_key ON viewer_window (viewer, session_id, window_start)",
    "CREATE INDEX viewer_window_session_seen ON viewer_window (session_id, last_seen)",
    "CREATE INDEX viewer_window_day ON viewer_window (day, session_id)",
    "CREATE INDEX impact_report_period ON impact_report (reporter, period_start, trigger)",
    "CREATE UNIQUE INDEX impact_report_monthly ON impact_report (reporter, period_start) "
    "WHERE trigger = 'schedule'",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)
    manager.add_raw(run_statements(STATEMENTS))
    return manager
