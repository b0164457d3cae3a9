"""Recording a live source into HLS segments that reach storage while the class goes on.

ffmpeg cuts the source into segments by stream copy (see `commands.record_hls_cmd`).
The Recorder watches the work directory: each segment ffmpeg renames from its temporary
name is uploaded at once (or spooled when the store is unreachable), then the joined
EVENT playlist naming only shipped segments. A new Recorder on the same work directory,
after a crash or `kill -9`, skips what was shipped, continues the segment numbering in a
new run, and the playlist gets a discontinuity there.

Before it numbers anything, a Recorder lists what the store holds for the session. When
another recorder (another worker, another work folder) stored segments this folder does
not know, it takes them over: the stored playlist's segments (and any stored segment the
playlist does not name yet) stay first in the playlist, numbering continues after the
highest stored number, and the new run's segment names carry a run tag, so a key that is
stored is never written again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import fcntl
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hub import live_window
from hub.logs import redact
from hub.storage import ObjectMissing, Storage, StorageError, StorageUnavailable
from media.commands import record_hls_cmd, source_list_text
from media.ffmpeg_bin import probe
from media.layout import ArchiveKeys
from media.playlist import Segment, parse_playlist, rebuild_playlist
from media.spool import Spool
from media.workdir import RecorderState, Run, WorkDir, segment_number, segment_pattern

log = logging.getLogger("sharehub.media")

LOCK_NAME = "recorder.lock"
SOURCE_LIST = "source.ffconcat"
"""The source URL with its secrets, mode 0600 (see `commands.source_list_text`)."""
_PR_SET_PDEATHSIG = 1


class RecorderBusy(RuntimeError):
    """Another live Recorder holds this work directory."""


@dataclass(frozen=True)
class RecordingSummary:
    """Where a recording stands when ffmpeg has exited."""

    returncode: int | None
    segments_shipped: int
    spooled: int
    """Objects still waiting in the spool for the store to come back."""
    duration: float
    stderr_tail: list[str]


def _libc() -> ctypes.CDLL | None:
    return ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


_LIBC = _libc()


def _die_with_parent() -> None:
    """In the forked child: let the kernel kill ffmpeg if the recorder process dies."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_stale_ffmpeg(pid: int | None, work_dir: Path) -> None:
    """Kill an ffmpeg left writing into `work_dir` by a recorder that died."""
    if pid is None:
        return
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return
    if str(work_dir) in command_line and "ffmpeg" in command_line:
        log.warning("killing ffmpeg %d left recording into %s", pid, work_dir)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class LiveWindowEdge:
    """Where a recorder puts the live edge while the store is down: the session's live
    window in the database (``hub.live_window``), which the hub serves to viewers."""

    def __init__(self, session_id: int) -> None:
        self.session_id = session_id

    async def keep(self, name: str, position: int, duration: float, path: Path) -> None:
        data = await asyncio.to_thread(path.read_bytes)
        await live_window.keep(self.session_id, name, position, duration, data)

    async def clear(self) -> None:
        await live_window.clear(self.session_id)


class Recorder:
    """Run ffmpeg on one live source and ship its segments as they are closed."""

    def __init__(
        self,
        source_url: str,
        work_dir: Path,
        storage: Storage,
        key_prefix: str,
        *,
        spool: Spool | None = None,
        segment_seconds: int = 4,
        realtime: bool = False,
        rw_timeout: float = 10.0,
        poll_interval: float = 0.25,
        retry_interval: float = 2.0,
        stop_timeout: float = 10.0,
        upload_timeout: float = 10.0,
        edge: LiveWindowEdge | None = None,
        binary: str | None = None,
    ) -> None:
        self.source_url = source_url
        self.work = WorkDir(Path(work_dir))
        self.storage = storage
        self.keys = ArchiveKeys(key_prefix)
        self.spool = spool if spool is not None else Spool(self.work.path / "spool")
        self.segment_seconds = segment_seconds
        self.realtime = realtime
        self.rw_timeout = rw_timeout
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.stop_timeout = stop_timeout
        self.upload_timeout = upload_timeout
        """An upload not done in this many seconds is taken as a store outage: spooled."""
        self.edge = edge
        self._edged: set[str] = set()
        self.binary = binary
        self.progress: dict[str, str] = {}
        self.last_progress_at: float | None = None
        self.state = RecorderState()
        self._run_index = 0
        self._process: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Task[int] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._lock: IO[bytes] | None = None
        self._shipped_playlist: str | None = None
        self._retry_at = 0.0
        self._summary: RecordingSummary | None = None

    @property
    def running(self) -> bool:
        """True while ffmpeg is running."""
        return self._process is not None and self._process.returncode is None

    @property
    def stderr_tail(self) -> list[str]:
        """The last lines ffmpeg printed (warnings and errors)."""
        return list(self._stderr)

    # -- life cycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Resume from the work directory's state and start ffmpeg."""
        self.work.path.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            await self._launch()
        except BaseException:
            self._release_lock()
            raise

    async def _launch(self) -> None:
        self.state = self.work.load_state()
        cut_off = self.state.ffmpeg_pid is not None  # the last run did not end by itself
        _kill_stale_ffmpeg(self.state.ffmpeg_pid, self.work.path)
        for leftover in self.work.clear_partial():
            log.info("removed partial file %s left by a previous run", leftover)
        await self._adopt_stored()
        self._run_index = len(self.state.runs)
        after_stored, tag, taken_from_cut = await self._take_over_stored()
        start_number = max(self.work.next_start_number(self.state), after_stored)
        resumed = taken_from_cut if tag else cut_off and bool(self.state.runs)
        self.state.runs.append(Run(f"run_{self._run_index:03d}.m3u8", start_number, tag, resumed))
        source_list = self._write_source_list()
        command = record_hls_cmd(
            self.source_url,
            self.work.path,
            self.segment_seconds,
            start_number,
            playlist_name=self.state.runs[-1].playlist,
            segment_pattern=segment_pattern(tag),
            source_list=source_list,
            realtime=self.realtime,
            rw_timeout=self.rw_timeout,
            binary=self.binary,
        )
        run = self._run_index
        log.info("recording %s into %s (run %d)", redact(self.source_url), self.work.path, run)
        self._process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        self._exited = asyncio.ensure_future(self._process.wait())
        self.state.ffmpeg_pid = self._process.pid
        self.work.save_state(self.state)
        self._tasks = [
            asyncio.create_task(self._read_progress()),
            asyncio.create_task(self._read_stderr()),
            asyncio.create_task(self._watch()),
        ]

    def _write_source_list(self) -> Path | None:
        """The source with its secrets (SRT passphrase) in a file only this user reads,
        instead of on ffmpeg's command line; None when the URL holds no secret."""
        text = source_list_text(self.source_url, rw_timeout=self.rw_timeout)
        path = self.work.path / SOURCE_LIST
        if text is None:
            path.unlink(missing_ok=True)
            return None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o600)
        return path

    async def run(self) -> RecordingSummary:
        """Record until the source ends (or ffmpeg stops by itself)."""
        await self.start()
        return await self.wait()

    async def wait(self) -> RecordingSummary:
        """Wait for ffmpeg to exit and the last segments and playlist to be shipped."""
        if self._summary is not None:
            return self._summary
        process = self._process
        try:
            await asyncio.gather(*self._tasks)
        except BaseException:
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            for task in self._tasks:
                task.cancel()
            raise
        finally:
            self._release_lock()
        duration = sum(s.duration for s in await asyncio.to_thread(self._segments_now, True))
        self._summary = RecordingSummary(
            returncode=process.returncode if process else None,
            segments_shipped=len(self.state.shipped),
            spooled=len(self.spool),
            duration=duration,
            stderr_tail=list(self._stderr),
        )
        log.info("recording into %s ended: %s", self.work.path, self._summary)
        return self._summary

    async def stop(self) -> RecordingSummary:
        """Stop ffmpeg gracefully (`q`, then SIGINT, then SIGKILL) and finish shipping."""
        process = self._process
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    process.stdin.write(b"q")
                    await process.stdin.drain()
            if not await self._exited_within(self.stop_timeout / 2):
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)
                if not await self._exited_within(self.stop_timeout / 2):
                    log.warning("ffmpeg %d ignored q and SIGINT: killing it", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
        return await self.wait()

    async def _exited_within(self, seconds: float) -> bool:
        """Whether ffmpeg exits within ``seconds``. One waiting task per ffmpeg run, made once:
        a new ``process.wait()`` per poll would leave a pending task behind every time."""
        assert self._exited is not None
        done, _ = await asyncio.wait({self._exited}, timeout=seconds)
        return bool(done)

    def _take_lock(self) -> None:
        handle = (self.work.path / LOCK_NAME).open("wb")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise RecorderBusy(f"another recorder is writing into {self.work.path}") from exc
        self._lock = handle

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- ffmpeg output --------------------------------------------------------------------
    async def _read_progress(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        block: dict[str, str] = {}
        async for raw in self._process.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if not key:
                continue
            block[key] = value
            if key == "progress":
                self.progress = block
                self.last_progress_at = time.monotonic()
                block = {}

    async def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        async for raw in self._process.stderr:
            line = redact(raw.decode(errors="replace").rstrip())  # ffmpeg quotes its input URL
            self._stderr.append(line)
            log.debug("ffmpeg: %s", line)

    # -- shipping -------------------------------------------------------------------------
    async def _watch(self) -> None:
        assert self._process is not None
        while True:
            exited = self._process.returncode is not None
            await self._sweep()
            if exited:
                break
            await self._exited_within(self.poll_interval)
        if len(self.spool) and self._retry_at > time.monotonic():
            self._retry_at = 0.0  # one last try before reporting what is left in the spool
            await self._sweep()
        self.state.ffmpeg_pid = None
        self.work.save_state(self.state)

    def _segments_now(self, shipped_only: bool) -> list[Segment]:
        return self.work.segments(
            self.state, shipped_only=shipped_only, current_run=self._run_index
        )

    async def _sweep(self) -> None:
        """Ship new complete segments, then the playlist naming them."""
        if len(self.spool) and time.monotonic() >= self._retry_at:
            wait = self.retry_interval
            try:
                drained = self.spool.drain(self.storage)
                unavailable = (await asyncio.wait_for(drained, self.upload_timeout)).unavailable
            except TimeoutError:
                log.warning(
                    "store did not take a spooled object in %.0fs: still down", self.upload_timeout
                )
                unavailable, wait = True, max(wait, 3 * self.upload_timeout)
            except StorageError as exc:
                log.error("draining the spool failed, will retry: %s", exc)
                unavailable = True
            if unavailable:
                self._retry_at = time.monotonic() + wait
        for path in self._own_segment_files():
            if path.name in self.state.shipped:
                continue
            if not await self._ship_file(self.keys.segment(path.name), path):
                break  # keep the order: later segments wait for this one
            self.state.shipped[path.name] = path.stat().st_size
            self.work.save_state(self.state)
        segments = await asyncio.to_thread(self._segments_now, True)
        if not segments:
            return
        if self.edge is not None:
            await self._feed_edge(segments)
        text = rebuild_playlist(segments, ended=False, playlist_type="EVENT")
        if text != self._shipped_playlist and await self._ship_bytes(
            self.keys.playlist, text.encode()
        ):
            self._shipped_playlist = text

    async def ship_left(self) -> int:
        """After ffmpeg exited: ship what is still in the work folder (segments a full spool
        refused); the number of segments still not shipped."""
        self._retry_at = 0.0
        await self._sweep()
        self.work.save_state(self.state)
        return sum(1 for p in self._own_segment_files() if p.name not in self.state.shipped)

    def _own_segment_files(self) -> list[Path]:
        """Segment files this folder recorded (not ones fetched from another recorder)."""
        adopted = {str(item["uri"]) for item in self.state.adopted}
        return [p for p in self.work.segment_files() if p.name not in adopted]

    async def _feed_edge(self, segments: list[Segment]) -> None:
        """While segments wait in the spool, the newest go to the live window (viewers keep
        the class); once the spool is empty (the store is back) the window is cleared."""
        assert self.edge is not None
        pending = set(self.spool.pending)
        try:
            if not any(self.keys.segment(s.uri) in pending for s in segments):
                if self._edged:
                    await self.edge.clear()
                    self._edged.clear()
                return
            first = max(0, len(segments) - live_window.WINDOW)
            for position, segment in enumerate(segments[first:], start=first):
                if segment.uri in self._edged or self.keys.segment(segment.uri) not in pending:
                    continue
                path = self.work.path / segment.uri
                await self.edge.keep(segment.uri, position, segment.duration, path)
                self._edged.add(segment.uri)
        except Exception as exc:  # the database may be away too: recording goes on
            log.warning("could not keep the live edge of %s: %s", self.keys.prefix, exc)

    def _store_down(self) -> bool:
        return len(self.spool) > 0

    async def _ship_file(self, key: str, path: Path) -> bool:
        return await self._ship(
            key, lambda: self.storage.put_file(key, path), lambda: self.spool.add_file(key, path)
        )

    async def _ship_bytes(self, key: str, data: bytes) -> bool:
        return await self._ship(
            key, lambda: self.storage.put_bytes(key, data), lambda: self.spool.add_bytes(key, data)
        )

    async def _ship(
        self,
        key: str,
        upload: Callable[[], Awaitable[int]],
        spool: Callable[[], Awaitable[bool]],
    ) -> bool:
        """Upload, or spool while the store is down; False means "retry later, in order"."""
        if not self._store_down():
            try:
                await asyncio.wait_for(upload(), self.upload_timeout)
                self.spool.room_again()
                return True
            except TimeoutError:
                log.warning(
                    "store unavailable: the upload of %s did not finish in %.0fs, spooling it",
                    key,
                    self.upload_timeout,
                )
                self._retry_at = time.monotonic() + 3 * self.upload_timeout
            except StorageUnavailable as exc:
                log.warning("store unavailable, spooling %s: %s", key, exc)
                self._retry_at = time.monotonic() + self.retry_interval
            except StorageError as exc:
                log.error("upload of %s failed, will retry: %s", key, exc)
                return False
        return await spool()

    async def _adopt_stored(self) -> None:
        """Mark segments a killed recorder uploaded but did not note as shipped.

        The previous process may die between the upload and saving its state; the object
        in the store with the same size is that upload, so it is not sent again.
        """
        unnoted = [p for p in self._own_segment_files() if p.name not in self.state.shipped]
        if not unnoted:
            return
        try:
            stored = await asyncio.gather(
                *(self.storage.size(self.keys.segment(p.name)) for p in unnoted)
            )
        except StorageError as exc:
            log.warning("could not check the store for segments already uploaded: %s", exc)
            return
        for path, size in zip(unnoted, stored, strict=True):
            if size is not None and size == path.stat().st_size:
                self.state.shipped[path.name] = size

    async def _take_over_stored(self) -> tuple[int, str, bool]:
        """Adopt segments another recorder stored: (first free number, run tag or "",
        whether that recorder was cut off, its stored playlist never closed).

        Reads the stored playlist and lists the stored segment keys. When some stored
        segment is not one this folder shipped (nor adopted before), the session was
        recorded elsewhere meanwhile: the stored playlist, with the stored segments it
        does not name yet appended, becomes `state.adopted`, and the new run is tagged.
        """
        try:
            stored = [
                key.rsplit("/", 1)[1]
                for key in await self.storage.list(f"{self.keys.hls_dir}/")
                if segment_number(key.rsplit("/", 1)[1]) is not None
            ]
        except StorageError as exc:
            log.warning("could not list the stored segments of %s: %s", self.keys.prefix, exc)
            return 0, "", False
        after = max((segment_number(name) or 0 for name in stored), default=-1) + 1
        known = set(self.state.shipped) | {str(item["uri"]) for item in self.state.adopted}
        foreign = [name for name in stored if name not in known]
        if not foreign:
            return after, "", False
        cut_off = True
        try:
            parsed = parse_playlist((await self.storage.get_bytes(self.keys.playlist)).decode())
            listed, cut_off = parsed.segments, not parsed.ended
        except ObjectMissing:
            listed = []
        except StorageError as exc:
            log.warning("could not read the stored playlist of %s: %s", self.keys.prefix, exc)
            listed = []
        names = {s.uri for s in listed}
        extra = sorted(
            (n for n in stored if n not in names), key=lambda n: (segment_number(n) or 0, n)
        )
        adopted = list(listed)
        for name in extra:  # stored, but the killed recorder did not list it yet
            local = self.work.path / name
            try:
                if not local.exists():
                    await self.storage.get_file(self.keys.segment(name), local)
                duration = (await asyncio.to_thread(probe, local)).duration or 0.0
            except (StorageError, OSError) as exc:
                log.warning("could not fetch stored segment %s: %s", name, exc)
                continue
            adopted.append(Segment(name, duration, discontinuity=not adopted))
        self.state.adopted = [
            {
                "uri": s.uri,
                "duration": s.duration,
                "discontinuity": s.discontinuity,
                "program_date_time": s.program_date_time,
                "tags": list(s.tags),
            }
            for s in adopted
        ]
        self.state.base_run = self._run_index
        tag = secrets.token_hex(2)
        log.warning(
            "%s: taking over %d stored segments recorded elsewhere (%d not in the stored "
            "playlist); this run's segments are tagged %s, numbered from %d",
            self.keys.prefix,
            len(adopted),
            len(extra),
            tag,
            after,
        )
        return after, tag, cut_off
