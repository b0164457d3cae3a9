"""Reminders at scale: 5,000 classes starting within the same hour, 3 booked centers each.

On the embedded default (SQLite, a temporary data folder): 5,000 teachers, 15,000 centers
with one operator each (who set up a stand-in channel that only counts what it is handed),
5,000 classes starting within the next 30 minutes, so every reminder is due at the moment the
worker starts (the worst moment of the hour: the whole hour's reminders at once). One worker
(``hub.job_runner.Runner``, as ``sharehub worker`` runs it) then does what it does in
production: its periodic ``notify-due`` scan raises the 5,000 reminder events, the
``notify-event`` jobs write the outbox rows (an inbox row for each of the 20,000 people, a
channel row for each center), and the ``notify-send`` jobs hand the 15,000 channel rows to
the stand-in channel. The figure is the seconds from the due time to the last reminder
handed to the channel. The baseline, measured in the same run, is writing the same number of
outbox rows in one batch (one transaction, one statement per 1,000 rows). Target: every
reminder out within 60 s of its due time.

Run: ``.venv/bin/python bench/reminders.py`` (a few minutes). ``SHAREHUB_BENCH_CLASSES``
makes it smaller for a trial.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub import db
from hub.cli import with_db
from hub.hookspecs import hookimpl
from hub.job_runner import Runner
from hub.notify.base import Message, NotifierBase
from hub.notify.outbox import NOTIFY_EVENT, NOTIFY_SEND
from hub.notify.tables import Notification, NotifyPreference
from hub.plugin_host import PluginHost
from hub.settings import load_settings
from hub.tables import Booking, Course, LiveSession, Role, ShareCenter, Teacher, User

CLASSES = int(os.environ.get("SHAREHUB_BENCH_CLASSES", "5000"))
CENTERS_PER_CLASS = 3
LIMIT_SECONDS = 280.0
CHUNK = 1000


class Counter(NotifierBase):
    """The stand-in channel: counts and timestamps what it is handed."""

    name = "counter"
    label = "Counts messages"
    target_fields = ("counter",)

    def __init__(self, expected: int) -> None:
        self.handed = 0
        self.last = 0.0
        self.expected = expected
        self.all_handed = asyncio.Event()

    async def send(
        self, message: Message, target: dict[str, str], options: Any, settings: Any
    ) -> None:
        self.handed += 1
        self.last = time.monotonic()
        if self.handed >= self.expected:
            self.all_handed.set()


class Plugin:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    @hookimpl
    def register_notifiers(self, register: Any) -> None:
        register(self.counter)


async def insert_chunked(table: Any, rows: list[Any]) -> list[int]:
    ids: list[int] = []
    for i in range(0, len(rows), CHUNK):
        done = await table.insert(*rows[i : i + CHUNK]).returning(table.id).run()
        ids += [r["id"] for r in done]
    return ids


async def programme(now: datetime) -> None:
    teachers = await insert_chunked(
        User,
        [
            User(username=f"t{n}", password_hash="x", role=Role.teacher.value)
            for n in range(CLASSES)
        ],
    )
    teacher_ids = await insert_chunked(
        Teacher, [Teacher(name=f"老师{n}", user=u) for n, u in enumerate(teachers)]
    )
    centers = await insert_chunked(
        ShareCenter,
        [
            ShareCenter(name=f"共享中心{n}", province="云南省")
            for n in range(CLASSES * CENTERS_PER_CLASS)
        ],
    )
    operators = await insert_chunked(
        User,
        [
            User(username=f"c{n}", password_hash="x", role=Role.center.value, center=c)
            for n, c in enumerate(centers)
        ],
    )
    await insert_chunked(
        NotifyPreference,
        [NotifyPreference(user_id=u, data={"targets": {"counter": "on"}}) for u in operators],
    )
    courses = await insert_chunked(
        Course,
        [Course(title=f"数学{n}", subject="数学", teacher=t) for n, t in enumerate(teacher_ids)],
    )
    sessions = await insert_chunked(
        LiveSession,
        [
            LiveSession(
                course=c,
                teacher=t,
                starts_at=now + timedelta(minutes=5, seconds=(n * 1500) // CLASSES),
                ends_at=now + timedelta(minutes=50),
                provider="self_hosted",
            )
            for n, (c, t) in enumerate(zip(courses, teacher_ids, strict=True))
        ],
    )
    await insert_chunked(
        Booking,
        [
            Booking(session=s, center=centers[n * CENTERS_PER_CLASS + k])
            for n, s in enumerate(sessions)
            for k in range(CENTERS_PER_CLASS)
        ],
    )


async def baseline(now: datetime) -> float:
    """The same number of outbox rows, written in one batch (one transaction)."""
    people = CLASSES * (1 + CENTERS_PER_CLASS)
    rows = [
        Notification(
            user_id=n % people,
            channel="inbox" if n < people else "counter",
            kind="reminder",
            session_id=n % CLASSES,
            dedupe_key=f"baseline:{n}",
            subject="即将上课：数学",
            body="课程「数学」将于 2026-12-04 09:00 (Asia/Shanghai) 开始。",
            link="http://127.0.0.1:8000/watch/1",
            state="sent",
            send_after=now,
            created_at=now,
        )
        for n in range(people + CLASSES * CENTERS_PER_CLASS)
    ]
    started = time.monotonic()
    async with db.write_transaction():
        for i in range(0, len(rows), CHUNK):
            await Notification.insert(*rows[i : i + CHUNK]).run()
    took = time.monotonic() - started
    await Notification.delete().where(Notification.dedupe_key.like("baseline:%")).run()
    return took


async def work(settings: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    await programme(now)
    base = await baseline(now)
    expected = CLASSES * CENTERS_PER_CLASS
    counter = Counter(expected)
    host = PluginHost(settings, extra=[("counter", Plugin(counter))])
    # the notification kinds (and, as on every worker, the periodic ones with notify-due)
    runner = Runner(settings, host, kinds=[NOTIFY_EVENT, NOTIFY_SEND], poll_interval=0.05)
    due = time.monotonic()  # every reminder is due now: the worker starts
    task = asyncio.create_task(runner.run())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(counter.all_handed.wait(), LIMIT_SECONDS)
    await runner.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    inbox = await Notification.count().where(Notification.channel == "inbox").run()
    return {
        "seconds": (counter.last - due) if counter.handed else float("inf"),
        "handed": counter.handed,
        "expected": expected,
        "inbox": inbox,
        "baseline": base,
    }


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="sharehub-bench-reminders-"))
    settings = load_settings(
        {"SHAREHUB_DATA_DIR": str(folder), "SHAREHUB_NOTIFY_RATE_PER_HOUR": "0"}
    )
    result = asyncio.run(with_db(settings, lambda: work(settings)))
    done = result["handed"] == result["expected"]
    print(
        f"{CLASSES} classes x {CENTERS_PER_CLASS} centers: {result['handed']}/{result['expected']} "
        f"reminders handed to the channel, the last {result['seconds']:.1f} s after their due time"
        + ("" if done else f" (stopped at {LIMIT_SECONDS:.0f} s)")
        + f"; {result['inbox']} inbox rows"
    )
    print(f"baseline: the same outbox rows written in one batch: {result['baseline']:.2f} s")
    value = round(result["seconds"], 2) if done else None
    print(
        json.dumps(
            {
                "bench": "reminders",
                "value": value,
                "unit": "s",
                "baseline": round(result["baseline"], 2),
                "ratio": round(value / result["baseline"], 1)
                if value and result["baseline"]
                else None,
            }
        )
    )


if __name__ == "__main__":
    main()
