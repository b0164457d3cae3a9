"""From an event to messages delivered once.

1. ``raise_event`` queues one ``notify-event`` job whose dedupe key is the event's key
   (``cancelled:<session>``, ``reminder:<session>:<start>``...): an event raised twice, by a
   retried request or by two workers scanning the same reminder, is one job.
2. That job (``fan_out``) finds the people concerned (the teacher, the booked centers'
   operators, the administrators, as the kind says), renders each one's message in their
   language and zone, and writes one outbox row per recipient and channel with a unique
   ``dedupe_key``: the inbox row is delivered as it is written; every other row that is due
   is handed to its channel right there, and a row held by quiet hours (or whose sending
   failed) gets its own ``notify-send`` job (dedupe ``notify:<row>``, never reopened).
3. ``deliver`` (in the fan-out, or the ``notify-send`` job) holds the row while the
   recipient's quiet hours last or their hourly limit is reached, claims it atomically
   (``pending`` to ``sending``: one sender at a time, a lapsed claim taken over), hands it to
   the channel and marks it sent. A failure puts it back to ``pending`` and the job queue
   retries it; a sent row is never sent again.

``scan_due`` (the periodic ``notify-due`` job) raises the reminders of classes starting
within ``SHAREHUB_REMIND_MINUTES`` and the "no stream yet" notices of classes
``SHAREHUB_NOTIFY_NO_STREAM_MINUTES`` past their start with nothing pushed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from hub import jobs
from hub.notify import messages, prefs
from hub.notify.base import Message, NotifierBase
from hub.notify.tables import Notification
from hub.settings import Settings
from hub.tables import Booking, Job, LiveSession, Role, SessionStatus, ShareCenter, User

if TYPE_CHECKING:
    from hub.plugin_host import PluginHost

log = logging.getLogger("sharehub.notify")

NOTIFY_EVENT = "notify-event"
NOTIFY_SEND = "notify-send"
NOTIFY_DUE = "notify-due"
SESSION_KINDS = {
    # kind: (teacher, booked centers, administrators)
    "class_booked": (True, True, False),
    "class_cancelled": (True, True, False),
    "class_moved": (True, True, False),
    "reminder": (True, True, False),
    "no_stream": (True, True, True),
    "replay_ready": (True, True, False),
}
GO_LIVE_KINDS = {"reminder", "no_stream"}
NO_STREAM_LOOKBACK = timedelta(hours=1)
SENDING_LEASE = timedelta(minutes=5)
RETRY_FIRST = timedelta(seconds=30)
"""How long a sender's claim on a row holds (a channel's own timeout is shorter)."""


class EventPayload(msgspec.Struct):
    kind: str
    key: str
    session_id: int | None = None
    center_id: int | None = None
    """class_booked: the center that booked (only it and the teacher are told)."""
    facts: dict[str, str] = {}


class SendPayload(msgspec.Struct):
    notification_id: int


@dataclass(frozen=True)
class Recipient:
    user_id: int
    language: str
    tz: ZoneInfo
    teacher: bool


def _zone(name: str, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "Asia/Shanghai"):
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


async def raise_event(
    kind: str,
    key: str,
    *,
    session_id: int | None = None,
    center_id: int | None = None,
    facts: dict[str, str] | None = None,
) -> None:
    """Queue the event once (its key names it; raising it again adds nothing)."""
    payload = EventPayload(
        kind=kind, key=key, session_id=session_id, center_id=center_id, facts=facts or {}
    )
    await jobs.enqueue(
        NOTIFY_EVENT,
        msgspec.to_builtins(payload),
        dedupe_key=f"event:{key}"[:200],
        reopen=(),
        rerun_if_running=False,
    )


async def safely_raise(kind: str, key: str, **kw: Any) -> None:
    """``raise_event`` from a request that already did its work: a failure to queue the
    notice is logged and does not undo the change the user made."""
    try:
        await raise_event(kind, key, **kw)
    except Exception:
        log.exception("could not queue the %s notice %s", kind, key)


async def _users(where: Any, settings: Settings, teacher: bool) -> list[Recipient]:
    rows = (
        await User.select(
            User.id, User.language, User.timezone, User.center.timezone.as_alias("center_tz")
        )
        .where(where & (User.active == True))  # noqa: E712
        .order_by(User.id)
        .run()
    )
    return [
        Recipient(
            r["id"],
            messages.language_of(r["language"]),
            _zone(r["timezone"] or r["center_tz"] or "", settings.timezone),
            teacher,
        )
        for r in rows
    ]


async def recipients(payload: EventPayload, settings: Settings) -> list[Recipient]:
    """Who an event concerns, each once."""
    found: list[Recipient] = []
    if payload.session_id is not None and payload.kind in SESSION_KINDS:
        to_teacher, to_centers, to_admins = SESSION_KINDS[payload.kind]
        session = (
            await LiveSession.select(LiveSession.teacher.user.as_alias("teacher_user"))
            .where(LiveSession.id == payload.session_id)
            .first()
            .run()
        )
        if session is None:
            return []
        if to_teacher and session["teacher_user"]:
            found += await _users(User.id == session["teacher_user"], settings, True)
        if to_centers:
            if payload.center_id is not None:
                centers = [payload.center_id]
            else:
                booked = await Booking.select(Booking.center).where(
                    Booking.session == payload.session_id
                )
                centers = [b["center"] for b in booked]
            if centers:
                found += await _users(
                    User.center.is_in(centers) & (User.role == Role.center.value), settings, False
                )
        if to_admins:
            found += await _users(User.role == Role.admin.value, settings, False)
    else:  # hub-wide events (a report failed): the administrators
        found += await _users(User.role == Role.admin.value, settings, False)
    seen: set[int] = set()
    unique = []
    for r in found:
        if r.user_id not in seen:
            seen.add(r.user_id)
            unique.append(r)
    return unique


async def _facts(payload: EventPayload) -> dict[str, Any]:
    facts: dict[str, Any] = dict(payload.facts)
    if payload.session_id is not None:
        row = (
            await LiveSession.select(
                LiveSession.starts_at, LiveSession.course.title.as_alias("title")
            )
            .where(LiveSession.id == payload.session_id)
            .first()
            .run()
        )
        if row:
            facts.setdefault("title", row["title"])
            facts["starts_at"] = row["starts_at"]
    if payload.center_id is not None:
        center = (
            await ShareCenter.select(ShareCenter.name)
            .where(ShareCenter.id == payload.center_id)
            .first()
            .run()
        )
        facts["center"] = center["name"] if center else ""
    return facts


def channels_for(
    kind: str,
    chosen: prefs.Preferences,
    plugins: PluginHost,
) -> list[str]:
    """The inbox, and each ready channel the user has an address for and did not turn off
    for this kind."""
    out = [prefs.INBOX]
    wanted = chosen.channels.get(kind)
    for name, notifier in plugins.notifiers.items():
        if not plugins.notifier_ready(name):
            continue
        if not all(chosen.targets.get(f) for f in notifier.target_fields[:1]):
            continue
        if wanted is None or name in wanted:
            out.append(name)
    return out


def links_for(payload: EventPayload, recipient: Recipient, settings: Settings) -> dict[str, str]:
    if payload.session_id is None:
        return {}
    base = settings.public_url.rstrip("/")
    links = {"watch": f"{base}/watch/{payload.session_id}"}
    if recipient.teacher and payload.kind in GO_LIVE_KINDS:
        links["go_live"] = f"{base}/teacher/sessions/{payload.session_id}"
    return links


async def fan_out(
    payload: EventPayload, settings: Settings, plugins: PluginHost, now: datetime | None = None
) -> int:
    """One outbox row per recipient and channel (idempotent). Rows that are due are handed
    to their channel here; the others (held, or failed) get a ``notify-send`` job each.
    Returns how many jobs were queued."""
    now = now or datetime.now(UTC)
    people = await recipients(payload, settings)
    if not people:
        return 0
    facts = await _facts(payload)
    chosen = await prefs.load([p.user_id for p in people])
    rows: list[Notification] = []
    for person in people:
        mine = chosen[person.user_id]
        message = messages.render(
            payload.kind, person.language, person.tz, facts, links_for(payload, person, settings)
        )
        quiet = prefs.quiet_until(mine, person.tz, now)
        for channel in channels_for(payload.kind, mine, plugins):
            inbox = channel == prefs.INBOX
            rows.append(
                Notification(
                    user_id=person.user_id,
                    channel=channel,
                    kind=payload.kind,
                    session_id=payload.session_id,
                    dedupe_key=f"{payload.key}:{person.user_id}:{channel}"[:200],
                    subject=message.subject[:300],
                    body=message.text,
                    link=message.link[:500],
                    state="sent" if inbox else "pending",
                    send_after=now if inbox or quiet is None else quiet,
                    sent_at=now if inbox else None,
                    created_at=now,
                )
            )
    await (
        Notification.insert(*rows)
        .on_conflict(target=Notification.dedupe_key, action="DO NOTHING")
        .run()
    )
    # a retried fan-out finds its rows already written: their send jobs are queued again
    # (deduplicated), so a crash between the two steps loses nothing
    pending = (
        await Notification.select()
        .where(
            Notification.dedupe_key.is_in([r.dedupe_key for r in rows])
            & Notification.state.is_in(["pending", "sending"])
        )
        .run()
    )
    queued = 0
    by_user = {p.user_id: p for p in people}
    for row in pending:
        run_after = row["send_after"]
        if run_after <= now:  # due: sent right here; a hold or a failure goes to its own job
            try:
                person = by_user[row["user_id"]]
                hold = await _deliver_row(
                    row, chosen[person.user_id], person.tz, settings, plugins, now
                )
            except Exception as exc:
                log.warning("notification %d: %s (retried by a job)", row["id"], exc)
                hold = RETRY_FIRST.total_seconds()
            if hold is None:
                continue
            run_after = now + timedelta(seconds=hold)
        queued += 1
        await jobs.enqueue(
            NOTIFY_SEND,
            {"notification_id": row["id"]},
            dedupe_key=f"notify:{row['id']}",
            run_after=run_after,
            reopen=(),
            rerun_if_running=False,
        )
    return queued


async def _recipient_zone(user_id: int, settings: Settings) -> ZoneInfo:
    found = await _users(User.id == user_id, settings, False)
    return found[0].tz if found else _zone("", settings.timezone)


async def deliver(
    notification_id: int, settings: Settings, plugins: PluginHost, now: datetime | None = None
) -> float | None:
    """Send one outbox row; returns seconds to hold it (quiet hours, the hourly limit), or
    None when it is done (sent, or there is nothing to send)."""
    now = now or datetime.now(UTC)
    row = await Notification.select().where(Notification.id == notification_id).first().run()
    if row is None or row["state"] not in ("pending", "sending"):
        return None  # sent already (or gone): never twice
    chosen = (await prefs.load([row["user_id"]]))[row["user_id"]]
    tz = await _recipient_zone(row["user_id"], settings)
    return await _deliver_row(row, chosen, tz, settings, plugins, now)


async def _deliver_row(
    row: dict[str, Any],
    chosen: prefs.Preferences,
    tz: ZoneInfo,
    settings: Settings,
    plugins: PluginHost,
    now: datetime,
) -> float | None:
    """``deliver`` with the row and its recipient's preferences and zone at hand."""
    notification_id = row["id"]
    notifier: NotifierBase | None = plugins.notifiers.get(row["channel"])
    if notifier is None or not plugins.notifier_ready(row["channel"]):
        await _mark(notification_id, "off", "the channel is not set up", now)
        return None
    target = {f: chosen.targets.get(f, "") for f in notifier.target_fields}
    if notifier.target_fields and not target[notifier.target_fields[0]]:
        await _mark(notification_id, "off", "the recipient removed their address", now)
        return None
    quiet = prefs.quiet_until(chosen, tz, now)
    if quiet is not None:
        return max(1.0, (quiet - now).total_seconds())
    limit = settings.notify_rate_per_hour
    if limit > 0:
        hour_ago = now - timedelta(hours=1)
        recent = (
            await Notification.select(Notification.sent_at)
            .where(
                (Notification.user_id == row["user_id"])
                & (Notification.channel != prefs.INBOX)
                & (Notification.state == "sent")
                & (Notification.sent_at > hour_ago)
            )
            .order_by(Notification.sent_at)
            .run()
        )
        if len(recent) >= limit:
            oldest = recent[len(recent) - limit]["sent_at"]
            return max(1.0, (oldest + timedelta(hours=1) - now).total_seconds())
    if not await _claim(notification_id, now):
        return None  # another worker is sending it, or sent it
    message = Message(kind=row["kind"], subject=row["subject"], text=row["body"], link=row["link"])
    try:
        await notifier.send(message, target, plugins.notifier_options[notifier.name], settings)
    except Exception as exc:
        await (
            Notification.update(
                {
                    Notification.state: "pending",
                    Notification.send_after: now,
                    Notification.last_error: f"{type(exc).__name__}: {exc}"[:500],
                }
            )
            .where((Notification.id == notification_id) & (Notification.state == "sending"))
            .run()
        )
        raise
    await _mark(notification_id, "sent", "", now)
    return None


async def _claim(notification_id: int, now: datetime) -> bool:
    """Take the row for sending, atomically: one sender at a time (a claim left by a sender
    that died lapses after ``SENDING_LEASE``)."""
    taken = (
        await Notification.update(
            {Notification.state: "sending", Notification.send_after: now + SENDING_LEASE}
        )
        .where(
            (Notification.id == notification_id)
            & (
                (Notification.state == "pending")
                | ((Notification.state == "sending") & (Notification.send_after < now))
            )
        )
        .returning(Notification.id)
        .run()
    )
    return bool(taken)


async def _mark(notification_id: int, state: str, error: str, now: datetime) -> None:
    await (
        Notification.update(
            {
                Notification.state: state,
                Notification.last_error: error,
                Notification.sent_at: now if state == "sent" else None,
            }
        )
        .where(
            (Notification.id == notification_id) & Notification.state.is_in(["pending", "sending"])
        )
        .run()
    )


async def _raise_new(kind: str, keyed: dict[str, int]) -> list[int]:
    """Raise the events whose job is not there yet (the job's unique key decides a race)."""
    if not keyed:
        return []
    taken: set[str] = set()
    keys = [f"event:{k}" for k in keyed]
    for i in range(0, len(keys), 500):
        found = await Job.select(Job.dedupe_key).where(Job.dedupe_key.is_in(keys[i : i + 500]))
        taken |= {r["dedupe_key"] for r in found}
    raised = []
    for key, session_id in keyed.items():
        if f"event:{key}" not in taken:
            await raise_event(kind, key, session_id=session_id)
            raised.append(session_id)
    return raised


async def scan_due(settings: Settings, now: datetime | None = None) -> dict[str, list[int]]:
    """Raise due reminders and "no stream yet" notices; returns the sessions of each."""
    now = now or datetime.now(UTC)
    soon = (
        await LiveSession.select(LiveSession.id, LiveSession.starts_at)
        .where(
            (LiveSession.status == SessionStatus.scheduled.value)
            & (LiveSession.starts_at > now)
            & (LiveSession.starts_at <= now + timedelta(minutes=settings.remind_minutes))
        )
        .run()
    )
    late_start = now - timedelta(minutes=settings.notify_no_stream_minutes)
    late = (
        await LiveSession.select(LiveSession.id, LiveSession.starts_at)
        .where(
            (LiveSession.status == SessionStatus.scheduled.value)
            & LiveSession.pushing_since.is_null()
            & (LiveSession.starts_at <= late_start)
            & (LiveSession.starts_at > now - NO_STREAM_LOOKBACK)
            & (LiveSession.ends_at > now)
        )
        .run()
    )
    return {
        "reminder": await _raise_new(
            "reminder",
            {f"reminder:{r['id']}:{int(r['starts_at'].timestamp())}": r["id"] for r in soon},
        ),
        "no_stream": await _raise_new(
            "no_stream",
            {f"no_stream:{r['id']}:{int(r['starts_at'].timestamp())}": r["id"] for r in late},
        ),
    }
