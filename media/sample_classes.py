"""Synthetic classes for ``sharehub demo``: two job kinds of the media worker.

- ``record-test-class`` {session_id, title}: a held class gets a real recording. ffmpeg makes
  a short class from lavfi sources (the ``testsrc2`` picture with the course's title burnt in
  with ``drawtext`` in a CJK font, and a sine tone; 426x240, 75 s) into a local MPEG-TS
  file; the same ``Recorder`` a pushed stream goes through cuts it into segments in
  storage, then the finalize job (VOD playlist, MP4, poster; archives the class) and the
  transcode job (low and audio renditions) a pushed stream gets are queued.
- ``push-test-stream`` {session_id}: a test stream pushed, as a teacher's encoder would, to
  the push address the class's provider gives, until the class is over or the worker stops
  (the push stops with the demo). The recorder listening for that class turns it live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ffmpeg
import msgspec

from hub import jobs, live, recordings
from hub.demo import PUSH_TEST_STREAM, RECORD_TEST_CLASS
from hub.job_runner import HandBack, JobContext, JobKind, PermanentError
from hub.jobs import RetryPolicy
from hub.tables import JobState, SessionStatus
from media.commands import _QUIET
from media.ffmpeg_bin import find_ffmpeg
from media.handlers import key_prefix
from media.layout import ArchiveKeys
from media.recorder import Recorder

log = logging.getLogger("sharehub.worker")

SIZE = "426x240"
SECONDS = 75
FONT_NAMES = ("Noto Sans CJK SC", "Noto Sans CJK", "WenQuanYi Zen Hei")
FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
)


class SampleClassPayload(msgspec.Struct, forbid_unknown_fields=True):
    session_id: int
    title: str = ""


class PushPayload(msgspec.Struct, forbid_unknown_fields=True):
    session_id: int


def cjk_font() -> str | None:
    """A font file with Chinese glyphs (fonts-noto-cjk), or None."""
    if shutil.which("fc-match"):
        for name in FONT_NAMES:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                found = subprocess.run(
                    ["fc-match", "-f", "%{file}", f"{name}:lang=zh-cn"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                    check=False,
                ).stdout.strip()
                if "CJK" in found or "WenQuanYi" in found:
                    return found
    return next((f for f in FONT_FILES if Path(f).exists()), None)


def sample_class_cmd(
    out: str,
    title_file: Path | None,
    *,
    seconds: float = SECONDS,
    fmt: str = "mpegts",
    realtime: bool = False,
    font: str | None = None,
    binary: str | None = None,
) -> list[str]:
    """A class from lavfi: the test picture with the title (read from ``title_file``) and the
    clock burnt in, a 440 Hz tone; H.264 with 2 s GOPs and AAC, at ``SIZE``."""
    pace: dict[str, Any] = {"re": None} if realtime else {}
    video = ffmpeg.input(f"testsrc2=size={SIZE}:rate=25", f="lavfi", **pace)
    if title_file is not None and font is not None:
        video = video.drawtext(
            textfile=str(title_file),
            fontfile=font,
            fontsize=22,
            fontcolor="white",
            box=1,
            boxcolor="black@0.6",
            boxborderw=6,
            x="(w-text_w)/2",
            y="h-text_h-16",
        )
    audio = ffmpeg.input("sine=frequency=440:sample_rate=48000", f="lavfi", **pace)
    stream = ffmpeg.output(
        video,
        audio,
        out,
        t=f"{seconds:g}",
        f=fmt,
        **{
            "c:v": "libx264",
            "preset": "veryfast",
            "pix_fmt": "yuv420p",
            "b:v": "300k",
            "g": 50,
            "keyint_min": 50,
            "sc_threshold": 0,
            "c:a": "aac",
            "b:a": "64k",
        },
    )
    return stream.global_args(*_QUIET).compile(cmd=binary or find_ffmpeg(), overwrite_output=True)


async def _run(cmd: list[str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"ffmpeg failed: {err.decode(errors='replace')[-400:]}")


async def record_sample_class(ctx: JobContext) -> None:
    payload: SampleClassPayload = ctx.payload
    session_id = payload.session_id
    row = await live.session_row(session_id)
    if row["status"] not in (SessionStatus.ended, SessionStatus.archived):
        raise PermanentError(f"session {session_id} is {row['status']}: not a held class")
    if await recordings.get(session_id) is not None:
        log.info("session %d has a recording already", session_id)
        return
    source_dir = ctx.settings.worker_dir / "test-classes"
    source_dir.mkdir(parents=True, exist_ok=True)
    title_file = source_dir / f"{session_id}.txt"
    title_file.write_text(payload.title or f"第 {session_id} 节课", encoding="utf-8")
    source = source_dir / f"{session_id}.ts"
    started = datetime.now(UTC)
    font = cjk_font()
    if font is None:
        log.warning("no CJK font (install fonts-noto-cjk): the test class has no title")
    await _run(sample_class_cmd(str(source), title_file, font=font, binary=ctx.worker.binary))
    prefix = key_prefix(session_id)
    recorder = Recorder(
        str(source),
        ctx.worker.work_dir(session_id),
        ctx.storage,
        prefix,
        segment_seconds=ctx.settings.segment_seconds,
        binary=ctx.worker.binary,
    )
    await recordings.start(session_id, prefix, ArchiveKeys(prefix).playlist)
    summary = await recorder.run()
    source.unlink(missing_ok=True)
    title_file.unlink(missing_ok=True)
    if not summary.segments_shipped:
        raise RuntimeError(f"nothing recorded: {' | '.join(summary.stderr_tail[-3:])}")
    await recordings.processing(session_id)
    await jobs.enqueue(
        jobs.FINALIZE,
        {"session_id": session_id},
        dedupe_key=f"finalize:{session_id}",
        reopen=(JobState.succeeded, JobState.failed),
    )
    log.info(
        "session %d: test class of %.0fs recorded in %.1fs; finalize queued",
        session_id,
        summary.duration,
        (datetime.now(UTC) - started).total_seconds(),
    )


async def push_test_stream(ctx: JobContext) -> None:
    session_id = ctx.payload.session_id
    row = await live.session_row(session_id)
    if row["status"] in (SessionStatus.ended, SessionStatus.archived, SessionStatus.cancelled):
        return
    if datetime.now(UTC) >= row["ends_at"]:
        return
    ingest = ctx.plugins.provider(row["provider"]).ingest(
        await live.prepared_context(row, ctx.plugins, ctx.settings)
    )
    if not ingest.endpoints:
        raise PermanentError(f"provider {row['provider']} gives no push address")
    endpoint = ingest.endpoints[0]
    url = endpoint.url
    if endpoint.protocol == "srt" and ingest.passphrase:
        url += f"&passphrase={ingest.passphrase}&pbkeylen=16"
    seconds = (row["ends_at"] - datetime.now(UTC)).total_seconds()
    title = ctx.settings.worker_dir / "test-classes" / f"live-{session_id}.txt"
    title.parent.mkdir(parents=True, exist_ok=True)
    title.write_text("直播演示 " + str(row.get("title") or ""), encoding="utf-8")
    cmd = sample_class_cmd(
        url,
        title,
        seconds=seconds,
        fmt="flv" if endpoint.protocol == "rtmp" else "mpegts",
        realtime=True,
        font=cjk_font(),
        binary=ctx.worker.binary,
    )
    process = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    log.info("session %d: demo test stream pushed to %s", session_id, endpoint.protocol)
    waiting = asyncio.ensure_future(process.wait())
    stopping = asyncio.ensure_future(ctx.stopping.wait())
    try:
        await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if ctx.stopping.is_set():
        raise HandBack()
    if process.returncode and datetime.now(UTC) < row["ends_at"]:
        # no listener yet (the recorder opens it a little before the class): try again
        err = b""
        if process.stderr is not None:
            err = await process.stderr.read()
        raise RuntimeError(f"push ended: {err.decode(errors='replace')[-300:]}")


SAMPLE_CLASS_KINDS: tuple[JobKind, ...] = (
    JobKind(
        RECORD_TEST_CLASS,
        record_sample_class,
        RetryPolicy(max_attempts=3, base_seconds=10, cap_seconds=60),
        cpu=True,
        payload=SampleClassPayload,
    ),
    JobKind(
        PUSH_TEST_STREAM,
        push_test_stream,
        RetryPolicy(max_attempts=30, base_seconds=2, cap_seconds=10),
        payload=PushPayload,
    ),
)
