"""classroom_event: the back channel between the rooms and the teacher of a class."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "classroom_event: rooms' hands, signals, photos and the teacher's answers"


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
        class_name="ClassroomEvent", tablename="classroom_event", schema=None, columns=None
    )
    columns: list[tuple[str, type, dict[str, object]]] = [
        ("session_id", Integer, _params(index=True)),
        ("center_id", Integer, _params(default=None, null=True)),
        ("kind", Varchar, _params(default="", length=16)),
        ("audience", Varchar, _params(default="teacher", length=8)),
        ("text", Varchar, _params(default="", length=500)),
        ("signal", Varchar, _params(default="", length=16)),
        ("photo_key", Varchar, _params(default="", length=300)),
        ("reply_to", Integer, _params(default=None, null=True)),
        ("state", Varchar, _params(default="", length=10)),
        ("idem_key", Varchar, _params(default=None, null=True, length=160, unique=True)),
        ("author", Integer, _params(default=None, null=True)),
        ("data", JSON, _params(default="{}")),
        ("created_at", Timestamptz, _params(default=TimestamptzNow())),
    ]
    for name, column_class, params in columns:
        manager.add_column(
            table_class_name="ClassroomEvent",
            tablename="classroom_event",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
