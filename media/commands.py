"""ffmpeg command lines for recording, remuxing and transcoding (pure: nothing runs here).

Each builder returns the argument list for `asyncio.create_subprocess_exec`; the graph is
written with ffmpeg-python and compiled against the binary from `find_ffmpeg()` unless
one is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import ffmpeg

from hub.outbound import protocol_whitelist
from media.ffmpeg_bin import find_ffmpeg

SEGMENT_PATTERN = "seg_%05d.ts"
"""File name pattern of HLS segments: seg_00000.ts, seg_00001.ts, ..."""
PLAYLIST_NAME = "index.m3u8"

LOW_VIDEO_BITRATE = "200k"
LOW_VIDEO_MAXRATE = "240k"
LOW_VIDEO_BUFSIZE = "240k"
"""The 360p rendition's video: x264's VBV keeps any window of T seconds under
maxrate * T + bufsize bits, so a 4 s segment peaks at (4 * 240 + 240) / 4 = 300 kbit/s of
video; with 64 kbit/s of audio and MPEG-TS overhead every segment stays under 400 kbit/s
(measured: 280-320 kbit/s per segment on the 720p test pattern)
(a 600k buffer on a 300k cap let one segment reach 410)."""
LOW_AUDIO_BITRATE = "64k"

_QUIET = ("-hide_banner", "-nostats", "-loglevel", "warning")


def _binary(binary: str | None) -> str:
    return binary if binary is not None else find_ffmpeg()


def source_options(source_url: str, *, rw_timeout: float = 10.0) -> dict[str, Any]:
    """Input options so a network source reconnects when it can and a dead one ends ffmpeg.

    Every source is held to its own protocols (``-protocol_whitelist``, see
    ``hub.outbound.protocol_whitelist``: no ``file:``, ``concat:`` or ``data:`` from a
    network source), and an HTTP source follows no redirect (``-max_redirects 0``): a
    redirect could send it to an address the hub's URL guard refused.
    """
    micros = int(rw_timeout * 1_000_000)
    scheme = source_url.split("://", 1)[0].lower() if "://" in source_url else "file"
    guard: dict[str, Any] = {"protocol_whitelist": protocol_whitelist(source_url)}
    if scheme in ("http", "https"):
        return {
            **guard,
            "max_redirects": 0,
            "reconnect": 1,
            "reconnect_streamed": 1,
            "reconnect_on_network_error": 1,
            "reconnect_delay_max": 5,
            "rw_timeout": micros,
        }
    if scheme in ("srt", "udp"):
        # SRT's and UDP's own read timeout; both are in microseconds.
        return {**guard, "timeout": micros}
    # rtmp: `timeout` would turn on listen mode there, so only the generic rw_timeout.
    return {**guard, "rw_timeout": micros}


SECRET_FIELDS = ("passphrase",)
"""URL query fields that must not appear on ffmpeg's command line (``ps`` shows it to
every local user): they go into a source list file only the worker's user can read."""


def split_secrets(source_url: str) -> tuple[str, dict[str, str]]:
    """The URL without its secret query fields, and those fields (decoded)."""
    parts = urlsplit(source_url)
    if not parts.query:
        return source_url, {}
    fields = parse_qsl(parts.query, keep_blank_values=True)
    hidden = {k: v for k, v in fields if k in SECRET_FIELDS}
    if not hidden:
        return source_url, {}
    kept = urlencode([(k, v) for k, v in fields if k not in SECRET_FIELDS])
    return urlunsplit(parts._replace(query=kept)), hidden


def _concat_quote(text: str) -> str:
    return "'" + str(text).replace("'", "'\\''") + "'"


def source_list_text(source_url: str, *, rw_timeout: float = 10.0) -> str | None:
    """An ffconcat list that opens `source_url` with its secrets as options, or None when
    the URL holds no secret. ffmpeg takes no protocol option from a file on its command line
    (``-/passphrase`` is refused), but the concat demuxer opens each listed file with the
    ``option`` lines under it: the passphrase stays in a 0600 file, off ``ps``."""
    url, hidden = split_secrets(source_url)
    if not hidden:
        return None
    options = {**source_options(source_url, rw_timeout=rw_timeout), **hidden}
    lines = ["ffconcat version 1.0", f"file {_concat_quote(url)}"]
    lines += [f"option {key} {_concat_quote(str(value))}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def _vod_hls(out_dir: Path, segment_seconds: int) -> dict[str, Any]:
    return {
        "f": "hls",
        "hls_time": segment_seconds,
        "hls_list_size": 0,
        "hls_playlist_type": "vod",
        "hls_segment_filename": str(out_dir / SEGMENT_PATTERN),
    }


def record_hls_cmd(
    source_url: str,
    out_dir: Path,
    segment_seconds: int = 4,
    start_number: int = 0,
    *,
    playlist_name: str = PLAYLIST_NAME,
    realtime: bool = False,
    rw_timeout: float = 10.0,
    progress: str = "pipe:1",
    segment_pattern: str = SEGMENT_PATTERN,
    source_list: Path | None = None,
    binary: str | None = None,
) -> list[str]:
    """Cut a live source into HLS segments by stream copy, as an EVENT playlist.

    With `source_list` (a file holding `source_list_text(source_url)`), ffmpeg reads the
    source through that list, so secrets in the URL never reach its command line.

    `temp_file` makes ffmpeg write a segment under a temporary name and rename it when it
    is complete: a `seg_NNNNN.ts` file in `out_dir` is safe to upload. `realtime` reads a
    file source at its own pace (`-re`), for tests and replays of recorded feeds.
    """
    input_options = source_options(source_url, rw_timeout=rw_timeout)
    source = source_url
    if source_list is not None:
        source = str(source_list)
        input_options = {
            "f": "concat",
            "safe": 0,
            "protocol_whitelist": "file,srt,udp,rtmp,tcp,http,https,tls,crypto",
        }
    if realtime:
        input_options["re"] = None
    stream = ffmpeg.input(source, **input_options).output(
        str(out_dir / playlist_name),
        c="copy",
        f="hls",
        hls_time=segment_seconds,
        hls_list_size=0,
        hls_playlist_type="event",
        hls_flags="temp_file+append_list+program_date_time",
        hls_segment_filename=str(out_dir / segment_pattern),
        start_number=start_number,
    )
    return stream.global_args(*_QUIET, "-progress", progress).compile(
        cmd=_binary(binary), overwrite_output=True
    )


def mp4_from_playlist_cmd(playlist: Path, out_mp4: Path, *, binary: str | None = None) -> list[str]:
    """Remux a closed HLS playlist into one MP4 by stream copy, moov atom at the front."""
    stream = ffmpeg.input(str(playlist)).output(
        str(out_mp4),
        c="copy",
        f="mp4",
        movflags="+faststart",
        **{"bsf:a": "aac_adtstoasc"},
    )
    return stream.global_args(*_QUIET).compile(cmd=_binary(binary), overwrite_output=True)


def ffconcat_text(runs: Sequence[Sequence[str]]) -> str:
    """An ffconcat list with one entry per recorder run, each run's segments joined bytewise.

    Segments of one run are one continuous MPEG-TS (the `concat:` protocol joins them
    exactly); between runs the concat demuxer restarts the timestamps, which a playlist
    discontinuity cannot do for the MP4 muxer. Give absolute paths: a `concat:` URL is
    not resolved against the list's directory.
    """
    lines = ["ffconcat version 1.0"]
    for run in runs:
        joined = "|".join(run).replace("'", "'\\''")
        lines.append(f"file 'concat:{joined}'")
    return "\n".join(lines) + "\n"


def mp4_from_concat_cmd(
    concat_list: Path, out_mp4: Path, *, binary: str | None = None
) -> list[str]:
    """Remux the runs listed by `ffconcat_text` into one MP4 by stream copy, with faststart."""
    stream = ffmpeg.input(
        str(concat_list), f="concat", safe=0, protocol_whitelist="file,concat,crypto,data"
    ).output(
        str(out_mp4),
        c="copy",
        f="mp4",
        movflags="+faststart",
        **{"bsf:a": "aac_adtstoasc"},
    )
    return stream.global_args(*_QUIET).compile(cmd=_binary(binary), overwrite_output=True)


def low_rendition_cmd(
    src: Path,
    out_dir: Path,
    *,
    height: int = 360,
    segment_seconds: int = 4,
    with_audio: bool = True,
    binary: str | None = None,
) -> list[str]:
    """A low-bandwidth HLS VOD rendition: about 360p H.264 capped so that every segment,
    not only the average, stays under 400 kbit/s of video and audio (see LOW_VIDEO_*)."""
    source = ffmpeg.input(str(src))
    streams = [source.video.filter("scale", -2, height)]
    audio: dict[str, Any] = {}
    if with_audio:
        streams.append(source.audio)
        audio = {"c:a": "aac", "b:a": LOW_AUDIO_BITRATE, "ac": 1}
    stream = ffmpeg.output(
        *streams,
        str(out_dir / PLAYLIST_NAME),
        **{
            "c:v": "libx264",
            "preset": "veryfast",
            "profile:v": "main",
            "pix_fmt": "yuv420p",
            "b:v": LOW_VIDEO_BITRATE,
            "maxrate": LOW_VIDEO_MAXRATE,
            "bufsize": LOW_VIDEO_BUFSIZE,
            "g": 50,
            "keyint_min": 50,
            "sc_threshold": 0,
            **audio,
        },
        **_vod_hls(out_dir, segment_seconds),
    )
    return stream.global_args(*_QUIET).compile(cmd=_binary(binary), overwrite_output=True)


def audio_only_cmd(
    src: Path,
    out_dir: Path,
    *,
    bitrate: str = "48k",
    segment_seconds: int = 4,
    binary: str | None = None,
) -> list[str]:
    """An audio-only HLS VOD rendition (AAC, mono) for the weakest connections."""
    source = ffmpeg.input(str(src))
    stream = ffmpeg.output(
        source.audio,
        str(out_dir / PLAYLIST_NAME),
        **{"c:a": "aac", "b:a": bitrate, "ac": 1},
        **_vod_hls(out_dir, segment_seconds),
    )
    return stream.global_args(*_QUIET).compile(cmd=_binary(binary), overwrite_output=True)


def poster_cmd(
    src: Path, out_jpg: Path, at_seconds: float, *, width: int = 640, binary: str | None = None
) -> list[str]:
    """One frame taken `at_seconds` into the input, scaled to `width` pixels wide, as JPEG."""
    source = ffmpeg.input(str(src), ss=f"{at_seconds:.3f}")
    stream = source.video.filter("scale", width, -2).output(
        str(out_jpg), f="image2", update=1, **{"frames:v": 1, "q:v": 3}
    )
    return stream.global_args(*_QUIET).compile(cmd=_binary(binary), overwrite_output=True)


def test_source_cmd(
    url: str,
    seconds: float,
    fmt: str,
    *,
    size: str = "1280x720",
    realtime: bool = True,
    binary: str | None = None,
) -> list[str]:
    """A synthetic class: test pattern and a sine tone, H.264 with 2 s GOPs and AAC.

    `fmt` is the output format (`mpegts` for SRT/UDP/files, `flv` for RTMP). With
    `realtime` the source is paced like a camera (`-re`); without it a file is written as
    fast as x264 allows.
    """
    pace: dict[str, Any] = {"re": None} if realtime else {}
    video = ffmpeg.input(f"testsrc2=size={size}:rate=25", f="lavfi", **pace)
    audio = ffmpeg.input("sine=frequency=440:sample_rate=48000", f="lavfi", **pace)
    stream = ffmpeg.output(
        video,
        audio,
        url,
        t=f"{seconds:g}",
        f=fmt,
        **{
            "c:v": "libx264",
            "preset": "veryfast",
            "pix_fmt": "yuv420p",
            "g": 50,
            "keyint_min": 50,
            "sc_threshold": 0,
            "c:a": "aac",
            "b:a": "96k",
        },
    )
    return stream.global_args(*_QUIET).compile(cmd=_binary(binary), overwrite_output=True)


test_source_cmd.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
