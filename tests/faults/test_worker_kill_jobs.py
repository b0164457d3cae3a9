"""The worker SIGKILLed in the middle of finalize and of transcode; restarted, every job ends
succeeded (tests/media/test_worker_crash.py covers kill -9 mid-recording).

Real parts: a recording made by the Recorder from an ffmpeg test class into the hub's
storage, worker processes (tests/media/worker_child.py) killed with SIGKILL, real ffmpeg.
Finalize is caught mid-job deterministically: the test holds the session's work lock, so
the claimed job waits inside its handler. Transcode is killed while its ffmpeg encodes; that
ffmpeg must not outlive its worker (no orphan encoding on into the successor's folder).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from asyncio.subprocess import DEVNULL
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from worker_support import feed_host, make_session

from hub import jobs, recordings
from hub.settings import Settings
from hub.storage import storage_for
from hub.tables import JobState, Recording
from media.commands import test_source_cmd
from media.ffmpeg_bin import decode_ok
from media.handlers import key_prefix
from media.layout import ArchiveKeys
from media.recorder import Recorder
from media.worker import Worker

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "media" / "worker_child.py"
CLASS_SECONDS = 60


async def until(check: Callable[[], Awaitable[T | None]], what: str, within: float = 60) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(0.05)


def ffmpeg_children(pid: int) -> list[int]:
    """ffmpeg processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"ffmpeg" in command:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def job_state(key: str, state: str) -> bool:
    job = await jobs.find(key)
    return job is not None and job.state == state


async def start_child(settings: Settings, session_id: int, log: Path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(CHILD.parent), str(ROOT)]),
        "SHAREHUB_DATA_DIR": str(settings.data_dir),
        "SHAREHUB_DATABASE_URL": settings.database_url,
        "SHAREHUB_SECRET_KEY": settings.secret_key,
        "SHAREHUB_WORK_DIR": str(settings.worker_dir),
    }
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            str(CHILD),
            str(session_id),
            "udp://127.0.0.1:9",  # the child records nothing: the class is over
            "0",
            env=env,
            stdin=DEVNULL,
            stdout=DEVNULL,
            stderr=out,
        )


async def recorded_class(settings: Settings, tmp_path: Path) -> int:
    """A finished class in storage, as the record job leaves it, with finalize queued."""
    session_id = await make_session(lasts=CLASS_SECONDS)
    source = tmp_path / "class.ts"
    await asyncio.to_thread(
        subprocess.run,
        test_source_cmd(str(source), CLASS_SECONDS, "mpegts", size="640x360", realtime=False),
        check=True,
        capture_output=True,
        timeout=300,
    )
    prefix = key_prefix(session_id)
    recorder = Recorder(
        str(source), tmp_path / "recorder", storage_for(settings), prefix, segment_seconds=2
    )
    summary = await recorder.run()
    assert summary.returncode == 0 and summary.segments_shipped >= CLASS_SECONDS // 2 - 1
    await recordings.start(session_id, prefix, ArchiveKeys(prefix).playlist)
    await recordings.processing(session_id)
    await jobs.enqueue(
        jobs.FINALIZE, {"session_id": session_id}, dedupe_key=f"finalize:{session_id}"
    )
    return session_id


async def test_kill_9_mid_finalize_and_mid_transcode(settings: Settings, tmp_path: Path) -> None:
    session_id = await recorded_class(settings, tmp_path)
    work = settings.worker_dir / "sessions" / str(session_id)
    work.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "children.log"
    children: list[asyncio.subprocess.Process] = []
    worker = None
    lock = (work / "final.lock").open("wb")
    fcntl.flock(lock, fcntl.LOCK_EX)  # finalize will wait for it inside its handler
    try:
        first = await start_child(settings, session_id, log)
        children.append(first)
        await until(lambda: job_state(f"finalize:{session_id}", JobState.doing), "finalize", 60)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        lock.close()

        second = await start_child(settings, session_id, log)
        children.append(second)

        async def encoding() -> list[int]:
            if not await job_state(f"transcode:{session_id}", JobState.doing):
                return []
            return ffmpeg_children(second.pid or 0)

        encoders = await until(encoding, "the transcode's ffmpeg in the second worker", 120)
        second.send_signal(signal.SIGKILL)
        await second.wait()

        async def orphans_gone() -> bool:
            return not any(alive(pid) for pid in encoders)

        await until(orphans_gone, "the killed worker's ffmpeg to end (its stderr pipe is gone)", 10)

        worker = Worker(
            settings,
            feed_host(settings, {}, listen=False),
            poll_interval=0.2,
            tick_interval=0.5,
            lease_seconds=3,
            stop_grace=20,
        )
        worker.start()
        await until(
            lambda: job_state(f"transcode:{session_id}", JobState.succeeded), "transcode", 180
        )
    finally:
        lock.close()
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
        if worker is not None:
            await worker.stop()

    finalize = await jobs.find(f"finalize:{session_id}")
    transcode = await jobs.find(f"transcode:{session_id}")
    assert finalize is not None and finalize.state == JobState.succeeded
    assert transcode is not None and transcode.state == JobState.succeeded
    # each next worker runs with the same machine and work folder as the killed one: it
    # takes the lease back at once and the killed attempt is not counted (issue 14.4)
    assert finalize.attempts == 1, "taken back at once from the killed worker"
    assert transcode.attempts == 1, "taken back at once from the killed worker"
    row = await Recording.select().where(Recording.session_id == session_id).first()
    assert row is not None and row["state"] == "ready"
    assert row["duration"] >= CLASS_SECONDS - 2
    renditions = row["renditions"]
    if isinstance(renditions, str):
        renditions = json.loads(renditions)
    assert set(renditions) >= {"low", "audio"}, renditions
    storage = storage_for(settings)
    mp4 = tmp_path / "replay.mp4"
    await storage.get_file(row["mp4_key"], mp4)
    assert decode_ok(mp4)
    low = await storage.get_bytes(renditions["low"]["key"])
    assert b"#EXT-X-ENDLIST" in low
