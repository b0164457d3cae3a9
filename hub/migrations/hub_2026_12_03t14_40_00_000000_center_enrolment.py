"""Share-centers' enrolment with its history: how many children a center serves, from a day
on (a new record for each change; none is overwritten)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Date, Integer, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T14:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "center_enrolment: children a center serves, from a day on, with history"


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


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)
    manager.add_table(
        class_name="CenterEnrolment", tablename="center_enrolment", schema=None, columns=None
    )
    columns: list[tuple[str, type, dict[str, object]]] = [
        ("center", Integer, _params()),
        ("children", Integer, _params()),
        ("effective_from", Date, _params(default=None)),
        ("recorded_by", Integer, _params(default=None, null=True)),
        ("recorded_at", Timestamptz, _params(default=TimestamptzNow())),
    ]
    for name, column_class, params in columns:
        manager.add_column(
            table_class_name="CenterEnrolment",
            tablename="center_enrolment",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
