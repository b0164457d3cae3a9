from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notification (outbox and inbox) and notify_preference"


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


TABLES: list[tuple[str, str, list[tuple[str, type, dict[str, object]]]]] = [
    (
        "Notification",
        "notification",
        [
            ("user_id", Integer, _params(index=True)),
            ("channel", Varchar, _params(default="", length=32)),
            ("kind", Varchar, _params(default="", length=32)),
            ("session_id", Integer, _params(default=None, null=True)),
            ("dedupe_key", Varchar, _params(default="", length=200, unique=True)),
            ("subject", Varchar, _params(default="", length=300)),
            ("body", Text, _params(default="")),
            ("link", Varchar, _params(default="", length=500)),
            ("state", Varchar, _params(default="pending", length=10)),
            ("send_after", Timestamptz, _params(default=TimestamptzNow())),
            ("sent_at", Timestamptz, _params(default=None, null=True)),
            ("read_at", Timestamptz, _params(default=None, null=True)),
            ("last_error", Varchar, _params(default="", length=500)),
            ("created_at", Timestamptz, _params(default=TimestamptzNow())),
        ],
    ),
    (
        "NotifyPreference",
        "notify_preference",
        [
            ("user_id", Integer, _params(unique=True)),
            ("data", JSON, _params(default="{}")),
            ("updated_at", Timestamptz, _params(default=TimestamptzNow())),
        ],
    ),
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)
    for class_name, tablename, columns in TABLES:
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
