"""The signed-in user's notifications: the inbox (list, unread count, mark read) and their
preferences (channels per kind of event, quiet hours, their own channel addresses).
Everyone sees and changes only their own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post, put
from litestar.params import Parameter

from hub.accounts import Principal
from hub.api.common import PathId, need
from hub.auth import signed_in
from hub.errors import Invalid, NotFound
from hub.notify import prefs
from hub.notify.tables import Notification
from hub.plugin_host import PluginHost
from hub.settings import Settings


class NotificationOut(msgspec.Struct):
    id: int
    kind: str
    session_id: int | None
    subject: str
    body: str
    link: str
    created_at: datetime
    read: bool


class UnreadOut(msgspec.Struct):
    unread: int


class ChannelOut(msgspec.Struct):
    name: str
    label: str
    target_fields: list[str]


class PreferencesOut(msgspec.Struct):
    channels: dict[str, list[str]]
    quiet_start: str | None
    quiet_end: str | None
    targets: dict[str, str]
    """Secrets (a DingTalk signing secret) read back as ``"set"``."""
    available: list[ChannelOut]
    kinds: list[str]


def _out(row: dict[str, Any]) -> NotificationOut:
    return NotificationOut(
        id=row["id"],
        kind=row["kind"],
        session_id=row["session_id"],
        subject=row["subject"],
        body=row["body"],
        link=row["link"],
        created_at=row["created_at"],
        read=row["read_at"] is not None,
    )


def _mine(who: Principal) -> Any:
    return (Notification.user_id == who.user_id) & (Notification.channel == prefs.INBOX)


async def unread_count(user_id: int) -> int:
    return int(
        await Notification.count()
        .where(
            (Notification.user_id == user_id)
            & (Notification.channel == prefs.INBOX)
            & Notification.read_at.is_null()
        )
        .run()
    )


def _prefs_out(chosen: prefs.Preferences, plugins: PluginHost) -> PreferencesOut:
    return PreferencesOut(
        channels=chosen.channels,
        quiet_start=chosen.quiet_start,
        quiet_end=chosen.quiet_end,
        targets={k: ("set" if k in prefs.SECRET_FIELDS else v) for k, v in chosen.targets.items()},
        available=[
            ChannelOut(n.name, n.label, list(n.target_fields))
            for name, n in sorted(plugins.notifiers.items())
            if plugins.notifier_ready(name)
        ],
        kinds=list(prefs.KINDS),
    )


class NotificationController(Controller):
    path = "/api/v1/notifications"
    tags = ["notifications"]

    @get("/", guards=[signed_in])
    async def list_notifications(
        self,
        principal: Principal | None,
        unread_only: Annotated[bool, Parameter(description="only unread ones")] = False,
        limit: Annotated[int, Parameter(ge=1, le=200, description="at most this many")] = 50,
    ) -> list[NotificationOut]:
        """Your inbox, newest first."""
        who = need(principal)
        where = _mine(who)
        if unread_only:
            where = where & Notification.read_at.is_null()
        rows = (
            await Notification.select()
            .where(where)
            .order_by(Notification.id, ascending=False)
            .limit(limit)
            .run()
        )
        return [_out(r) for r in rows]

    @get("/unread-count", guards=[signed_in])
    async def count_unread(self, principal: Principal | None) -> UnreadOut:
        """How many of your notifications are unread (the bell's number)."""
        return UnreadOut(await unread_count(need(principal).user_id))

    @post("/{notification_id:int}/read", guards=[signed_in], status_code=204)
    async def mark_read(self, notification_id: PathId, principal: Principal | None) -> None:
        """Mark one of your notifications read (another user's is not found)."""
        who = need(principal)
        done = (
            await Notification.update({Notification.read_at: datetime.now(UTC)})
            .where((Notification.id == notification_id) & _mine(who))
            .returning(Notification.id)
            .run()
        )
        if not done:
            raise NotFound(f"notification {notification_id} not found", field="notification_id")

    @post("/read-all", guards=[signed_in], status_code=204)
    async def mark_all_read(self, principal: Principal | None) -> None:
        """Mark every one of your notifications read."""
        who = need(principal)
        await (
            Notification.update({Notification.read_at: datetime.now(UTC)})
            .where(_mine(who) & Notification.read_at.is_null())
            .run()
        )

    @get("/preferences", guards=[signed_in])
    async def get_preferences(
        self, principal: Principal | None, plugins: PluginHost
    ) -> PreferencesOut:
        """Your channels per kind of event, quiet hours and channel addresses."""
        who = need(principal)
        return _prefs_out((await prefs.load([who.user_id]))[who.user_id], plugins)

    @put("/preferences", guards=[signed_in])
    async def put_preferences(
        self,
        data: prefs.Preferences,
        principal: Principal | None,
        plugins: PluginHost,
        settings: Settings,
    ) -> PreferencesOut:
        """Replace your preferences. A kind's list names channels besides the inbox (which is
        always on); an address is checked by its channel (a bot URL must be public)."""
        who = need(principal)
        for kind, names in data.channels.items():
            if kind not in prefs.KINDS:
                raise Invalid(f"unknown kind of event {kind!r}", field=f"channels.{kind}")
            for name in names:
                if name != prefs.INBOX and name not in plugins.notifiers:
                    raise Invalid(f"unknown channel {name!r}", field=f"channels.{kind}")
        if (data.quiet_start is None) != (data.quiet_end is None):
            raise Invalid("give both ends of the quiet hours, or neither", field="quiet_end")
        known = {f for n in plugins.notifiers.values() for f in n.target_fields}
        for key in data.targets:
            if key not in known:
                raise Invalid(f"no channel takes {key!r}", field=f"targets.{key}")
        old = (await prefs.load([who.user_id]))[who.user_id]
        targets = dict(data.targets)
        for key in prefs.SECRET_FIELDS:  # "set" keeps the stored secret
            if targets.get(key) == "set" and key in old.targets:
                targets[key] = old.targets[key]
        chosen = msgspec.structs.replace(data, targets=targets)
        for notifier in plugins.notifiers.values():
            if any(targets.get(f) for f in notifier.target_fields):
                notifier.check_target(targets, settings)
        await prefs.save(who.user_id, chosen)
        return _prefs_out(chosen, plugins)
