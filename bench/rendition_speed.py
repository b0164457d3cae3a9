"""Speed of the low-bandwidth renditions (360p H.264 under 400 kbit/s, and audio-only) as a
multiple of real time, against the x264 encode of the same class at 720p (the same
`veryfast` preset) measured in the same run.

The renditions are made exactly as the transcode job makes them (media.commands).
Run: python bench/rendition_speed.py
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

from media_bench import make_source

from media.commands import audio_only_cmd, low_rendition_cmd, mp4_from_concat_cmd
from media.ffmpeg_bin import probe, run_ffmpeg

SECONDS = 120


async def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="sharehub-rendition-"))
    started = time.perf_counter()
    source = await asyncio.to_thread(make_source, scratch / "class.ts", SECONDS)
    encode_720p = time.perf_counter() - started
    concat = scratch / "list.ffconcat"
    concat.write_text(f"ffconcat version 1.0\nfile '{source}'\n")
    mp4 = scratch / "replay.mp4"
    await run_ffmpeg(mp4_from_concat_cmd(concat, mp4))
    duration = probe(mp4).duration or float(SECONDS)

    low = scratch / "low"
    low.mkdir()
    started = time.perf_counter()
    await run_ffmpeg(low_rendition_cmd(mp4, low))
    low_seconds = time.perf_counter() - started
    audio = scratch / "audio"
    audio.mkdir()
    started = time.perf_counter()
    await run_ffmpeg(audio_only_cmd(mp4, audio))
    audio_seconds = time.perf_counter() - started

    low_bits = sum(p.stat().st_size for p in low.glob("seg_*.ts")) * 8 / duration
    speed = duration / low_seconds
    baseline = duration / encode_720p
    print(f"class of {duration:.0f} s at 720p")
    print(
        f"360p rendition: {low_seconds:.1f} s = {speed:.1f}x real time,",
        f"{low_bits / 1000:.0f} kbit/s",
    )
    print(
        f"audio-only rendition: {audio_seconds:.1f} s = {duration / audio_seconds:.0f}x real time"
    )
    print(f"baseline, 720p x264 veryfast encode of the same class: {baseline:.1f}x real time")
    shutil.rmtree(scratch, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "rendition_speed",
                "value": round(speed, 1),
                "unit": "x realtime",
                "baseline": round(baseline, 1),
                "ratio": round(speed / baseline, 2),
                "low_kbps": round(low_bits / 1000),
                "audio_speed": round(duration / audio_seconds),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
