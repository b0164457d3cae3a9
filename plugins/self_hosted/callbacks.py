"""The RTMP server's publish callbacks: nginx's ``on_publish`` and ``on_publish_done``.

nginx (with the RTMP module) calls these with a form of the publish (``name`` is the
stream name ``sh{id}``, and the query the encoder put after it, ``key=...``, arrives as a
form field of its own). A 2xx answer lets the publish through; any other refuses it. The
callback URL carries a shared secret (``SHAREHUB_INGEST_SECRET``, or one derived from the
secret key) so nobody but the RTMP server can turn a session live or end it.

Accepted publishes turn the session live; the end of a publish turns it ended. Only
sessions of the self-hosted provider set to RTMP ingest are accepted, and only from a
while before their start to a while after their end.

Publishers are tracked by nginx's ``clientid`` (see ``plugins.self_hosted.publishers``):
a second push with the right key while the class is pushed is let through by the hub but
refused by nginx ("already publishing"), which still sends ``publish_done`` for it. That
done event, or any done event for a publisher that is not (or no longer) sending, changes
nothing; the class ends when its last accepted publisher is done.

These routes belong to the self-hosted plugin and reach the hub through the
``register_routes`` hook.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, parse_qsl

from litestar import Controller, Request, post
from litestar.params import Parameter
from litestar.response import Response

from hub import live
from hub.errors import DomainError
from hub.settings import Settings
from plugins.self_hosted import publishers

log = logging.getLogger("sharehub.ingest")

PROVIDER = "self_hosted"
"""The provider whose RTMP server calls back here."""
PUBLISH_EARLY = timedelta(minutes=60)
"""A teacher may start pushing this long before the scheduled start (sound checks)."""
CALLBACK_PATH = "/api/v1/ingest/rtmp"
MAX_FORM_BYTES = 16 * 1024
"""nginx's form is a few hundred bytes; anything much larger is not nginx."""


def callback_secret(settings: Settings) -> str:
    """The shared secret nginx puts in the callback URL: the setting, else an HMAC of the
    secret key (so every hub node with the same secret key agrees without extra config)."""
    if settings.ingest_secret:
        return settings.ingest_secret
    digest = hmac.new(
        settings.secret_key.encode(), b"sharehub rtmp publish callbacks", hashlib.sha256
    )
    return digest.hexdigest()[:40]


def publish_window(row: dict[str, Any]) -> tuple[datetime, datetime]:
    """From when to when a session accepts a publish."""
    return row["starts_at"] - PUBLISH_EARLY, row["ends_at"] + live.RESTART_GRACE


def plain(text: str, status: int) -> Response[str]:
    return Response(text, status_code=status, media_type="text/plain")


async def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """nginx posts application/x-www-form-urlencoded; ``notify_method get`` sends a query."""
    fields: dict[str, str] = {k: str(v) for k, v in request.query_params.items()}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    if body:
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            fields.setdefault(key, value)
    return fields


def key_of(form: dict[str, str]) -> str:
    """The ``key`` the encoder appended to the stream name (``sh12?key=...``)."""
    if form.get("key"):
        return form["key"]
    for field in ("args", "name"):  # older module versions pass the query along
        raw = form.get(field, "")
        query = raw.split("?", 1)[1] if "?" in raw else raw if field == "args" else ""
        found = parse_qs(query).get("key")
        if found:
            return found[0]
    return ""


def secret_ok(settings: Settings, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(
        callback_secret(settings).encode(), (given or "").encode()
    )


Secret = Annotated[str | None, Parameter(max_length=200, required=False)]


class IngestCallbackController(Controller):
    """Called by the RTMP server only (shared secret in the URL), never by browsers."""

    path = CALLBACK_PATH
    tags = ["streaming"]
    include_in_schema = False

    @post("/publish", status_code=200)
    async def on_publish(
        self, request: Request[Any, Any, Any], settings: Settings, secret: Secret = None
    ) -> Response[str]:
        """nginx ``on_publish``: 200 accepts the push and turns the session live; 403 refuses."""
        if not secret_ok(settings, secret):
            return plain("bad callback secret", 403)
        form = await form_of(request)
        name = form.get("name", "").split("?", 1)[0]
        session_id = live.session_id_of(name)
        if session_id is None:
            return plain("unknown stream name", 403)
        key = key_of(form)
        if not key or not await live.key_matches(session_id, key):
            log.warning("refused publish of %s from %s: wrong key", name, form.get("addr"))
            return plain("wrong stream key", 403)
        try:
            row = await live.session_row(session_id)
        except DomainError:
            return plain("no such session", 403)
        if row["provider"] != PROVIDER or (row["provider_settings"] or {}).get("ingest") != "rtmp":
            return plain("this session does not take RTMP pushes here", 403)
        now = live.clock()
        opens, closes = publish_window(row)
        if not opens <= now <= closes:
            return plain(f"pushing is open from {opens:%Y-%m-%d %H:%M} UTC", 403)
        try:
            went_live = await live.go_live(session_id, now)
        except DomainError as exc:
            return plain(exc.detail, 403)
        await publishers.accepted(session_id, form.get("clientid", ""), fresh=went_live)
        log.info(
            "session %d is live (RTMP publish %s from %s)",
            session_id,
            form.get("clientid", "?"),
            form.get("addr"),
        )
        return plain("ok", 200)

    @post("/publish-done", status_code=200)
    async def on_publish_done(
        self, request: Request[Any, Any, Any], settings: Settings, secret: Secret = None
    ) -> Response[str]:
        """nginx ``on_publish_done``: the push stopped, so the live session turns ended.

        Only a publish with the session's current key ends it: a refused publisher with a
        wrong key that disconnects does not end a class that another publisher carries; nor
        does the done event of a duplicate push nginx refused, or of a publisher that is not
        the one sending (``publishers.done``).
        """
        if not secret_ok(settings, secret):
            return plain("bad callback secret", 403)
        form = await form_of(request)
        session_id = live.session_id_of(form.get("name", "").split("?", 1)[0])
        key = key_of(form)
        if session_id is None or not key or not await live.key_matches(session_id, key):
            return plain("not a publish of ours", 200)
        if not await publishers.done(session_id, form.get("clientid", "")):
            log.info(
                "session %d: publish %s done, another publisher still sends: not ended",
                session_id,
                form.get("clientid", "?"),
            )
            return plain("ok", 200)
        if await live.end_stream(session_id):  # a rehearsal's push just stops
            log.info("session %d ended (RTMP publish done)", session_id)
        return plain("ok", 200)
