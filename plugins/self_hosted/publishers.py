"""Who is pushing a self-hosted RTMP session: nginx's client ids of accepted publishes.

nginx (RTMP module) calls ``on_publish`` before it checks for a stream already being
published; a second push with the right key is therefore accepted by the hub, refused by
nginx ("already publishing"), and its connection's ``on_publish_done`` still arrives. To
keep that from ending the class, the hub keeps the ``clientid`` of each accepted publish
in the session's ``provider_settings.rtmp_publishers`` and a done event removes only its
own: the class ends when no accepted publisher is left. A done event with a client id
that is not there (a refused duplicate, a replay) changes nothing.

A publish accepted while the session is not live starts the list afresh (nginx restarted,
client ids start again). A done event without a client id (a module too old to send
one) ends the class as before.
"""

from __future__ import annotations

from typing import Any

from hub import db
from hub.tables import LiveSession

KEY = "rtmp_publishers"
MAX_KEPT = 16
"""A bound on the list (publishers whose done event never came: nginx was killed)."""


async def _settings_of(session_id: int) -> dict[str, Any] | None:
    query = LiveSession.select(LiveSession.provider_settings, LiveSession.status).where(
        LiveSession.id == session_id
    )
    if not db.is_sqlite():
        query = query.lock_rows("UPDATE")
    row = await query.first().output(load_json=True).run()
    if row is None:
        return None
    found = row["provider_settings"]
    return dict(found) if isinstance(found, dict) else {}


async def _store(session_id: int, settings: dict[str, Any]) -> None:
    await (
        LiveSession.update({LiveSession.provider_settings: settings})
        .where(LiveSession.id == session_id)
        .run()
    )


async def accepted(session_id: int, client_id: str, *, fresh: bool = False) -> None:
    """An accepted publish: keep its client id (``fresh`` drops the ids kept before)."""
    if not client_id:
        return
    async with db.write_transaction():
        settings = await _settings_of(session_id)
        if settings is None:
            return
        kept = [] if fresh else [str(c) for c in settings.get(KEY, []) or []]
        if client_id not in kept:
            kept.append(client_id)
        settings[KEY] = kept[-MAX_KEPT:]
        await _store(session_id, settings)


async def done(session_id: int, client_id: str) -> bool:
    """A publish ended: True when it was the last accepted publisher (the class ends)."""
    if not client_id:
        return True
    async with db.write_transaction():
        settings = await _settings_of(session_id)
        if settings is None:
            return False
        kept = [str(c) for c in settings.get(KEY, []) or []]
        if client_id not in kept:
            return False
        kept.remove(client_id)
        settings[KEY] = kept
        await _store(session_id, settings)
        return not kept
