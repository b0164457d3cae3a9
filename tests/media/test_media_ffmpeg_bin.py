"""Finding ffmpeg and probing media with ffmpeg alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from media.ffmpeg_bin import decode_ok, find_ffmpeg, parse_media_info, probe

BANNER = """Input #0, mpegts, from 'class.ts':
  Duration: 00:01:12.02, start: 1.458667, bitrate: 2628 kb/s
  Program 1
  Stream #0:0[0x100]: Video: h264 (High) ([27][0][0][0] / 0x001B), yuv420p(progressive), \
1280x720 [SAR 1:1 DAR 16:9], 25 fps, 25 tbr, 90k tbn, start 1.480000
  Stream #0:1[0x101]: Audio: aac (LC) ([15][0][0][0] / 0x000F), 48000 Hz, mono, fltp, 99 kb/s
At least one output file must be specified
"""


def test_find_ffmpeg_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHAREHUB_FFMPEG", "/opt/custom/ffmpeg")
    assert find_ffmpeg() == "/opt/custom/ffmpeg"
    monkeypatch.delenv("SHAREHUB_FFMPEG")
    monkeypatch.setenv("PATH", "/nonexistent")
    wheel = find_ffmpeg()
    assert "imageio_ffmpeg" in wheel and os.access(wheel, os.X_OK)


def test_parse_media_info_from_the_banner() -> None:
    info = parse_media_info(BANNER)
    assert info.duration == pytest.approx(72.02)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (1280, 720)
    assert info.bitrate == 2_628_000
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert not parse_media_info("nothing useful").has_video


def test_probe_and_decode_a_real_file(source_ts: Path, tmp_path: Path) -> None:
    info = probe(source_ts)
    assert info.duration == pytest.approx(12.0, abs=0.2)
    assert (info.width, info.height) == (1280, 720)
    assert info.has_audio and info.bitrate and info.bitrate > 100_000
    assert probe(source_ts, decode=True).duration == pytest.approx(12.0, abs=0.2)
    assert decode_ok(source_ts)
    truncated = tmp_path / "broken.mp4"
    truncated.write_bytes(b"\x00\x00\x00\x20ftypisom" + os.urandom(4000))
    assert not decode_ok(truncated)
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "missing.ts")
