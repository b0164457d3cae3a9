"""Private calendar feeds: a revocable token per feed of a share-center or a teacher (only its
hash is stored)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T14:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "calendar_feed: private .ics feeds of a center or a teacher, revocable"


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
    manager.add_table(class_name="CalendarFeed", tablename="calendar_feed", schema=None, columns=None)
    columns: list[tuple[str, type, dict[str, object]]] = [
        ("kind", Varchar, _params(default="", length=10)),
        ("owner_id", Integer, _params()),
        ("token_hash", Varchar, _params(default="", length=64, unique=True)),
        ("created_by", Integer, _params(default=None, null=True)),
        ("created_at", Timestamptz, _params(default=TimestamptzNow())),
        ("revoked_at", Timestamptz, _params(default=None, null=True)),
    ]
    for name, column_class, params in columns:
        manager.add_column(
            table_class_name="CalendarFeed",
            tablename="calendar_feed",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
