"""Building an offline lesson pack: a center's week of 10 booked classes with their replays.

On the embedded default (SQLite, local storage in a temporary data folder): ffmpeg makes one
replay in the low rendition (360p H.264/AAC, ``REPLAY_SECONDS`` long), stored as each of the
10 classes' ``replay-low.mp4`` as the worker's transcode job announces it. Then, in the same
run, it times

- the pack build (``hub.packs.build``: every file read once in chunks and hashed), and
- the baseline: copying the same objects within the same storage (``Storage.put_file``),

and reports each one's peak of Python memory (tracemalloc) next to the pack's size: flat
memory means the peak stays at a few chunks whatever the pack's size. Target: the build
within 2x the copy's time.

Run: ``.venv/bin/python bench/pack_build.py`` (about a minute).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hub import packs, recordings
from hub.cli import with_db
from hub.settings import load_settings
from hub.storage import storage_for
from hub.tables import Booking, Course, LiveSession, ShareCenter, Teacher
from media.ffmpeg_bin import find_ffmpeg

CLASSES = 10
REPLAY_SECONDS = 240
ROUNDS = 3
WEEK = "2026-11-23"
MiB = 1024 * 1024


def make_replay(path: Path) -> None:
    command = [
        find_ffmpeg(), "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={REPLAY_SECONDS}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={REPLAY_SECONDS}",
        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "600k", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=600)


async def programme(storage: Any, replay: Path) -> tuple[int, list[str]]:
    center = (await ShareCenter.insert(ShareCenter(name="镇雄共享中心", province="云南省")).run())[
        0
    ]
    teacher = (await Teacher.insert(Teacher(name="张老师")).run())[0]
    course = (
        await Course.insert(Course(title="数学", subject="数学", teacher=teacher["id"])).run()
    )[0]
    monday = datetime.fromisoformat(f"{WEEK}T01:00:00+00:00")
    keys = []
    for n in range(CLASSES):
        starts = monday + timedelta(days=n % 5, hours=2 * (n // 5))
        session = (
            await LiveSession.insert(
                LiveSession(
                    course=course["id"],
                    teacher=teacher["id"],
                    starts_at=starts,
                    ends_at=starts + timedelta(minutes=45),
                    status="archived",
                    provider="self_hosted",
                )
            ).run()
        )[0]["id"]
        await Booking.insert(Booking(session=session, center=center["id"])).run()
        prefix = f"sessions/{session}"
        await recordings.start(session, prefix, f"{prefix}/hls/index.m3u8")
        await recordings.finalized(
            session,
            playlist_key=f"{prefix}/hls/index.m3u8",
            mp4_key="",
            poster_key="",
            duration=float(REPLAY_SECONDS),
            segments=0,
            bytes_total=0,
            mp4_bytes=0,
        )
        key = f"{prefix}/replay-low.mp4"
        size = await storage.put_file(key, replay)
        await recordings.add_renditions(
            session, {"low_mp4": {"key": key, "bytes": size, "duration": REPLAY_SECONDS}}
        )
        keys.append(key)
    return int(center["id"]), keys


async def measured(work: Any) -> tuple[float, float]:
    """(seconds, peak MiB of Python memory) of one run of ``work()``."""
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    await work()
    seconds = time.perf_counter() - started
    return seconds, (tracemalloc.get_traced_memory()[1] - base) / MiB


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="sharehub-bench-pack-"))
    settings = load_settings({"SHAREHUB_DATA_DIR": str(folder)})
    storage = storage_for(settings)
    replay = folder / "replay.mp4"
    started = time.perf_counter()
    make_replay(replay)
    print(f"made a {REPLAY_SECONDS} s replay of {replay.stat().st_size / MiB:.1f} MiB "
          f"in {time.perf_counter() - started:.0f} s")  # fmt: skip

    async def work() -> dict[str, Any]:
        center, keys = await programme(storage, replay)
        week = packs.week_of(WEEK)
        tracemalloc.start()
        builds, copies, build_peaks, copy_peaks = [], [], [], []
        pack: dict[str, Any] = {}

        async def build() -> None:
            nonlocal pack
            pack = await packs.build(center, week, storage)

        async def copy() -> None:
            for key in keys:
                await storage.put_file(key.replace("replay-low", "copy"), storage.path_for(key))

        for _ in range(ROUNDS):
            seconds, peak = await measured(build)
            builds.append(seconds)
            build_peaks.append(peak)
            seconds, peak = await measured(copy)
            copies.append(seconds)
            copy_peaks.append(peak)
        tracemalloc.stop()
        assert pack["files"] == CLASSES, pack["files"]
        return {
            "pack_mib": pack["bytes"] / MiB,
            "build_s": statistics.median(builds),
            "copy_s": statistics.median(copies),
            "build_peak_mib": max(build_peaks),
            "copy_peak_mib": max(copy_peaks),
        }

    result = asyncio.run(with_db(settings, work))
    ratio = result["build_s"] / result["copy_s"]
    print(
        f"pack of {CLASSES} classes, {result['pack_mib']:.0f} MiB: build "
        f"{result['build_s']:.2f} s (peak {result['build_peak_mib']:.1f} MiB of Python memory); "
        f"copying the same objects in the same storage {result['copy_s']:.2f} s "
        f"(peak {result['copy_peak_mib']:.1f} MiB); ratio {ratio:.2f} (target <= 2)"
    )
    print(
        json.dumps(
            {
                "bench": "pack_build",
                "value": round(result["build_s"], 3),
                "unit": "s",
                "baseline": round(result["copy_s"], 3),
                "ratio": round(ratio, 2),
                "pack_mib": round(result["pack_mib"], 1),
                "peak_mib": round(result["build_peak_mib"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
