from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Bytea
from piccolo.columns.column_types import DoublePrecision
from piccolo.columns.column_types import Integer
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.column_types import Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T14:21:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "live_window_segment: the live edge kept in the database while the store is unreachable."


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)

    manager.add_table(
        class_name="LiveWindowSegment",
        tablename="live_window_segment",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="LiveWindowSegment",
        tablename="live_window_segment",
        column_name="session_id",
        db_column_name="session_id",
        column_class_name="Integer",
        column_class=Integer,
        params={'default': 0, 'null': False, 'primary_key': False, 'unique': False, 'index': True, 'index_method': IndexMethod.btree, 'choices': None, 'db_column_name': None, 'secret': False},
        schema=None,
    )

    manager.add_column(
        table_class_name="LiveWindowSegment",
        tablename="live_window_segment",
        column_name="name",
        db_column_name="name",
        column_class_name="Varchar",
        column_class=Varchar,
        params={'length': 64, 'default': '', 'null': False, 'primary_key': False, 'unique': False, 'index': False, 'index_method': IndexMethod.btree, 'choices': None, 'db_column_name': None, 'secret': False},
        schema=None,
    )

    manager.add_column(
        table_class_name="LiveWindowSegment",
        tablename="live_window_segment",
        column_name="position",
        db_column_name="position",
        column_class_name="Integer",
        column_class=Integer,
        params={'default': 0, 'null': False, 'primary_key': False, 'unique': False, 'index': False, 'index_method': IndexMethod.btree, 'choices': None, 'db_column_name': None, 'secret': False},
        schema=None,
    )

    manager.add_column(
        table_class_name="LiveWindowSegment",
        tablename="live_window_segment",
        column_name="duration",
        db_column_name="duration",
        column_class_name="DoublePrecision",
        column_class=DoublePrecision,
        params={'default': 0.0, 'null': False, 'primary_key': False, 'unique': False, 'index': False, 'index_method': IndexMethod.btree, 'choices': None, 'db_column_name': None, 'secret': False},
        schema=None,
    )

    manager.add_column(
        table_class_name="LiveWindowSegment",
        tablename="live_window_segment",
        column_name="data",
        db_column_name="data",
        column_class_name="Bytea",
        column_class=Bytea,
        params={'default': b'', 'null': False, 'primary_key': False, 'unique': False, 'index': False, 'index_method': IndexMethod.btree, 'choices': None, 'db_column_name': None, 'secret': False},
        schema=None,
    )

    manager.add_column(
        table_class_name="LiveWindowSegment",
        tablename="live_window_segment",
        column_name="created_at",
        db_column_name="created_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={'default': TimestamptzNow(), 'null': False, 'primary_key': False, 'unique': False, 'index': False, 'index_method': IndexMethod.btree, 'choices': None, 'db_column_name': None, 'secret': False},
        schema=None,
    )

    return manager
