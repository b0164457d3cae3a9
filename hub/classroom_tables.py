"""The classroom back channel's table: every message between the rooms and the teacher."""

from __future__ import annotations

from piccolo.columns import JSON, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class ClassroomEvent(Table, tablename="classroom_event"):
    """One message of a class's back channel, in the order the hub took it (``id`` is the
    server-sent event id a reconnecting screen catches up from).

    ``audience`` says who may read it: ``teacher`` (the session's teacher and administrators:
    what the rooms send), ``center`` (that one room, e.g. its roll call or the answer to its
    question) or ``all`` (every room of the class). A room also sees what it sent itself.
    ``idem_key`` makes a retried send arrive once (session, sender and the client's key).
    """

    session_id = Integer(index=True)
    center_id = Integer(null=True, default=None)
    """The room a message comes from or is addressed to."""
    kind = Varchar(length=16)
    audience = Varchar(length=8, default="teacher")
    text = Varchar(length=500, default="")
    signal = Varchar(length=16, default="")
    photo_key = Varchar(length=300, default="")
    reply_to = Integer(null=True, default=None)
    state = Varchar(length=10, default="")
    """Of a room's question, hand or photo: open, answered or dismissed."""
    idem_key = Varchar(length=160, null=True, default=None, unique=True)
    author = Integer(null=True, default=None)
    data = JSON(default={})
    created_at = Timestamptz(default=TimestamptzNow())


CLASSROOM_TABLES: list[type[Table]] = [ClassroomEvent]
