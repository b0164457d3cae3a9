"""The notification tables: the outbox (every message, one row per recipient and channel,
which is also the in-hub inbox for the ``inbox`` channel) and each user's preferences."""

from __future__ import annotations

from piccolo.columns import JSON, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Notification(Table, tablename="notification"):
    """One message to one user through one channel.

    ``dedupe_key`` (event, subject, user, channel) is unique: an event raised twice (two
    workers scanning the same reminder, a retried request) adds no second row, so a message
    is sent once. ``state``: ``pending`` (a ``notify-send`` job delivers it at ``send_after``),
    ``sent``, ``failed`` (its job gave up) or ``off`` (the channel is no longer set up).
    Inbox rows are ``sent`` when written; ``read_at`` marks them read.
    """

    user_id = Integer(index=True)
    channel = Varchar(length=32)
    kind = Varchar(length=32)
    session_id = Integer(null=True, default=None)
    dedupe_key = Varchar(length=200, unique=True)
    subject = Varchar(length=300, default="")
    body = Text(default="")
    link = Varchar(length=500, default="")
    state = Varchar(length=10, default="pending")
    send_after = Timestamptz(default=TimestamptzNow())
    sent_at = Timestamptz(null=True, default=None)
    read_at = Timestamptz(null=True, default=None)
    last_error = Varchar(length=500, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class NotifyPreference(Table, tablename="notify_preference"):
    """A user's choices (``hub.notify.prefs.Preferences`` as JSON): channels per kind of
    event, quiet hours and the addresses of their own channels (e-mail, group bots)."""

    user_id = Integer(unique=True)
    data = JSON(default={})
    updated_at = Timestamptz(default=TimestamptzNow())


NOTIFY_TABLES: list[type[Table]] = [Notification, NotifyPreference]
