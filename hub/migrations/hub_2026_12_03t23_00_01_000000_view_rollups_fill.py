"""Unique keys of the view rollups, and the rollups filled from the viewer windows already
counted (the beacon flush keeps them from then on)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.sqlite import SQLiteEngine

ID = "2026-12-03T23:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique keys of center_day_tally and viewer_first, filled from viewer_window"

KEYS = [
    "CREATE UNIQUE INDEX center_day_tally_key ON center_day_tally (center_id, day, kind)",
    "CREATE INDEX center_day_tally_day ON center_day_tally (day)",
    "CREATE UNIQUE INDEX viewer_first_key ON viewer_first (viewer, span, span_start)",
    "CREATE INDEX viewer_first_span ON viewer_first (span, span_start, first_day)",
]
FILL_CENTERS = (
    "INSERT INTO center_day_tally (center_id, day, kind, views, millis) "
    "SELECT center_id, day, kind, SUM(CASE WHEN counted THEN 1 ELSE 0 END), SUM(millis) "
    "FROM viewer_window WHERE center_id IS NOT NULL GROUP BY center_id, day, kind"
)


def fill_viewers(sqlite: bool) -> list[str]:
    spans = {
        "all": "'2000-01-01'" if sqlite else "DATE '2000-01-01'",
        "year": "date(day, 'start of year')" if sqlite else "date_trunc('year', day)::date",
        "month": "date(day, 'start of month')" if sqlite else "date_trunc('month', day)::date",
    }
    return [
        "INSERT INTO viewer_first (viewer, span, span_start, first_day) "
        f"SELECT viewer, '{span}', {start}, MIN(day) FROM viewer_window WHERE counted "
        f"GROUP BY viewer, {start}"
        for span, start in spans.items()
    ]


async def fill() -> None:
    engine = engine_finder()
    assert engine is not None
    for statement in [*KEYS, FILL_CENTERS, *fill_viewers(isinstance(engine, SQLiteEngine))]:
        await engine.run_ddl(statement)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)
    manager.add_raw(fill)
    return manager
