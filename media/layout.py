"""Where a session's recording lives in storage: one key layout for every store."""

from __future__ import annotations

from dataclasses import dataclass

from hub.storage import check_key


@dataclass(frozen=True)
class ArchiveKeys:
    """Storage keys of one session's recording under `prefix` (e.g. `sessions/42`)."""

    prefix: str

    def __post_init__(self) -> None:
        check_key(self.prefix)

    @property
    def hls_dir(self) -> str:
        return f"{self.prefix}/hls"

    @property
    def playlist(self) -> str:
        """The main HLS playlist: EVENT while recording, VOD once finalized."""
        return f"{self.hls_dir}/index.m3u8"

    def segment(self, name: str) -> str:
        return f"{self.hls_dir}/{name}"

    @property
    def mp4(self) -> str:
        return f"{self.prefix}/replay.mp4"

    @property
    def low_dir(self) -> str:
        return f"{self.prefix}/low"

    @property
    def low_mp4(self) -> str:
        """The low rendition as one MP4, for download (offline lesson packs, poor links)."""
        return f"{self.prefix}/replay-low.mp4"

    @property
    def audio_dir(self) -> str:
        return f"{self.prefix}/audio"

    @property
    def audio_m4a(self) -> str:
        """The audio-only rendition as one file, for centers on the weakest links."""
        return f"{self.prefix}/replay-audio.m4a"

    @property
    def poster(self) -> str:
        return f"{self.prefix}/poster.jpg"

    @property
    def manifest(self) -> str:
        """JSON written by finalize: artefacts, sizes, durations."""
        return f"{self.prefix}/recording.json"
