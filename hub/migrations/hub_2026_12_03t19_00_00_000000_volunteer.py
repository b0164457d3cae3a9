"""Volunteer service records: entries, corrections, the audit log, profiles, awards and
evaluations, certificates (see ``hub.volunteer``)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Date, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "volunteer records: entries, corrections, audit log, profiles, certificates"


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


def _text(**over: object) -> dict[str, object]:
    return _params(default="", **over)


def _nullable_int() -> dict[str, object]:
    return _params(default=None, null=True)


def _now() -> dict[str, object]:
    return _params(default=TimestamptzNow())


def _later() -> dict[str, object]:
    return _params(default=None, null=True)


TABLES: dict[tuple[str, str], list[tuple[str, type, dict[str, object]]]] = {
    ("VolunteerEntry", "volunteer_entry"): [
        ("teacher_id", Integer, _params(index=True)),
        ("kind", Varchar, _text(length=16)),
        ("day", Date, _params(default=None)),
        ("seconds", Integer, _params()),
        ("content", Text, _text()),
        ("evidence", Text, _text()),
        ("state", Varchar, _text(length=10)),
        ("created_by", Integer, _nullable_int()),
        ("created_at", Timestamptz, _now()),
        ("decided_by", Integer, _nullable_int()),
        ("decided_at", Timestamptz, _later()),
        ("decision_reason", Text, _text()),
    ],
    ("VolunteerCorrection", "volunteer_correction"): [
        ("teacher_id", Integer, _params(index=True)),
        ("session_id", Integer, _nullable_int()),
        ("entry_id", Integer, _nullable_int()),
        ("seconds", Integer, _params()),
        ("reason", Text, _text()),
        ("state", Varchar, _text(length=10)),
        ("requested_by", Integer, _nullable_int()),
        ("requested_at", Timestamptz, _now()),
        ("decided_by", Integer, _nullable_int()),
        ("decided_at", Timestamptz, _later()),
        ("decision_reason", Text, _text()),
    ],
    ("VolunteerAudit", "volunteer_audit"): [
        ("at", Timestamptz, _now()),
        ("actor", Integer, _nullable_int()),
        ("action", Varchar, _text(length=40)),
        ("subject", Varchar, _text(length=20)),
        ("subject_id", Integer, _nullable_int()),
        ("teacher_id", Integer, _params(default=None, null=True, index=True)),
        ("before", JSON, _params(default="{}")),
        ("after", JSON, _params(default="{}")),
    ],
    ("VolunteerProfile", "volunteer_profile"): [
        ("teacher_id", Integer, _params(unique=True)),
        ("volunteer_number", Varchar, _text(length=40)),
        ("organisation", Varchar, _text(length=200)),
        ("organisation_contact", Varchar, _text(length=200)),
        ("updated_at", Timestamptz, _now()),
    ],
    ("VolunteerRecord", "volunteer_record"): [
        ("teacher_id", Integer, _params(index=True)),
        ("kind", Varchar, _text(length=12)),
        ("day", Date, _params(default=None)),
        ("title", Text, _text()),
        ("issuer", Varchar, _text(length=200)),
        ("recorded_by", Integer, _nullable_int()),
        ("created_at", Timestamptz, _now()),
    ],
    ("VolunteerCertificate", "volunteer_certificate"): [
        ("number", Varchar, _text(length=40, unique=True)),
        ("teacher_id", Integer, _params(index=True)),
        ("period_start", Date, _params(default=None)),
        ("period_end", Date, _params(default=None)),
        ("seconds", Integer, _params()),
        ("figures", JSON, _params(default="{}")),
        ("state", Varchar, _text(length=12)),
        ("storage_key", Varchar, _text(length=300)),
        ("requested_by", Integer, _nullable_int()),
        ("issued_by", Integer, _nullable_int()),
        ("issued_at", Timestamptz, _later()),
        ("superseded_by", Varchar, _text(length=40)),
        ("reason", Text, _text()),
        ("created_at", Timestamptz, _now()),
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
