"""Locating the ffmpeg binary and asking it about media files (there is no ffprobe)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

FFMPEG_ENV = "SHAREHUB_FFMPEG"

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_BITRATE = re.compile(r"Duration: .*?bitrate: (\d+) kb/s")
_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: (Video|Audio): (\w+)(.*)$", re.MULTILINE)
_SIZE = re.compile(r"(?<![\w#])(\d{2,5})x(\d{2,5})(?![\w])")
_TIME = re.compile(r"time=(\d+):(\d\d):(\d\d(?:\.\d+)?)")


@dataclass(frozen=True)
class MediaInfo:
    """What ffmpeg says about one input: duration in seconds, streams, size, bit rate."""

    duration: float | None
    has_video: bool
    has_audio: bool
    width: int | None = None
    height: int | None = None
    bitrate: int | None = None
    """Overall bit rate in bits per second, as the container reports it."""
    video_codec: str | None = None
    audio_codec: str | None = None


def find_ffmpeg() -> str:
    """Path of the ffmpeg to run: $SHAREHUB_FFMPEG, else ffmpeg on PATH, else the wheel's."""
    configured = os.environ.get(FFMPEG_ENV)
    if configured:
        return configured
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _seconds(match: re.Match[str]) -> float:
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def parse_media_info(stderr: str) -> MediaInfo:
    """Read a MediaInfo from the banner ffmpeg prints for `ffmpeg -i INPUT` (pure)."""
    duration_match = _DURATION.search(stderr)
    bitrate_match = _BITRATE.search(stderr)
    width = height = None
    video_codec = audio_codec = None
    for kind, codec, rest in _STREAM.findall(stderr):
        if kind == "Video" and video_codec is None:
            video_codec = codec
            size = _SIZE.search(rest)
            if size:
                width, height = int(size.group(1)), int(size.group(2))
        elif kind == "Audio" and audio_codec is None:
            audio_codec = codec
    return MediaInfo(
        duration=_seconds(duration_match) if duration_match else None,
        has_video=video_codec is not None,
        has_audio=audio_codec is not None,
        width=width,
        height=height,
        bitrate=int(bitrate_match.group(1)) * 1000 if bitrate_match else None,
        video_codec=video_codec,
        audio_codec=audio_codec,
    )


def probe(path: str | Path, *, decode: bool = False, timeout: float = 120.0) -> MediaInfo:
    """Describe a media file or URL with ffmpeg alone.

    The header gives the duration for most containers; when it does not (a live playlist,
    a raw stream) or when `decode` is set, the input is decoded to the null muxer and the
    last `time=` reached is taken as the duration. Raises FileNotFoundError when ffmpeg
    cannot open the input.
    """
    binary = find_ffmpeg()
    header = subprocess.run(
        [binary, "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    ).stderr
    info = parse_media_info(header)
    if not info.has_video and not info.has_audio:
        raise FileNotFoundError(f"ffmpeg cannot read {path}: {header.strip()[-300:]}")
    if info.duration is not None and not decode:
        return info
    decoded = subprocess.run(
        [binary, "-hide_banner", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    ).stderr
    times = list(_TIME.finditer(decoded))
    duration = _seconds(times[-1]) if times else info.duration
    return MediaInfo(
        duration=duration,
        has_video=info.has_video,
        has_audio=info.has_audio,
        width=info.width,
        height=info.height,
        bitrate=info.bitrate,
        video_codec=info.video_codec,
        audio_codec=info.audio_codec,
    )


def decode_ok(path_or_url: str | Path, *, strict: bool = True, timeout: float = 300.0) -> bool:
    """True when ffmpeg decodes the whole input (`ffmpeg -v error -i X -f null -`).

    With `strict` any error line fails the check; without it only the exit status counts
    (a playlist joining two recordings with a discontinuity logs harmless timestamp errors).
    """
    try:
        result = subprocess.run(
            [find_ffmpeg(), "-nostdin", "-v", "error", "-i", str(path_or_url), "-f", "null", "-"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    if result.returncode != 0:
        return False
    return not (strict and result.stderr.strip())


class FfmpegFailed(RuntimeError):
    """ffmpeg exited with an error; the message ends with the last lines it printed."""


async def run_ffmpeg(command: list[str]) -> None:
    """Run one ffmpeg command line to completion without blocking the event loop.

    Cancelling the caller (e.g. inside `asyncio.timeout`) kills ffmpeg.
    """
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await process.communicate()
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        tail = stderr.decode(errors="replace").strip()[-800:]
        raise FfmpegFailed(f"ffmpeg exited with {process.returncode}: {' '.join(command)}\n{tail}")
