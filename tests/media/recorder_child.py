"""Run one Recorder until the source ends or the process is killed (the crash test's victim).

Usage: python recorder_child.py SOURCE_URL WORK_DIR S3_ENDPOINT BUCKET KEY_PREFIX
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from hub.storage import S3Storage
from media.recorder import Recorder


async def main(source: str, work: str, endpoint: str, bucket: str, prefix: str) -> int:
    storage = S3Storage(endpoint, bucket, "testing", "testing")
    recorder = Recorder(source, Path(work), storage, prefix, segment_seconds=2, rw_timeout=5)
    summary = await recorder.run()
    return 0 if summary.returncode == 0 else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sys.exit(asyncio.run(main(*sys.argv[1:6])))
