"""Offline lesson packs: one row per center and week (manifest), and bytes served."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, BigInt, Integer, Timestamptz, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T20:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "center_pack, pack_usage: offline lesson packs and the bytes served of them"


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
    ("CenterPack", "center_pack"): [
        ("center_id", Integer, _params(index=True)),
        ("week", Varchar, _params(default="", length=10)),
        ("slot", Varchar, _params(default="", length=40, unique=True)),
        ("state", Varchar, _params(default="queued", length=12)),
        ("manifest", JSON, _params(default="{}")),
        ("keys", JSON, _params(default="{}")),
        ("bytes", BigInt, _params()),
        ("files", Integer, _params()),
        ("built_at", Timestamptz, _params(default=None, null=True)),
    ],
    ("PackUsage", "pack_usage"): [
        ("center_id", Integer, _params(index=True)),
        ("week", Varchar, _params(default="", length=10)),
        ("month", Varchar, _params(default="", length=7, index=True)),
        ("slot", Varchar, _params(default="", length=60, unique=True)),
        ("bytes", BigInt, _params()),
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
