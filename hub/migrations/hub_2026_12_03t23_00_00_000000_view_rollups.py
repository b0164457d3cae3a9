"""Rollups the impact figures read instead of every viewer window: per share-center per day
per kind (counted views, milliseconds watched), and each viewer's first counted day per span
(all, year, month) for exact unique viewers."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt, Date, Integer, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "center_day_tally and viewer_first: rollups of the viewer windows"


def _params(**over: object) -> dict[str, object]:
    params: dict[str, object] = {
        "default": 0,
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    params.update(over)
    return params


TABLES: dict[tuple[str, str], list[tuple[str, type, dict[str, object]]]] = {
    ("CenterDayTally", "center_day_tally"): [
        ("center_id", Integer, _params()),
        ("day", Date, _params(default=None)),
        ("kind", Varchar, _params(default="", length=8)),
        ("views", Integer, _params()),
        ("millis", BigInt, _params()),
    ],
    ("ViewerFirst", "viewer_first"): [
        ("viewer", Varchar, _params(default="", length=32)),
        ("span", Varchar, _params(default="", length=8)),
        ("span_start", Date, _params(default=None)),
        ("first_day", Date, _params(default=None)),
    ],
}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)
    for (class_name, tablename), columns in TABLES.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params in columns:
            manager.add_column(
                table_class_name=class_name,
                tablename=tablename,
                column_name=name,
                db_column_name=name,
                column_class_name=column_class.__name__,
                column_class=column_class,
                params=params,
                schema=None,
            )
    return manager
