"""A recorder's working directory: segments on disk, one playlist per ffmpeg run, state.

Each ffmpeg run writes `run_NNN.m3u8`; segments are numbered across runs
(`seg_00000.ts`, ...), so a recorder restarted after a crash continues the numbering and
the joined playlist has a discontinuity where each run starts. `recorder.json` remembers
the runs, which segments were shipped (uploaded or spooled) and the ffmpeg pid.

A recorder that takes a session over from another worker (whose work folder it does not
have) adopts what that worker stored: `adopted` holds the stored playlist's segments, its
own runs from `base_run` on follow them, and its segments carry a run tag
(`seg_00014_k3f9.ts`) so that no key another recorder wrote is ever written again.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from media.ffmpeg_bin import probe
from media.playlist import RESUMED, Segment, parse_segments

STATE_NAME = "recorder.json"
_SEGMENT = re.compile(r"^seg_(\d+)(?:_[0-9a-z]{1,12})?\.ts$")


def segment_number(name: str) -> int | None:
    """12 for `seg_00012.ts` (or a tagged `seg_00012_k3f9.ts`); None for any other name."""
    match = _SEGMENT.match(name)
    return int(match.group(1)) if match else None


def segment_pattern(tag: str = "") -> str:
    """ffmpeg's segment file name pattern for a run (tagged after a take-over)."""
    return f"seg_%05d_{tag}.ts" if tag else "seg_%05d.ts"


@dataclass(frozen=True)
class Run:
    """One ffmpeg run: its playlist file and the number of its first segment."""

    playlist: str
    start_number: int
    tag: str = ""
    """Set on a run that took a session over: its segment names carry it."""
    resumed: bool = False
    """The run started after the previous one was cut off (killed, taken over)."""


@dataclass
class RecorderState:
    runs: list[Run] = field(default_factory=list)
    shipped: dict[str, int] = field(default_factory=dict)
    """Segment file name -> size, for segments uploaded or handed to the spool."""
    ffmpeg_pid: int | None = None
    adopted: list[dict[str, object]] = field(default_factory=list)
    """Segments another recorder stored before this work folder took the session over
    (uri, duration, discontinuity, program_date_time), in the stored playlist's order."""
    base_run: int = 0
    """The first own run that follows `adopted` (earlier runs are in `adopted` already)."""

    def adopted_segments(self) -> list[Segment]:
        return [
            Segment(
                str(item["uri"]),
                float(item["duration"]),  # type: ignore[arg-type]
                bool(item.get("discontinuity")),
                item.get("program_date_time") or None,  # type: ignore[arg-type]
                tuple(item.get("tags") or ()),  # type: ignore[arg-type]
            )
            for item in self.adopted
        ]


class WorkDir:
    """The files of one session's recording on the worker's disk."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._durations: dict[str, float] = {}

    @property
    def state_path(self) -> Path:
        return self.path / STATE_NAME

    def load_state(self) -> RecorderState:
        if not self.state_path.exists():
            return RecorderState()
        raw = json.loads(self.state_path.read_text())
        return RecorderState(
            runs=[Run(**run) for run in raw.get("runs", [])],
            shipped={str(k): int(v) for k, v in raw.get("shipped", {}).items()},
            ffmpeg_pid=raw.get("ffmpeg_pid"),
            adopted=list(raw.get("adopted", [])),
            base_run=int(raw.get("base_run", 0)),
        )

    def save_state(self, state: RecorderState) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(asdict(state), indent=1))
        os.replace(temporary, self.state_path)

    def segment_files(self) -> list[Path]:
        """Complete segments (ffmpeg renamed them from their temporary name), by number."""
        if not self.path.is_dir():
            return []
        found = [(segment_number(p.name), p) for p in self.path.iterdir() if p.is_file()]
        return [p for n, p in sorted((n, p) for n, p in found if n is not None)]

    def clear_partial(self) -> list[Path]:
        """Delete what a killed ffmpeg left half-written (`*.tmp`); return what was removed."""
        removed = [p for p in self.path.glob("*.tmp") if p.is_file()]
        for path in removed:
            path.unlink()
        return removed

    def next_start_number(self, state: RecorderState) -> int:
        numbers = [segment_number(p.name) or 0 for p in self.segment_files()]
        numbers += [segment_number(name) or 0 for name in state.shipped]
        numbers += [run.start_number - 1 for run in state.runs]
        return max(numbers, default=-1) + 1

    def _duration(self, path: Path) -> float:
        if path.name not in self._durations:
            self._durations[path.name] = probe(path).duration or 0.0
        return self._durations[path.name]

    def segments(
        self, state: RecorderState, *, shipped_only: bool = False, current_run: int | None = None
    ) -> list[Segment]:
        """All segments of all runs in order, a discontinuity where each run starts.

        A finished run's complete segments that its playlist does not list (ffmpeg was
        killed between the rename and the playlist update) are added with a probed
        duration; `current_run` is still being written, so it is taken as listed. Blocking
        (it may run ffmpeg): call it in a thread from async code.
        """
        adopted = state.adopted_segments()
        adopted_names = {s.uri for s in adopted}
        on_disk = {p.name: p for p in self.segment_files() if p.name not in adopted_names}
        joined: list[Segment] = list(adopted)
        for index, run in enumerate(state.runs):
            if index < state.base_run:
                continue  # stored before a take-over: listed in `adopted`
            end = state.runs[index + 1].start_number if index + 1 < len(state.runs) else None
            playlist = self.path / run.playlist
            listed = parse_segments(playlist.read_text()) if playlist.exists() else []
            run_segments = [s for s in listed if s.uri in on_disk]
            if index != current_run:
                names = {s.uri for s in run_segments}
                for name, path in on_disk.items():
                    number = segment_number(name) or 0
                    if (
                        name not in names
                        and number >= run.start_number
                        and (end is None or number < end)
                    ):
                        run_segments.append(Segment(name, self._duration(path)))
                run_segments.sort(key=lambda s: segment_number(s.uri) or 0)
            if shipped_only:
                run_segments = [s for s in run_segments if s.uri in state.shipped]
            for position, segment in enumerate(run_segments):
                tags = segment.tags
                if position == 0 and run.resumed and RESUMED not in tags:
                    tags = (*tags, RESUMED)
                joined.append(replace(segment, discontinuity=position == 0, tags=tags))
        return joined
