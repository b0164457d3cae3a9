"""Concurrent live recordings one worker holds with no segment late, and its CPU per
recording-hour, against a bare `ffmpeg -c copy` HLS recorder (no worker, no uploads).

Each class is a pre-encoded 720p file pushed in real time over UDP by `ffmpeg -re -c copy`
(pushers cost little, so the machine's cores go to the worker). The worker records every
session (the embedded default: SQLite, local storage). A segment is late when it reaches
storage more than one segment length after its due time (first segment's arrival plus its
position times the segment length). Rounds of 4, 8, 16 and 24 recordings, 40 s each.
Run: python bench/record_capacity.py
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import tempfile
import time
from asyncio.subprocess import DEVNULL
from datetime import UTC, datetime
from pathlib import Path

from media_bench import close_hub, make_source, new_session, open_hub
from support import free_udp_port

from hub import jobs, live
from hub.storage import LocalStorage
from media.commands import record_hls_cmd
from media.ffmpeg_bin import find_ffmpeg
from media.worker import Worker

ROUNDS = (4, 8, 16, 24)
SECONDS = 40
SEGMENT = 4
TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(exclude: set[int]) -> list[int]:
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in exclude:
            try:
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == me:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def pushers(source: Path, ports: list[int]) -> list[asyncio.subprocess.Process]:
    return [
        await asyncio.create_subprocess_exec(
            find_ffmpeg(),
            "-v",
            "error",
            "-re",
            "-i",
            str(source),
            "-t",
            str(SECONDS),
            "-c",
            "copy",
            "-f",
            "mpegts",
            f"udp://127.0.0.1:{port}?pkt_size=1316",
            stdin=DEVNULL,
            stdout=DEVNULL,
            stderr=DEVNULL,
        )
        for port in ports
    ]


async def worker_round(settings, host, provider, count: int) -> tuple[int, float, float]:  # type: ignore[no-untyped-def]
    storage = LocalStorage(settings.storage_dir)
    sessions = [await new_session() for _ in range(count)]
    ports = {sid: free_udp_port() for sid in sessions}
    for sid in sessions:
        provider.urls[sid] = f"udp://127.0.0.1:{ports[sid]}?overrun_nonfatal=1&fifo_size=100000"
    worker = Worker(
        settings,
        host,
        storage=storage,
        kinds=[jobs.RECORD],
        poll_interval=0.2,
        tick_interval=3600,
        relisten_seconds=0,
        record_timeout=5,
        slots=64,
    )
    await worker.ensure_recordings(datetime.now(UTC))
    worker.start()
    while len(worker.running) < count:  # noqa: ASYNC110 - polling the worker's state
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    self_cpu = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = self_cpu.ru_utime + self_cpu.ru_stime
    pushing = await pushers(SOURCE, [ports[s] for s in sessions])
    push_pids = {p.pid for p in pushing}
    seen: dict[str, float] = {}
    recorder_cpu: dict[int, float] = {}
    started = time.monotonic()
    while any(p.returncode is None for p in pushing):
        now = time.monotonic()
        for sid in sessions:
            folder = storage.root / f"sessions/{sid}/hls"
            if folder.is_dir():
                for path in folder.glob("seg_*.ts"):
                    seen.setdefault(f"{sid}/{path.name}", now)
        for pid in children(push_pids):
            recorder_cpu[pid] = max(recorder_cpu.get(pid, 0.0), cpu_of(pid))
        await asyncio.sleep(0.25)
    recorded = time.monotonic() - started
    self_cpu = resource.getrusage(resource.RUSAGE_SELF)
    cpu = self_cpu.ru_utime + self_cpu.ru_stime - cpu_before + sum(recorder_cpu.values())
    for sid in sessions:
        await live.end_stream(sid)
    await worker.stop()
    late = 0
    for sid in sessions:
        arrivals = sorted(
            (int(k.split("seg_")[1][:5]), t) for k, t in seen.items() if k.startswith(f"{sid}/")
        )
        if not arrivals:
            late += 1
            continue
        first_number, first_time = arrivals[0]
        for number, arrived in arrivals:
            due = first_time + (number - first_number) * SEGMENT
            if arrived - due > SEGMENT:
                late += 1
    return late, cpu, recorded


async def bare_round(scratch: Path) -> tuple[float, float]:
    port = free_udp_port()
    out = scratch / "bare"
    out.mkdir(exist_ok=True)
    recorder = await asyncio.create_subprocess_exec(
        *record_hls_cmd(
            f"udp://127.0.0.1:{port}?overrun_nonfatal=1&fifo_size=100000",
            out,
            SEGMENT,
            rw_timeout=5,
            progress="pipe:1",
        ),
        stdin=DEVNULL,
        stdout=DEVNULL,
        stderr=DEVNULL,
    )
    await asyncio.sleep(1.0)
    pushing = await pushers(SOURCE, [port])
    started = time.monotonic()
    cpu = 0.0
    while pushing[0].returncode is None:
        cpu = max(cpu, cpu_of(recorder.pid))
        await asyncio.sleep(0.25)
    recorded = time.monotonic() - started
    recorder.kill()
    await recorder.wait()
    return cpu, recorded


async def main() -> None:
    global SOURCE
    settings, host, provider, data = await open_hub()
    scratch = Path(tempfile.mkdtemp(prefix="sharehub-capacity-"))
    SOURCE = await asyncio.to_thread(make_source, scratch / "class.ts", SECONDS + 2)
    bare_cpu, bare_seconds = await bare_round(scratch)
    bare_per_hour = bare_cpu / (bare_seconds / 3600)
    print(f"bare ffmpeg -c copy recorder: {bare_per_hour:.1f} CPU-s per recording-hour")
    capacity = 0
    per_hour = 0.0
    for count in ROUNDS:
        late, cpu, seconds = await worker_round(settings, host, provider, count)
        hourly = cpu / (count * seconds / 3600)
        print(
            f"{count:>3} recordings: {late} late segments, worker CPU {hourly:.1f} CPU-s "
            f"per recording-hour"
        )
        if late:
            break
        capacity, per_hour = count, hourly
    shutil.rmtree(scratch, ignore_errors=True)
    await close_hub()
    shutil.rmtree(data, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "record_capacity",
                "value": capacity,
                "unit": "recordings with no late segment",
                "cpu_s_per_recording_hour": round(per_hour, 1),
                "baseline": round(bare_per_hour, 1),
                "baseline_unit": "CPU-s per recording-hour of bare ffmpeg -c copy",
                "ratio": round(per_hour / bare_per_hour, 2) if bare_per_hour else None,
                "rounds": list(ROUNDS),
            }
        )
    )


SOURCE = Path()

if __name__ == "__main__":
    asyncio.run(main())
