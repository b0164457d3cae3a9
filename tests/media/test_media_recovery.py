"""Recording survives a killed recorder process and an S3 endpoint that goes away."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from asyncio.subprocess import DEVNULL
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from media_support import download, free_port, free_udp_port, make_s3

from hub.storage import S3Storage
from media.commands import test_source_cmd
from media.ffmpeg_bin import decode_ok, probe
from media.finalize import finalize
from media.playlist import parse_segments
from media.recorder import Recorder
from media.workdir import WorkDir, segment_number

PREFIX = "sessions/202"
CHILD = Path(__file__).with_name("recorder_child.py")


async def stored_segments(storage: S3Storage) -> list[str]:
    return [k.rsplit("/", 1)[1] for k in await storage.list(f"{PREFIX}/hls/") if k.endswith(".ts")]


async def until(condition: Any, what: str, seconds: float = 25) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def open_log(path: Path) -> BinaryIO:
    return path.open("wb")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.asyncio
async def test_kill_9_then_resume_with_a_discontinuity(
    s3_storage: S3Storage, tmp_path: Path, child_env: dict[str, str]
) -> None:
    port = free_udp_port()
    listen = f"udp://127.0.0.1:{port}?overrun_nonfatal=1&fifo_size=100000"
    work = tmp_path / "work"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        listen,
        str(work),
        s3_storage.endpoint_url or "",
        s3_storage.bucket,
        PREFIX,
        env=child_env,
        stdin=DEVNULL,
        stdout=DEVNULL,
        stderr=open_log(tmp_path / "child.log"),
    )
    source = await asyncio.create_subprocess_exec(
        *test_source_cmd(f"udp://127.0.0.1:{port}?pkt_size=1316", 20, "mpegts", size="640x360"),
        stdin=DEVNULL,
        stdout=DEVNULL,
        stderr=DEVNULL,
    )
    try:

        async def two_segments_up() -> bool:
            return len(await stored_segments(s3_storage)) >= 2

        await until(
            two_segments_up,
            f"the first recorder to ship two segments (its log: {tmp_path / 'child.log'})",
        )
        ffmpeg_pid = WorkDir(work).load_state().ffmpeg_pid
        assert ffmpeg_pid is not None and alive(ffmpeg_pid)
        child.send_signal(signal.SIGKILL)
        await child.wait()

        async def ffmpeg_gone() -> bool:
            return not alive(ffmpeg_pid)

        await until(ffmpeg_gone, "the orphaned ffmpeg to die with its parent", 5)
        before = await stored_segments(s3_storage)

        puts: list[str] = []
        s3_storage.client.meta.events.register(
            "before-parameter-build.s3.PutObject", lambda params, **_: puts.append(params["Key"])
        )
        recorder = Recorder(listen, work, s3_storage, PREFIX, segment_seconds=2, rw_timeout=5)
        summary = await recorder.run()  # ends a few seconds after the source stops
        assert summary.spooled == 0
    finally:
        for process in (child, source):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    assert not [key for key in puts if key.rsplit("/", 1)[1] in before], "re-uploaded"
    state = WorkDir(work).load_state()
    assert [run.playlist for run in state.runs] == ["run_000.m3u8", "run_001.m3u8"]
    restart = state.runs[1].start_number
    assert restart > max(segment_number(name) or 0 for name in before)

    result = await finalize(PREFIX, work, s3_storage)
    vod = (await s3_storage.get_bytes(f"{PREFIX}/hls/index.m3u8")).decode()
    segments = parse_segments(vod)
    numbers = [segment_number(s.uri) or 0 for s in segments]
    assert any(n < restart for n in numbers) and any(n >= restart for n in numbers)
    assert vod.count("#EXT-X-DISCONTINUITY") == 1
    first_after = next(s for s in segments if (segment_number(s.uri) or 0) >= restart)
    assert first_after.discontinuity
    assert numbers == sorted(numbers) and set(numbers) >= {segment_number(n) for n in before}
    assert result.duration > 8

    # The MP4 joins both runs without the gap between them: each run keeps only its
    # audio lead-in before the first keyframe (under one segment).
    mp4 = await download(s3_storage, PREFIX, tmp_path / "fetched") / "replay.mp4"
    assert await asyncio.to_thread(decode_ok, mp4)
    info = await asyncio.to_thread(probe, mp4, decode=True)
    assert info.has_video
    assert result.duration - 0.5 <= (info.duration or 0) <= result.duration + 2 * 2.1


class TcpProxy:
    """A loopback TCP forwarder that can be switched off and on again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.hanging = False
        """Accept connections and never answer (a store that hangs) instead of forwarding."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()
        self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.hanging:
            self.writers.add(writer)
            with contextlib.suppress(ConnectionError, OSError):
                while await reader.read(65536):
                    pass
            self.writers.discard(writer)
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


@pytest.mark.asyncio
async def test_s3_down_mid_recording_spools_then_catches_up(
    source_ts: Path, s3_storage: S3Storage, tmp_path: Path
) -> None:
    proxy = TcpProxy(int((s3_storage.endpoint_url or "").rsplit(":", 1)[1]))
    await proxy.start()
    through_proxy = make_s3(
        proxy.url, s3_storage.bucket, max_attempts=1, connect_timeout=1, read_timeout=5
    )
    work = tmp_path / "work"
    recorder = Recorder(
        str(source_ts),
        work,
        through_proxy,
        PREFIX,
        segment_seconds=2,
        realtime=True,
        retry_interval=1.0,
    )
    await recorder.start()

    async def first_segment_up() -> bool:
        return bool(await stored_segments(s3_storage))

    await until(first_segment_up, "the first segment")
    await proxy.stop()

    async def segments_spooled() -> bool:
        return sum(key.endswith(".ts") for key in recorder.spool.pending) >= 2

    await until(segments_spooled, "two segments to be spooled while S3 is down")
    await proxy.start()

    summary = await recorder.wait()
    assert summary.returncode == 0, summary.stderr_tail
    assert summary.spooled == 0 and len(recorder.spool) == 0

    on_disk = sorted(p.name for p in work.glob("seg_*.ts"))
    assert await stored_segments(s3_storage) == on_disk  # nothing lost
    live = (await s3_storage.get_bytes(f"{PREFIX}/hls/index.m3u8")).decode()
    assert [s.uri for s in parse_segments(live)] == on_disk
    await proxy.stop()

    await finalize(PREFIX, work, s3_storage)
    fetched = await download(s3_storage, PREFIX, tmp_path / "fetched")
    assert await asyncio.to_thread(decode_ok, fetched / "hls" / "index.m3u8")
    assert await asyncio.to_thread(decode_ok, fetched / "replay.mp4")
    assert (await asyncio.to_thread(probe, fetched / "replay.mp4")).duration == pytest.approx(
        12.0, abs=2.0
    )
