"""Seconds from the end of a class's stream to a complete replay (VOD playlist + MP4) in
storage, for classes of 2, 5 and 10 minutes, against uploading the same bytes after the end
in one go (the design that records locally and ships at the end).

The worker records each class from an encoded 720p file read as fast as it goes (stream
copy), so ten minutes of class take seconds here; its segments reach storage while it
records, as they would during a live class. The delay is measured from the moment the
recorder has shipped its last segment and queued the finalize job (the end of the stream)
to the Recording row being ready. Noticing that a network stream ended (an SRT disconnect
at once, a pulled source after the 10 s read timeout) comes before that and is not counted.
Embedded default: SQLite and local storage. Run: python bench/replay_delay.py
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from media_bench import close_hub, make_source, new_session, open_hub

from hub import jobs
from hub.storage import LocalStorage
from hub.tables import Recording
from media.ffmpeg_bin import find_ffmpeg
from media.worker import Worker

MINUTES = (2, 5, 10)


async def main() -> None:
    settings, host, provider, data = await open_hub()
    scratch = Path(tempfile.mkdtemp(prefix="sharehub-replay-"))
    full = make_source(scratch / "full.ts", 60 * max(MINUTES))
    storage = LocalStorage(settings.storage_dir)
    worker = Worker(
        settings,
        host,
        storage=storage,
        kinds=[jobs.RECORD, jobs.FINALIZE],
        poll_interval=0.1,
        tick_interval=3600,
        relisten_seconds=0,
        record_timeout=5,
    )
    results = []
    for minutes in MINUTES:
        source = scratch / f"class{minutes}.ts"
        cut = [find_ffmpeg(), "-v", "error", "-y", "-i", str(full), "-t", str(minutes * 60)]
        await asyncio.to_thread(subprocess.run, [*cut, "-c", "copy", str(source)], check=True)
        session_id = await new_session()
        provider.urls[session_id] = str(source)
        await worker.ensure_recordings(datetime.now(UTC))
        await worker.run_until_idle(limit=600)
        row = await Recording.select().where(Recording.session_id == session_id).first()
        finalize = await jobs.find(f"finalize:{session_id}")
        assert row is not None and row["state"] == "ready" and finalize is not None
        delay = (row["finished_at"] - finalize.created_at).total_seconds()
        segments = sorted((storage.root / f"sessions/{session_id}/hls").glob("seg_*.ts"))
        joined = scratch / "joined.ts"
        with joined.open("wb") as out:
            for segment in segments:
                out.write(segment.read_bytes())
        started = time.perf_counter()
        await storage.put_file(f"baseline/{session_id}.ts", joined)
        baseline = time.perf_counter() - started
        results.append((minutes, delay, baseline, row["duration"], joined.stat().st_size))
        print(
            f"{minutes:>2} min class ({row['duration']:.0f} s, "
            f"{joined.stat().st_size / 1e6:.0f} MB):"
            f" replay ready {delay:.2f} s after the stream ended;"
            f" uploading the same bytes in one go takes {baseline:.2f} s"
        )
    shutil.rmtree(scratch, ignore_errors=True)
    await close_hub()
    shutil.rmtree(data, ignore_errors=True)
    minutes, delay, baseline, _, _ = results[-1]
    print(
        json.dumps(
            {
                "bench": "replay_delay",
                "value": round(delay, 2),
                "unit": "s",
                "baseline": round(baseline, 2),
                "ratio": round(delay / baseline, 2) if baseline else None,
                "by_minutes": {str(m): round(d, 2) for m, d, _, _, _ in results},
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
