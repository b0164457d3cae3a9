"""Turning a finished recording into its replay artefacts, step by idempotent step.

The VOD playlist (closed with #EXT-X-ENDLIST), one MP4 with faststart by stream copy, a
low-bandwidth HLS rendition, an audio-only HLS rendition and a poster. Each artefact is
recorded in `recording.json` beside them with its files and sizes; an artefact already in
storage with the recorded sizes, made from the same segments, is not made again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hub.storage import ObjectMissing, Storage, StorageError, StorageUnavailable
from media.commands import (
    PLAYLIST_NAME,
    audio_only_cmd,
    ffconcat_text,
    low_rendition_cmd,
    mp4_from_concat_cmd,
    mp4_from_playlist_cmd,
    poster_cmd,
)
from media.ffmpeg_bin import MediaInfo, probe, run_ffmpeg
from media.layout import ArchiveKeys
from media.playlist import (
    Segment,
    lost_seconds,
    parse_segments,
    rebuild_playlist,
    total_duration,
)
from media.spool import Spool
from media.workdir import WorkDir, segment_number

log = logging.getLogger("sharehub.media")

VOD_NAME = "vod.m3u8"


class FinalizeError(RuntimeError):
    """The recording cannot be finalized (nothing recorded, or ffmpeg failed)."""


@dataclass(frozen=True)
class Artefact:
    """One product of finalizing: its main key, total bytes, duration and every file."""

    key: str
    bytes: int
    duration: float | None
    files: dict[str, int] = field(default_factory=dict)
    """Storage key -> size in bytes, for every object the artefact is made of."""


@dataclass(frozen=True)
class FinalizeResult:
    """Artefacts by name (playlist, mp4, low, audio, poster) and which were already done."""

    duration: float
    artefacts: dict[str, Artefact]
    skipped: tuple[str, ...] = ()
    segments: int = 0
    segment_bytes: int = 0
    """Bytes of the recorded HLS segments (the playlist's files)."""
    lost_seconds: float = 0.0
    """Class time nobody recorded: where a recorder was cut off and another went on."""


ARTEFACTS = ("mp4", "low", "audio", "poster", "low_mp4", "audio_m4a")
"""Everything finalize can make; the worker makes mp4+poster first, low+audio (and the low
rendition as one MP4 for download, ``low_mp4``, and the audio one as one M4A, ``audio_m4a``)
after."""


async def _drain_spool(spool: Spool | None, storage: Storage) -> None:
    if spool is None or not len(spool):
        return
    result = await spool.drain(storage)
    if result.remaining:
        raise StorageUnavailable(
            f"{result.remaining} objects are still waiting in {spool.root}: the store is down"
        )


async def _segments(keys: ArchiveKeys, work: WorkDir, storage: Storage) -> list[Segment]:
    """The recording's segments on local disk, uploading or downloading what is missing.

    The stored playlist is what every worker shares: when it names segments this work
    folder does not know (another worker took the session over after this one), it is
    the recording, and this folder's own unstored leftovers are left out (logged). Else
    the folder's view, which may hold segments not stored yet, is the recording.
    """
    state = work.load_state()
    local = await asyncio.to_thread(work.segments, state) if state.runs else []
    try:
        stored = parse_segments((await storage.get_bytes(keys.playlist)).decode())
    except ObjectMissing:
        stored = []
    known = {segment.uri for segment in local}
    if local and all(segment.uri in known for segment in stored):
        listed = set(await storage.list(f"{keys.hls_dir}/"))
        for segment in local:
            path = work.path / segment.uri
            if not path.exists():
                await storage.get_file(keys.segment(segment.uri), path)
            elif keys.segment(segment.uri) not in listed:
                log.info("uploading %s, which the recorder did not ship", segment.uri)
                await storage.put_file(keys.segment(segment.uri), path)
        return local
    if local:
        left = [s.uri for s in local if s.uri not in {x.uri for x in stored}]
        log.warning(
            "%s was taken over by another worker: the stored playlist is the recording; "
            "local segments never stored are left out: %s",
            keys.prefix,
            left,
        )
    for segment in stored:
        if segment_number(segment.uri) is None:
            raise FinalizeError(f"unexpected segment URI {segment.uri!r} in {keys.playlist}")
        path = work.path / segment.uri
        if not path.exists():
            await storage.get_file(keys.segment(segment.uri), path)
    return stored


async def _load_manifest(storage: Storage, keys: ArchiveKeys) -> dict[str, Any]:
    try:
        loaded = json.loads(await storage.get_bytes(keys.manifest))
    except (ObjectMissing, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


async def _in_storage(storage: Storage, entry: dict[str, Any] | None) -> Artefact | None:
    """The recorded artefact, if every one of its files is stored with its recorded size."""
    if not entry or not entry.get("files"):
        return None
    for key, size in entry["files"].items():
        if await storage.size(key) != size:
            return None
    return Artefact(entry["key"], int(entry["bytes"]), entry.get("duration"), entry["files"])


async def _upload_hls(storage: Storage, directory: Path, key_dir: str) -> Artefact:
    """Upload a rendition's segments, then its playlist (so it never names a missing file)."""
    files: dict[str, int] = {}
    for path in await asyncio.to_thread(lambda: sorted(directory.glob("seg_*.ts"))):
        files[f"{key_dir}/{path.name}"] = await storage.put_file(f"{key_dir}/{path.name}", path)
    playlist = directory / PLAYLIST_NAME
    files[f"{key_dir}/{PLAYLIST_NAME}"] = await storage.put_file(
        f"{key_dir}/{PLAYLIST_NAME}", playlist
    )
    duration = total_duration(playlist.read_text())
    return Artefact(f"{key_dir}/{PLAYLIST_NAME}", sum(files.values()), duration, files)


def split_runs(segments: list[Segment]) -> list[list[str]]:
    """Segment URIs grouped into continuous runs (a new run at each discontinuity)."""
    runs: list[list[str]] = []
    for segment in segments:
        if segment.discontinuity or not runs:
            runs.append([])
        runs[-1].append(segment.uri)
    return runs


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


class _Finalizer:
    def __init__(
        self,
        keys: ArchiveKeys,
        work: WorkDir,
        storage: Storage,
        segments: list[Segment],
        binary: str | None,
        poster_at: float,
    ) -> None:
        self.keys = keys
        self.segments = segments
        self.work = work
        self.storage = storage
        self.binary = binary
        self.poster_at = poster_at
        self.out = work.path / "final"
        self.mp4 = self.out / "replay.mp4"
        self._info: MediaInfo | None = None
        self._low: Path | None = None
        self._audio: Path | None = None

    async def local_mp4(self) -> MediaInfo:
        """Make the MP4 on local disk (once) and describe it."""
        if self._info is None:
            self.out.mkdir(parents=True, exist_ok=True)
            partial = self.out / "replay.partial.mp4"
            runs = split_runs(self.segments)
            if len(runs) == 1:
                command = mp4_from_playlist_cmd(
                    self.work.path / VOD_NAME, partial, binary=self.binary
                )
            else:
                concat_list = self.work.path / "runs.ffconcat"
                base = self.work.path.resolve()
                absolute = [[str(base / name) for name in run] for run in runs]
                concat_list.write_text(ffconcat_text(absolute))
                command = mp4_from_concat_cmd(concat_list, partial, binary=self.binary)
            await run_ffmpeg(command)
            partial.replace(self.mp4)
            self._info = await asyncio.to_thread(probe, self.mp4)
        return self._info

    async def local_low(self, info: MediaInfo) -> Path:
        """Make the low-bandwidth HLS rendition on local disk (once per finalize)."""
        if self._low is None:
            directory = _fresh_dir(self.out / "low")
            await run_ffmpeg(
                low_rendition_cmd(
                    self.mp4, directory, with_audio=info.has_audio, binary=self.binary
                )
            )
            self._low = directory
        return self._low

    async def local_audio(self) -> Path:
        """Make the audio-only HLS rendition on local disk (once per finalize)."""
        if self._audio is None:
            directory = _fresh_dir(self.out / "audio")
            await run_ffmpeg(audio_only_cmd(self.mp4, directory, binary=self.binary))
            self._audio = directory
        return self._audio

    async def make(self, name: str) -> Artefact | None:
        info = await self.local_mp4()
        if name == "mp4":
            size = await self.storage.put_file(self.keys.mp4, self.mp4)
            return Artefact(self.keys.mp4, size, info.duration, {self.keys.mp4: size})
        if name == "low" and info.has_video:
            return await _upload_hls(self.storage, await self.local_low(info), self.keys.low_dir)
        if name == "low_mp4" and info.has_video:
            playlist = (await self.local_low(info)) / PLAYLIST_NAME
            partial = self.out / "replay-low.partial.mp4"
            await run_ffmpeg(mp4_from_playlist_cmd(playlist, partial, binary=self.binary))
            low_mp4 = partial.replace(self.out / "replay-low.mp4")
            size = await self.storage.put_file(self.keys.low_mp4, low_mp4)
            duration = (await asyncio.to_thread(probe, low_mp4)).duration
            return Artefact(self.keys.low_mp4, size, duration, {self.keys.low_mp4: size})
        if name == "audio" and info.has_audio:
            directory = await self.local_audio()
            return await _upload_hls(self.storage, directory, self.keys.audio_dir)
        if name == "audio_m4a" and info.has_audio:
            playlist = (await self.local_audio()) / PLAYLIST_NAME
            partial = self.out / "replay-audio.partial.m4a"
            await run_ffmpeg(mp4_from_playlist_cmd(playlist, partial, binary=self.binary))
            m4a = partial.replace(self.out / "replay-audio.m4a")
            size = await self.storage.put_file(self.keys.audio_m4a, m4a)
            duration = (await asyncio.to_thread(probe, m4a)).duration
            return Artefact(self.keys.audio_m4a, size, duration, {self.keys.audio_m4a: size})
        if name == "poster" and info.has_video:
            at = min(self.poster_at, (info.duration or 0.0) / 2)
            jpg = self.out / "poster.jpg"
            await run_ffmpeg(poster_cmd(self.mp4, jpg, at, binary=self.binary))
            size = await self.storage.put_file(self.keys.poster, jpg)
            return Artefact(self.keys.poster, size, None, {self.keys.poster: size})
        return None


async def finalize(
    session_key_prefix: str,
    work_dir: Path,
    storage: Storage,
    *,
    spool: Spool | None = None,
    poster_at: float = 10.0,
    binary: str | None = None,
    names: tuple[str, ...] = ARTEFACTS,
) -> FinalizeResult:
    """Close the recording under `session_key_prefix` and make its replay artefacts.

    `work_dir` is the recorder's work directory; on another worker it may be empty, and
    the segments are then downloaded. Waiting spooled objects (by default those in
    `work_dir/spool`) are uploaded first; StorageUnavailable if the store is still down.
    `names` limits which artefacts are made now; the manifest keeps the others recorded
    for the same segments.
    """
    keys = ArchiveKeys(session_key_prefix)
    work = WorkDir(Path(work_dir))
    work.path.mkdir(parents=True, exist_ok=True)
    if spool is None and (work.path / "spool").is_dir():
        spool = Spool(work.path / "spool")
    await _drain_spool(spool, storage)

    segments = await _segments(keys, work, storage)
    if not segments:
        raise FinalizeError(f"nothing was recorded for {session_key_prefix} in {work.path}")
    vod = rebuild_playlist(segments, ended=True, playlist_type="VOD")
    (work.path / VOD_NAME).write_text(vod)
    duration = total_duration(vod)
    fingerprint = hashlib.sha256(vod.encode()).hexdigest()

    artefacts: dict[str, Artefact] = {}
    skipped: list[str] = []
    data = vod.encode()
    try:
        same = await storage.get_bytes(keys.playlist) == data
    except ObjectMissing:
        same = False
    if same:
        skipped.append("playlist")
    else:
        await storage.put_bytes(keys.playlist, data)
    artefacts["playlist"] = Artefact(keys.playlist, len(data), duration, {keys.playlist: len(data)})

    manifest = await _load_manifest(storage, keys)
    previous = manifest.get("artefacts", {}) if manifest.get("source") == fingerprint else {}
    finalizer = _Finalizer(keys, work, storage, segments, binary, poster_at)
    for name, entry in previous.items():
        if name not in names and name != "playlist" and entry.get("files"):
            artefacts[name] = Artefact(
                entry["key"], int(entry["bytes"]), entry.get("duration"), entry["files"]
            )
    for name in names:
        done = await _in_storage(storage, previous.get(name))
        if done is not None:
            artefacts[name] = done
            skipped.append(name)
            continue
        try:
            made = await finalizer.make(name)
        except StorageError:
            raise
        except Exception as exc:
            raise FinalizeError(f"making the {name} of {session_key_prefix} failed: {exc}") from exc
        if made is not None:
            artefacts[name] = made
            log.info("%s of %s: %d bytes", name, session_key_prefix, made.bytes)
            # Recorded after each step, so a retry after a crash skips what is done.
            await _save_manifest(storage, keys, fingerprint, duration, artefacts)
    await _save_manifest(storage, keys, fingerprint, duration, artefacts)
    segment_bytes = sum((work.path / s.uri).stat().st_size for s in segments)
    return FinalizeResult(
        duration,
        artefacts,
        tuple(skipped),
        len(segments),
        segment_bytes,
        lost_seconds(segments),
    )


async def _save_manifest(
    storage: Storage,
    keys: ArchiveKeys,
    fingerprint: str,
    duration: float,
    artefacts: dict[str, Artefact],
) -> None:
    record = {
        "source": fingerprint,
        "duration": duration,
        "artefacts": {name: asdict(artefact) for name, artefact in artefacts.items()},
    }
    await storage.put_bytes(keys.manifest, json.dumps(record, indent=1).encode())
