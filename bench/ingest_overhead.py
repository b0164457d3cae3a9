"""What one live self-hosted session costs the hub and its worker, and how many fit.

Run: ``python bench/ingest_overhead.py`` (no arguments; SQLite and local storage in a
temporary folder; about 4 minutes).

1. CPU: a 720p H.264/AAC class is pushed over SRT (stream copy of a pre-encoded clip,
   paced in real time) to the real media worker (``media.worker.Worker`` running the
   ``record`` job on the self-hosted provider's SRT listener), which cuts 2 s HLS segments
   and ships them to local storage with the live playlist. Measured over a steady window:
   CPU seconds of this Python process (worker, database, shipping) plus the recorder's
   ffmpeg, per minute of class. Baseline, same run, same push: a bare
   ``ffmpeg -i srt://... -c copy -f hls`` relay to local files, no hub at all.
2. Capacity: 8, 16, 32, ... sessions pushed at once (pushers on this same machine) until
   the playlist lag passes 1 s at the 95th percentile, or the bound. Playlist lag of a
   segment: from ffmpeg closing it (its mtime) to the stored live playlist naming it (the
   playlist's mtime when it first does).

The last line is one JSON object: value = hub+worker CPU s per minute of class.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support import udp_bound

from hub import db, live
from hub.plugin_host import PluginHost
from hub.settings import Settings
from hub.storage import LocalStorage
from hub.tables import Course, LiveSession, Role, SessionStatus, Teacher, User
from media.ffmpeg_bin import find_ffmpeg
from media.layout import ArchiveKeys
from media.worker import Worker

CLIP_SECONDS = 20
CPU_PUSH_SECONDS = 40
CPU_WINDOW = (8.0, 36.0)
"""Seconds after the push starts between which CPU is counted (steady state)."""
STEP_SECONDS = 16
RAMP = (8, 16, 32, 48, 64)
SEGMENT_SECONDS = 2
LAG_LIMIT = 1.0
MAX_SESSIONS = RAMP[-1]
TIME_BUDGET = 270.0
"""Stop ramping once the whole run has taken this long (keeps it under ~5 minutes)."""
BASE_PORT = 17000
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def children_running(marker: str) -> list[int]:
    """Our child processes whose command line contains ``marker``."""
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me and marker in cmdline:
            found.append(int(entry.name))
    return found


def encode_clip(path: Path) -> float:
    """A 720p25 class (test pattern + tone), H.264 veryfast with 2 s GOPs, AAC; seconds taken."""
    started = time.monotonic()
    subprocess.run(
        [
            find_ffmpeg(),
            "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(CLIP_SECONDS),
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-pix_fmt", "yuv420p",
            "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "96k",
            "-f", "mpegts", str(path),
        ],
        check=True,
    )  # fmt: skip
    return time.monotonic() - started


async def push(clip: Path, url: str, seconds: float) -> asyncio.subprocess.Process:
    """A teacher's encoder, played from the clip by stream copy in real time."""
    return await asyncio.create_subprocess_exec(
        find_ffmpeg(),
        "-hide_banner", "-loglevel", "error", "-nostdin",
        "-stream_loop", "-1", "-re", "-i", str(clip), "-t", f"{seconds:g}",
        "-c", "copy", "-f", "mpegts", url,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def wait_bound(ports: list[int], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not all(udp_bound(p) for p in ports):
        if time.monotonic() > deadline:
            missing = [p for p in ports if not udp_bound(p)]
            raise RuntimeError(f"SRT listeners not up on ports {missing}")
        await asyncio.sleep(0.1)


@dataclass
class Bench:
    root: Path
    settings: Settings
    plugins: PluginHost
    storage: LocalStorage
    teacher: int = 0
    course: int = 0
    next_port: int = BASE_PORT
    lags: dict[int, dict[str, float]] = field(default_factory=dict)

    async def sessions(self, count: int) -> list[tuple[int, str, int]]:
        """``count`` self-hosted SRT sessions starting now: (id, passphrase, port)."""
        now = datetime.now(UTC)
        made = []
        for _ in range(count):
            key = secrets.token_urlsafe(24)
            port = self.next_port
            self.next_port += 1
            row = LiveSession(
                course=self.course,
                teacher=self.teacher,
                starts_at=now + timedelta(minutes=1),
                ends_at=now + timedelta(hours=1),
                provider="self_hosted",
                provider_settings={"ingest": "srt", "srt_port": port},
                stream_key=key,
            )
            session_id = (await LiveSession.insert(row).run())[0]["id"]
            made.append((session_id, key, port))
        return made

    def push_url(self, key: str, port: int) -> str:
        return f"srt://127.0.0.1:{port}?passphrase={key}&pbkeylen=16&latency=500000"

    def observe(self, session_id: int, work: Path) -> None:
        """Note the lag of segments the stored playlist names for the first time."""
        playlist = self.storage.path_for(ArchiveKeys(f"sessions/{session_id}").playlist)
        try:
            listed_at = playlist.stat().st_mtime
            text = playlist.read_text()
        except OSError:
            return
        seen = self.lags.setdefault(session_id, {})
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name = line.strip().rsplit("/", 1)[-1]
            if name in seen:
                continue
            try:
                closed_at = (work / name).stat().st_mtime
            except OSError:
                continue
            seen[name] = max(0.0, listed_at - closed_at)


async def setup(root: Path) -> Bench:
    settings = Settings(
        data_dir=root / "data",
        database_url=f"sqlite:///{root / 'bench.sqlite'}",
        secret_key="bench-secret-key-0123456789",
        public_url="http://127.0.0.1:8000",
        segment_seconds=SEGMENT_SECONDS,
        embedded_worker="off",
        plugin_options={
            "self_hosted": {
                "public_host": "127.0.0.1",
                "srt_port_min": str(BASE_PORT),
                "srt_port_max": str(BASE_PORT + 999),
            }
        },
    )
    engine = db.engine_for(settings.database_url)
    db.bind(engine)
    await db.open_engine(engine)
    await db.migrate()
    plugins = PluginHost(settings)
    if "self_hosted" not in plugins.providers:
        raise SystemExit(f"self_hosted provider not loaded: {plugins.plugins['self_hosted']}")
    bench = Bench(root, settings, plugins, LocalStorage(settings.storage_dir))
    user = (
        await User.insert(User(username="bench", password_hash="x", role=Role.teacher.value)).run()
    )[0]["id"]
    bench.teacher = (await Teacher.insert(Teacher(name="bench", user=user)).run())[0]["id"]
    bench.course = (
        await Course.insert(Course(title="bench", subject="数学", teacher=bench.teacher)).run()
    )[0]["id"]
    return bench


class RelayWorker(Worker):
    """The media worker with only the live part of its tick (no archiving, no reports)."""

    async def tick(self, now: datetime | None = None) -> None:
        self._last_tick = time.monotonic()
        now = now or datetime.now(UTC)
        await live.end_overdue(now)
        await self.ensure_recordings(now)


async def retire(session_ids: list[int]) -> None:
    """Sessions done with: their record jobs end instead of listening on."""
    await (
        LiveSession.update({LiveSession.status: SessionStatus.archived})
        .where(LiveSession.id.is_in(session_ids))
        .run()
    )


def new_worker(bench: Bench, *, quick: bool) -> Worker:
    """The worker as `sharehub serve` runs it; ``quick`` ticks faster (ramp set-up only)."""
    return RelayWorker(
        bench.settings,
        bench.plugins,
        storage=bench.storage,
        kinds=["record"],  # finalize/transcode are not part of the live relay
        slots=sum(RAMP) + 8,  # room for listeners of earlier steps that linger
        poll_interval=0.2 if quick else 1.0,
        tick_interval=0.5 if quick else bench.settings.worker_tick_seconds,
        relisten_seconds=0,
        retry_wait=0.5,
        stop_grace=10,
    )


async def measure_worker_cpu(bench: Bench, clip: Path) -> dict[str, float]:
    """CPU of this process and the recorder's ffmpeg over the window, per minute."""
    worker = new_worker(bench, quick=False)
    worker.start()
    try:
        ((session_id, key, port),) = await bench.sessions(1)
        await wait_bound([port])
        work = worker.work_dir(session_id)
        (recorder_pid,) = children_running(str(work))
        pusher = await push(clip, bench.push_url(key, port), CPU_PUSH_SECONDS)
        started = time.monotonic()
        await asyncio.sleep(CPU_WINDOW[0])
        own0, rec0, push0 = (
            time.process_time(),
            cpu_seconds(recorder_pid),
            cpu_seconds(pusher.pid),
        )
        t0 = time.monotonic()
        await asyncio.sleep(CPU_WINDOW[1] - (time.monotonic() - started))
        own1, rec1, push1 = (
            time.process_time(),
            cpu_seconds(recorder_pid),
            cpu_seconds(pusher.pid),
        )
        window = time.monotonic() - t0
        await pusher.wait()
        await retire([session_id])
    finally:
        await worker.stop()
    if None in (rec0, rec1, push0, push1):
        raise SystemExit("the recorder or pusher ended inside the measuring window")
    assert rec0 is not None and rec1 is not None and push0 is not None and push1 is not None
    per_minute = 60.0 / window
    return {
        "python": (own1 - own0) * per_minute,
        "recorder_ffmpeg": (rec1 - rec0) * per_minute,
        "pusher": (push1 - push0) * per_minute,
        "window": window,
    }


async def measure_bare_relay(clip: Path, out: Path, port: int) -> float:
    """Baseline: ffmpeg alone relays the same push into local HLS files, CPU per minute."""
    key = secrets.token_urlsafe(24)
    relay = await asyncio.create_subprocess_exec(
        find_ffmpeg(),
        "-hide_banner", "-loglevel", "error", "-nostdin",
        "-i", f"srt://0.0.0.0:{port}?mode=listener&passphrase={key}&pbkeylen=16",
        "-c", "copy", "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_list_size", "0",
        "-hls_flags", "temp_file", str(out / "index.m3u8"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await wait_bound([port])
    pusher = await push(clip, f"srt://127.0.0.1:{port}?passphrase={key}&pbkeylen=16", 50)
    started = time.monotonic()
    await asyncio.sleep(CPU_WINDOW[0])
    c0, t0 = cpu_seconds(relay.pid), time.monotonic()
    await asyncio.sleep(CPU_WINDOW[1] - (time.monotonic() - started))
    c1, t1 = cpu_seconds(relay.pid), time.monotonic()
    await pusher.wait()
    await asyncio.wait_for(relay.wait(), 30)
    if c0 is None or c1 is None:
        raise SystemExit("the bare relay ended inside the measuring window")
    return (c1 - c0) * 60.0 / (t1 - t0)


async def capacity_step(bench: Bench, worker: Worker, clip: Path, count: int) -> dict[str, Any]:
    """``count`` sessions pushed at once for STEP_SECONDS; the lag of their segments."""
    made = await bench.sessions(count)
    await wait_bound([port for _, _, port in made], within=90)
    pushers = [await push(clip, bench.push_url(key, port), STEP_SECONDS) for _, key, port in made]
    started = time.monotonic()
    while any(p.returncode is None for p in pushers) or time.monotonic() - started < 2:
        for session_id, _, _ in made:
            bench.observe(session_id, worker.work_dir(session_id))
        await asyncio.sleep(0.2)
        if time.monotonic() - started > STEP_SECONDS + 60:
            break
    for _ in range(15):  # the last segments after the pushes closed
        for session_id, _, _ in made:
            bench.observe(session_id, worker.work_dir(session_id))
        await asyncio.sleep(0.2)
    await retire([session_id for session_id, _, _ in made])
    failed = sum(1 for p in pushers if p.returncode not in (0, None))
    lags = [lag for s, _, _ in made for lag in bench.lags.get(s, {}).values()]
    expected = count * (STEP_SECONDS // SEGMENT_SECONDS - 1)
    p95 = statistics.quantiles(lags, n=20)[-1] if len(lags) >= 2 else float("inf")
    return {
        "sessions": count,
        "segments": len(lags),
        "segments_expected_at_least": expected,
        "lag_p50": statistics.median(lags) if lags else None,
        "lag_p95": p95,
        "lag_max": max(lags) if lags else None,
        "pushers_failed": failed,
        "ok": failed == 0 and len(lags) >= expected and p95 < LAG_LIMIT,
    }


async def main() -> None:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s %(message)s")
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sharehub-bench-") as tmp:
        root = Path(tmp)
        clip = root / "class720p.ts"
        took = encode_clip(clip)
        print(f"encoded a {CLIP_SECONDS} s 720p clip in {took:.1f} s", flush=True)
        bench = await setup(root)

        cpu = await measure_worker_cpu(bench, clip)
        hub_cpu = cpu["python"] + cpu["recorder_ffmpeg"]
        print(
            f"hub+worker: {hub_cpu:.2f} CPU s per minute of 720p class "
            f"(python {cpu['python']:.2f}, recorder ffmpeg {cpu['recorder_ffmpeg']:.2f}; "
            f"window {cpu['window']:.0f} s); the pusher itself {cpu['pusher']:.2f}",
            flush=True,
        )
        (root / "bare").mkdir()
        baseline = await measure_bare_relay(clip, root / "bare", BASE_PORT + 999)
        print(f"baseline, bare ffmpeg SRT->HLS relay: {baseline:.2f} CPU s per minute", flush=True)

        worker = new_worker(bench, quick=True)
        worker.start()
        steps: list[dict[str, Any]] = []
        held = 0
        try:
            for count in RAMP:
                if time.monotonic() - t_start + STEP_SECONDS + 30 > TIME_BUDGET:
                    print(f"time budget reached before {count} sessions", flush=True)
                    break
                step = await capacity_step(bench, worker, clip, count)
                steps.append(step)
                step["at_seconds"] = round(time.monotonic() - t_start, 1)
                await asyncio.sleep(1.5)  # let the retired sessions' jobs notice
                step["record_jobs_left_running"] = len(worker.running)
                print(json.dumps({"step": step}), flush=True)
                if not step["ok"]:
                    break
                held = count
        finally:
            await worker.stop()
            await db.close_engine(db.engine())
    ratio = hub_cpu / baseline if baseline > 0 else None
    print(
        f"{held} simultaneous sessions kept the playlist lag under {LAG_LIMIT:g} s "
        f"(p95; bound {MAX_SESSIONS}, pushers on the same 2 cores)",
        flush=True,
    )
    print(
        json.dumps(
            {
                "bench": "ingest_overhead",
                "value": round(hub_cpu, 3),
                "unit": "CPU s per minute of one 720p live session (hub+worker)",
                "baseline": round(baseline, 3),
                "ratio": round(ratio, 2) if ratio else None,
                "sessions_under_1s_lag": held,
                "lag_p95_s_at_held": next(
                    (round(st["lag_p95"], 3) for st in steps if st["sessions"] == held), None
                ),
                "lag_p95_s_next_step": (
                    round(steps[-1]["lag_p95"], 3) if steps and not steps[-1]["ok"] else None
                ),
                "seconds": round(time.monotonic() - t_start, 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
