"""Course materials: files a teacher attaches to a course or to one of its classes."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T20:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "material: files attached to a course or a class (print before / show in class)"


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
    manager.add_table(class_name="Material", tablename="material", schema=None, columns=None)
    columns: list[tuple[str, type, dict[str, object]]] = [
        ("course_id", Integer, _params(index=True)),
        ("session_id", Integer, _params(default=None, null=True, index=True)),
        ("title", Varchar, _params(default="", length=200)),
        ("filename", Varchar, _params(default="", length=200)),
        ("use", Varchar, _params(default="show", length=8)),
        ("content_type", Varchar, _params(default="", length=100)),
        ("size", BigInt, _params()),
        ("declared_size", BigInt, _params()),
        ("storage_key", Varchar, _params(default="", length=300)),
        ("preview_key", Varchar, _params(default="", length=300)),
        ("state", Varchar, _params(default="pending", length=10)),
        ("created_by", Integer, _params(default=None, null=True)),
        ("created_at", Timestamptz, _params(default=TimestamptzNow())),
        ("attached_at", Timestamptz, _params(default=None, null=True)),
    ]
    for name, column_class, params in columns:
        manager.add_column(
            table_class_name="Material",
            tablename="material",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
