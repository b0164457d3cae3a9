"""The notification job kinds: ``notify-event`` (fan an event out to its recipients),
``notify-send`` (deliver one outbox row; retried with back-off, held through quiet hours)
and the periodic ``notify-due`` (raise due reminders and "no stream yet" notices)."""

from __future__ import annotations

from hub.job_runner import HandBack, JobContext, JobKind, NoPayload
from hub.jobs import RetryPolicy
from hub.notify import outbox


async def notify_event(ctx: JobContext) -> None:
    await outbox.fan_out(ctx.payload, ctx.settings, ctx.plugins)


async def notify_send(ctx: JobContext) -> None:
    hold = await outbox.deliver(ctx.payload.notification_id, ctx.settings, ctx.plugins)
    if hold is not None:
        raise HandBack(hold)


async def notify_due(ctx: JobContext) -> None:
    await outbox.scan_due(ctx.settings)


NOTIFY_KINDS: tuple[JobKind, ...] = (
    JobKind(
        outbox.NOTIFY_EVENT,
        notify_event,
        RetryPolicy(max_attempts=6, base_seconds=5, cap_seconds=300),
        payload=outbox.EventPayload,
    ),
    JobKind(
        outbox.NOTIFY_SEND,
        notify_send,
        RetryPolicy(max_attempts=8, base_seconds=30, cap_seconds=1800),
        payload=outbox.SendPayload,
    ),
    JobKind(
        outbox.NOTIFY_DUE,
        notify_due,
        RetryPolicy(max_attempts=1, base_seconds=5, cap_seconds=5),
        payload=NoPayload,
        every=30.0,
    ),
)
