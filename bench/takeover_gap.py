"""Seconds of a class missing from its replay when the recording worker is killed mid-class.

A worker runs in its own process (this script with ``--worker``) and records a class pushed
in real time over UDP (a pre-encoded 640x360 file, ``ffmpeg -re -c copy``). Mid-class it is
killed with ``kill -9``; then either the same worker is started again at once (same work
folder) or a second worker with another work folder, running since the class began (as in
the scale-out layout; on SQLite it waits for ``worker.lock``), takes the class over. Each
run measures the seconds of the class missing from the replay (pushed length minus the
replay's length), the replay's ``lost_seconds``, and how many segments stored before the
kill are missing from the replay or were written again (must be 0). SQLite and local
storage (the embedded default), the record jobs' own lease
(``media.handlers.RECORD_LEASE_SECONDS``, renewed every ``RECORD_RENEW_SECONDS``), a claim
poll of 0.2 s and 4 s segments. The workers' logs, with times, stay in the printed data
folder (``session_N.log``).

The value is the larger gap of the two runs, the baseline one segment length; the target is
a ratio of at most 2 (two segments) and ``stored_lost`` 0.
Run: python bench/takeover_gap.py
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import time
from asyncio.subprocess import DEVNULL
from pathlib import Path

from media_bench import BenchPlugin, BenchProvider, close_hub, make_source, new_session, open_hub
from support import free_udp_port

from hub import db, jobs
from hub.plugin_host import PluginHost
from hub.settings import Settings, load_settings
from hub.storage import LocalStorage
from hub.tables import JobState, Recording
from media.ffmpeg_bin import find_ffmpeg
from media.handlers import RECORD_LEASE_SECONDS, RECORD_RENEW_SECONDS
from media.playlist import parse_playlist

CLASS_SECONDS = 60
KILL_AFTER_SEGMENTS = 5
SEGMENT = 4


def udp_listen(port: int) -> str:
    return f"udp://127.0.0.1:{port}?overrun_nonfatal=1&fifo_size=100000"


async def worker_main(session_id: int, url: str) -> None:
    """The child: one worker with the default lease, recording ``url`` for the session."""
    from media.worker import Worker

    settings = load_settings()
    engine = db.engine_for(settings.database_url)
    db.bind(engine)
    await db.open_engine(engine)
    provider = BenchProvider()
    provider.urls[session_id] = url
    host = PluginHost(settings, entry_points=False, extra=[("bench", BenchPlugin(provider))])
    worker = Worker(
        settings, host, poll_interval=0.2, record_timeout=4, relisten_seconds=0, retry_wait=0.5
    )
    await worker.run()


async def start_worker(
    settings: Settings, work: Path, session_id: int, url: str, log: Path
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "SHAREHUB_DATA_DIR": str(settings.data_dir),
        "SHAREHUB_DATABASE_URL": settings.database_url,
        "SHAREHUB_SECRET_KEY": settings.secret_key,
        "SHAREHUB_WORK_DIR": str(work),
        "SHAREHUB_SEGMENT_SECONDS": str(SEGMENT),
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--worker",
        str(session_id),
        url,
        env=env,
        stdin=DEVNULL,
        stdout=DEVNULL,
        stderr=log.open("ab"),
    )


async def until(condition, what: str, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


def digests(store: LocalStorage, prefix: str) -> dict[str, str]:
    folder = store.path_for(prefix)
    if not folder.is_dir():
        return {}
    return {
        p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.glob("seg_*.ts"))
    }


async def one_run(
    settings: Settings, source: Path, same_worker: bool, logs: Path
) -> dict[str, float | int]:
    session_id = await new_session(minutes=30)
    port = free_udp_port()
    url = udp_listen(port)
    store = LocalStorage(settings.storage_dir)
    hls = f"sessions/{session_id}/hls"
    first_work = settings.data_dir / f"work_{session_id}_a"
    second_work = first_work if same_worker else settings.data_dir / f"work_{session_id}_b"
    log = logs / f"session_{session_id}.log"
    worker = await start_worker(settings, first_work, session_id, url, log)
    standby = None
    push = None
    try:

        async def recording() -> bool:
            job = await jobs.find(f"record:{session_id}")
            return job is not None and job.state == JobState.doing

        await until(recording, "the worker to take the record job", 60)
        if not same_worker:  # the second worker runs already (SQLite: it waits for the lock)
            standby = await start_worker(settings, second_work, session_id, url, log)
        await asyncio.sleep(1.0)
        push = await asyncio.create_subprocess_exec(
            find_ffmpeg(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-i",
            str(source),
            "-c",
            "copy",
            "-f",
            "mpegts",
            f"udp://127.0.0.1:{port}?pkt_size=1316",
            stdin=DEVNULL,
            stdout=DEVNULL,
            stderr=DEVNULL,
        )

        async def enough_stored() -> bool:
            return len(digests(store, hls)) >= KILL_AFTER_SEGMENTS

        await until(enough_stored, "segments stored before the kill", 90)
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        print(f"session {session_id}: worker killed at {time.strftime('%H:%M:%S')}", flush=True)
        stored = digests(store, hls)
        worker = standby or await start_worker(settings, second_work, session_id, url, log)
        await push.wait()

        async def ready() -> bool:
            row = (
                await Recording.select(Recording.state)
                .where(Recording.session_id == session_id)
                .first()
            )
            return bool(row and row["state"] == "ready")

        await until(ready, "the replay", 180)
    finally:
        for process in (worker, standby, push):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
    playlist = parse_playlist(store.path_for(f"{hls}/index.m3u8").read_text())
    listed = {s.uri for s in playlist.segments}
    after = digests(store, hls)
    stored_lost = sum(1 for name, md5 in stored.items() if name not in listed or after[name] != md5)
    row = (
        await Recording.select(Recording.lost_seconds)
        .where(Recording.session_id == session_id)
        .first()
    )
    return {
        "missing_s": round(max(0.0, CLASS_SECONDS - playlist.duration), 2),
        "lost_seconds": round(float(row["lost_seconds"]) if row else 0.0, 2),
        "stored_before_kill": len(stored),
        "stored_lost": stored_lost,
    }


async def main() -> None:
    settings, _host, _provider, data = await open_hub()
    try:
        print(f"data and worker logs: {data}", flush=True)
        source = make_source(data / "class.ts", CLASS_SECONDS, size="640x360")
        same = await one_run(settings, source, True, data)
        other = await one_run(settings, source, False, data)
    finally:
        await close_hub()
    value = max(same["missing_s"], other["missing_s"])
    print(
        json.dumps(
            {
                "bench": "takeover_gap",
                "value": value,
                "unit": "s missing from the replay (worst of the two take-overs)",
                "baseline": SEGMENT,
                "ratio": round(value / SEGMENT, 2),
                "same_worker": same,
                "second_worker": other,
                "record_lease_s": RECORD_LEASE_SECONDS,
                "record_renew_s": RECORD_RENEW_SECONDS,
                "class_seconds": CLASS_SECONDS,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        import logging

        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
        )
        asyncio.run(worker_main(int(sys.argv[2]), sys.argv[3]))
    else:
        asyncio.run(main())
