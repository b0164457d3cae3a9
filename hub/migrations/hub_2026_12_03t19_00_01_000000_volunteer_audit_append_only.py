"""The volunteer audit log is append-only in the database too: an UPDATE (and on PostgreSQL a
DELETE) of a ``volunteer_audit`` row is refused by a trigger. (SQLite keeps DELETE for the
tests' emptying of tables; the hub has no path that deletes a row, on either.)"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-03T19:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "volunteer_audit: refuse UPDATE and DELETE (append-only)"

POSTGRES = [
    """CREATE FUNCTION volunteer_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'volunteer_audit is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql""",
    "CREATE TRIGGER volunteer_audit_no_update BEFORE UPDATE OR DELETE ON volunteer_audit "
    "FOR EACH ROW EXECUTE FUNCTION volunteer_audit_append_only()",
]
SQLITE = [
    "CREATE TRIGGER volunteer_audit_no_update BEFORE UPDATE ON volunteer_audit "
    "BEGIN SELECT RAISE(ABORT, 'volunteer_audit is append-only (UPDATE refused)'); END",
]


async def refuse_changes() -> None:
    engine = engine_finder()
    assert engine is not None
    for statement in POSTGRES if isinstance(engine, PostgresEngine) else SQLITE:
        await engine.run_ddl(statement)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)
    manager.add_raw(refuse_changes)
    return manager
