from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T14:30:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Tokens made before tokens expired get 90 days from now (after the column exists)."


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="hub", description=DESCRIPTION)

    async def expire_old_tokens() -> None:
        from datetime import UTC, datetime, timedelta

        from hub.tables import ApiToken

        await (
            ApiToken.update({ApiToken.expires_at: datetime.now(UTC) + timedelta(days=90)})
            .where(ApiToken.expires_at.is_null())
            .run()
        )

    manager.add_raw(expire_old_tokens)

    return manager
