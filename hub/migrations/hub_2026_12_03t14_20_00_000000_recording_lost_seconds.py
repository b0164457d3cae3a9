from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import DoublePrecision
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T14:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Recording.lost_seconds: class time missing from a replay after a recorder was cut off."


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)

    manager.add_column(
        table_class_name="Recording",
        tablename="recording",
        column_name="lost_seconds",
        db_column_name="lost_seconds",
        column_class_name="DoublePrecision",
        column_class=DoublePrecision,
        params={
            "default": 0.0,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
