"""HLS media playlists (m3u8 text): parse, close, rebuild after a crash, join with a discontinuity.

Pure functions on strings; nothing here touches files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

ENDLIST = "#EXT-X-ENDLIST"
DISCONTINUITY = "#EXT-X-DISCONTINUITY"
RESUMED = "#SHAREHUB-RESUMED"
"""A comment (players skip it) before the first segment of a run that started after the
previous one was cut off (a recorder killed, a take-over): where the replay lost time."""
_TYPE = "#EXT-X-PLAYLIST-TYPE:"
_HEADER_TAGS = ("#EXT-X-VERSION:", "#EXT-X-TARGETDURATION:", "#EXT-X-MEDIA-SEQUENCE:", _TYPE)


@dataclass(frozen=True)
class Segment:
    """One media segment: its URI, duration in seconds and the tags that precede it."""

    uri: str
    duration: float
    discontinuity: bool = False
    program_date_time: str | None = None
    tags: tuple[str, ...] = ()
    """Other tags that belong to this segment (#EXT-X-KEY, #EXT-X-BYTERANGE, ...)."""


@dataclass
class MediaPlaylist:
    """A parsed media playlist."""

    segments: list[Segment] = field(default_factory=list)
    target_duration: int = 0
    media_sequence: int = 0
    playlist_type: str | None = None
    """EVENT, VOD or None (a sliding live window)."""
    ended: bool = False
    version: int = 3
    header_tags: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return sum(segment.duration for segment in self.segments)


def parse_playlist(text: str) -> MediaPlaylist:
    """Parse a media playlist; tolerant of a missing #EXT-X-ENDLIST and blank lines."""
    playlist = MediaPlaylist()
    duration: float | None = None
    discontinuity = False
    date_time: str | None = None
    tags: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line == "#EXTM3U":
            continue
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line == DISCONTINUITY:
            discontinuity = True
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            date_time = line.split(":", 1)[1]
        elif line == ENDLIST:
            playlist.ended = True
        elif line.startswith("#EXT-X-VERSION:"):
            playlist.version = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            playlist.target_duration = int(float(line.split(":", 1)[1]))
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            playlist.media_sequence = int(line.split(":", 1)[1])
        elif line.startswith(_TYPE):
            playlist.playlist_type = line[len(_TYPE) :].upper()
        elif line.startswith("#"):
            if duration is None and not playlist.segments and not tags and _is_header(line):
                playlist.header_tags.append(line)
            else:
                tags.append(line)
        else:
            playlist.segments.append(
                Segment(line, duration or 0.0, discontinuity, date_time, tuple(tags))
            )
            duration, discontinuity, date_time, tags = None, False, None, []
    return playlist


def _is_header(line: str) -> bool:
    return line.split(":", 1)[0] in (
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-START",
        "#EXT-X-ALLOW-CACHE",
    )


def parse_segments(text: str) -> list[Segment]:
    """The segments of a media playlist, in order."""
    return parse_playlist(text).segments


def total_duration(text: str) -> float:
    """Sum of the segment durations of a media playlist, in seconds."""
    return parse_playlist(text).duration


def target_duration_for(segments: Iterable[Segment], minimum: int = 1) -> int:
    """The smallest #EXT-X-TARGETDURATION valid for these segments (RFC 8216: rounded EXTINF)."""
    return max([minimum, *(math.floor(s.duration + 0.5) for s in segments)])


def render_playlist(playlist: MediaPlaylist) -> str:
    """Write a media playlist back to m3u8 text."""
    target = max(playlist.target_duration, target_duration_for(playlist.segments))
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{playlist.version}",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{playlist.media_sequence}",
    ]
    if playlist.playlist_type:
        lines.append(f"{_TYPE}{playlist.playlist_type}")
    lines.extend(playlist.header_tags)
    for index, segment in enumerate(playlist.segments):
        # A discontinuity before the very first segment means nothing: drop it.
        if segment.discontinuity and index > 0:
            lines.append(DISCONTINUITY)
        lines.extend(segment.tags)
        lines.append(f"#EXTINF:{segment.duration:.6f},")
        if segment.program_date_time:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{segment.program_date_time}")
        lines.append(segment.uri)
    if playlist.ended:
        lines.append(ENDLIST)
    return "\n".join(lines) + "\n"


def close_playlist(text: str, *, vod: bool = False) -> str:
    """Append #EXT-X-ENDLIST when missing; with `vod`, also mark the playlist type VOD.

    Other lines are kept as they are, so closing an already closed playlist changes nothing.
    """
    lines = [line.rstrip("\r") for line in text.rstrip("\n").split("\n")]
    if vod:
        typed = [i for i, line in enumerate(lines) if line.startswith(_TYPE)]
        if typed:
            lines[typed[0]] = f"{_TYPE}VOD"
        else:
            header_end = max(
                (i for i, line in enumerate(lines) if line.startswith(_HEADER_TAGS)), default=0
            )
            lines.insert(header_end + 1, f"{_TYPE}VOD")
    if ENDLIST not in (line.strip() for line in lines):
        lines.append(ENDLIST)
    return "\n".join(lines) + "\n"


def rebuild_playlist(
    segments: Sequence[tuple[str, float]] | Sequence[Segment],
    target_duration: int | None = None,
    *,
    ended: bool = True,
    playlist_type: str | None = "VOD",
    media_sequence: int = 0,
) -> str:
    """A playlist from segment files and their durations, for recovery after a crash.

    `segments` are (uri, seconds) pairs or Segment values (which keep discontinuities).
    """
    items = [s if isinstance(s, Segment) else Segment(s[0], float(s[1])) for s in segments]
    playlist = MediaPlaylist(
        segments=items,
        target_duration=target_duration or target_duration_for(items),
        media_sequence=media_sequence,
        playlist_type=playlist_type,
        ended=ended,
    )
    return render_playlist(playlist)


def merge_with_discontinuity(a: str, b: str) -> str:
    """One playlist of `a` then `b`, with #EXT-X-DISCONTINUITY where `b` starts.

    Used when a stream stops and restarts (or a recorder is restarted): the player resets
    its timestamps at the boundary. The result is ended only when `b` is.
    """
    first, second = parse_playlist(a), parse_playlist(b)
    if not first.segments:
        return render_playlist(second)
    joined = list(first.segments)
    for index, segment in enumerate(second.segments):
        joined.append(replace(segment, discontinuity=True) if index == 0 else segment)
    merged = MediaPlaylist(
        segments=joined,
        target_duration=max(first.target_duration, second.target_duration),
        media_sequence=first.media_sequence,
        playlist_type=second.playlist_type or first.playlist_type,
        ended=second.ended,
        version=max(first.version, second.version),
        header_tags=first.header_tags,
    )
    return render_playlist(merged)


def _wall_clock(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def lost_seconds(segments: Sequence[Segment]) -> float:
    """Wall-clock seconds missing at the discontinuities of a recording.

    ffmpeg stamps each segment with #EXT-X-PROGRAM-DATE-TIME (when it started); at each
    discontinuity marked RESUMED (a recorder killed, a take-over; not a stream the teacher
    stopped and started again) the gap between where the previous run ended (its last
    stamped segment plus the durations after it) and the next run's first stamp is time
    nobody recorded. Boundaries without stamps on both sides count nothing.
    """
    lost = 0.0
    end: float | None = None
    for segment in segments:
        stamp = _wall_clock(segment.program_date_time)
        resumed = segment.discontinuity and RESUMED in segment.tags
        if resumed and end is not None and stamp is not None:
            lost += max(0.0, stamp - end)
        if stamp is not None:
            end = stamp + segment.duration
        elif end is not None:
            end += segment.duration
    return round(lost, 3)
