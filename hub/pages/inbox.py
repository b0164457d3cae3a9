"""The signed-in user's inbox page (the bell in the header links here): their own
notifications, newest first, and a button that marks them all read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, get, post

from hub.auth import signed_in
from hub.notify import prefs
from hub.notify.tables import Notification
from hub.pages.forms import form_of, see_other
from hub.pages.render import page, principal_of


def _mine(user_id: int) -> Any:
    return (Notification.user_id == user_id) & (Notification.channel == prefs.INBOX)


@get("/notifications", guards=[signed_in], name="pages:inbox")
async def inbox(request: Request[Any, Any, Any]) -> Response[Any]:
    """Your notifications."""
    who = principal_of(request)
    assert who is not None
    rows = (
        await Notification.select()
        .where(_mine(who.user_id))
        .order_by(Notification.id, ascending=False)
        .limit(100)
        .run()
    )
    unread = sum(1 for r in rows if r["read_at"] is None)
    return page(request, "inbox.html", {"items": rows, "unread": unread})


@post("/notifications/read", guards=[signed_in], name="pages:inbox-read")
async def read_all(request: Request[Any, Any, Any]) -> Response[Any]:
    """Mark all your notifications read."""
    await form_of(request)
    who = principal_of(request)
    assert who is not None
    await (
        Notification.update({Notification.read_at: datetime.now(UTC)})
        .where(_mine(who.user_id) & Notification.read_at.is_null())
        .run()
    )
    return see_other("/notifications")


HANDLERS = [inbox, read_all]
