"""Recording with real ffmpeg into a real S3 server, then finalizing the replay."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
from media_support import download, free_udp_port

from hub.storage import LocalStorage, S3Storage
from media.ffmpeg_bin import decode_ok, find_ffmpeg, probe
from media.finalize import finalize
from media.playlist import ENDLIST, parse_playlist, total_duration
from media.recorder import Recorder, RecorderBusy

PREFIX = "sessions/101"


def video_frame_hashes(path: Path) -> list[str]:
    """The MD5 of each decoded video frame, in order, as the file holds them (no frame
    dropped or duplicated to fit a constant rate)."""
    command = [find_ffmpeg(), "-v", "error", "-i", str(path), "-map", "0:v"]
    command += ["-fps_mode", "passthrough", "-f", "framemd5", "-"]
    out = subprocess.run(command, check=True, capture_output=True, timeout=120).stdout
    return [line.rsplit(",", 1)[1].strip() for line in out.decode().splitlines() if "," in line]


async def wait_for_segment(storage: S3Storage, recorder: Recorder) -> list[str]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stored = await storage.list(f"{PREFIX}/hls/")
        keys = [k for k in stored if k.endswith(".ts")]
        if keys and f"{PREFIX}/hls/index.m3u8" in stored:  # the playlist goes up just after
            return keys
        await asyncio.sleep(0.2)
    raise AssertionError(f"no segment reached storage; ffmpeg said {recorder.stderr_tail}")


@pytest.mark.asyncio
async def test_record_then_finalize(source_ts: Path, s3_storage: S3Storage, tmp_path: Path) -> None:
    work = tmp_path / "work"
    recorder = Recorder(str(source_ts), work, s3_storage, PREFIX, segment_seconds=2, realtime=True)
    await recorder.start()
    early = await wait_for_segment(s3_storage, recorder)
    assert recorder.running, "the archive must grow while the class is still on"
    playlist_live = (await s3_storage.get_bytes(f"{PREFIX}/hls/index.m3u8")).decode()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in playlist_live and ENDLIST not in playlist_live
    assert early

    summary = await recorder.wait()
    assert summary.returncode == 0, summary.stderr_tail
    assert summary.spooled == 0
    assert summary.duration == pytest.approx(12.0, abs=2.1)
    assert recorder.progress.get("progress") == "end"

    result = await finalize(PREFIX, work, s3_storage)
    assert set(result.artefacts) == {
        "playlist",
        "mp4",
        "low",
        "audio",
        "poster",
        "low_mp4",
        "audio_m4a",
    }
    assert result.duration == pytest.approx(12.0, abs=2.1)

    local = await download(s3_storage, PREFIX, tmp_path / "fetched")
    vod = (local / "hls" / "index.m3u8").read_text()
    assert vod.rstrip().endswith(ENDLIST)
    assert parse_playlist(vod).playlist_type == "VOD"
    assert await asyncio.to_thread(decode_ok, local / "hls" / "index.m3u8")

    mp4 = local / "replay.mp4"
    assert await asyncio.to_thread(decode_ok, mp4)
    info = await asyncio.to_thread(probe, mp4, decode=True)
    assert info.duration == pytest.approx(12.0, abs=2.0)  # within one segment
    assert mp4.read_bytes()[:4096].find(b"moov") != -1  # faststart: moov before mdat
    assert result.artefacts["mp4"].bytes == mp4.stat().st_size
    # issue 14.7: the MP4 keeps every video frame of the segments, the last ones too
    segments = await asyncio.to_thread(video_frame_hashes, local / "hls" / "index.m3u8")
    in_mp4 = await asyncio.to_thread(video_frame_hashes, mp4)
    assert len(segments) >= 250 and in_mp4 == segments, (len(segments), len(in_mp4))

    low_playlist = (local / "low" / "index.m3u8").read_text()
    low_bytes = sum(p.stat().st_size for p in (local / "low").glob("seg_*.ts"))
    low_bitrate = low_bytes * 8 / total_duration(low_playlist)
    assert low_bitrate < 400_000, f"low rendition at {low_bitrate:.0f} bit/s"
    for segment in parse_playlist(low_playlist).segments:  # the peak too, not only the mean
        if segment.duration >= 2:
            rate = (local / "low" / segment.uri).stat().st_size * 8 / segment.duration
            assert rate < 400_000, f"{segment.uri} at {rate:.0f} bit/s"
    low_info = await asyncio.to_thread(probe, local / "low" / "index.m3u8")
    assert low_info.height == 360 and low_info.has_audio

    low_mp4 = local / "replay-low.mp4"  # the low rendition as one MP4, for download
    low_mp4_info = await asyncio.to_thread(probe, low_mp4, decode=True)
    assert low_mp4_info.height == 360 and low_mp4_info.has_audio
    assert low_mp4_info.duration == pytest.approx(12.0, abs=2.0)
    assert low_mp4.read_bytes()[:4096].find(b"moov") != -1
    assert result.artefacts["low_mp4"].bytes == low_mp4.stat().st_size < mp4.stat().st_size

    audio_info = await asyncio.to_thread(probe, local / "audio" / "index.m3u8")
    assert audio_info.has_audio and not audio_info.has_video
    m4a = await asyncio.to_thread(probe, local / "replay-audio.m4a", decode=True)
    assert m4a.has_audio and not m4a.has_video and m4a.duration == pytest.approx(12.0, abs=2.0)

    poster = await asyncio.to_thread(probe, local / "poster.jpg")
    assert poster.width == 640 and (local / "poster.jpg").stat().st_size > 1000

    again = await finalize(PREFIX, work, s3_storage)
    assert set(again.skipped) == {
        "playlist",
        "mp4",
        "low",
        "audio",
        "poster",
        "low_mp4",
        "audio_m4a",
    }
    assert again.artefacts["mp4"] == result.artefacts["mp4"]
    # another worker, without the work directory, finds everything done too
    elsewhere = await finalize(PREFIX, tmp_path / "elsewhere", s3_storage)
    assert set(elsewhere.skipped) == set(again.skipped)
    assert elsewhere.artefacts == again.artefacts


@pytest.mark.asyncio
async def test_stop_is_graceful_on_local_storage(source_ts: Path, tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    recorder = Recorder(
        str(source_ts),
        tmp_path / "work",
        store,
        PREFIX,
        segment_seconds=2,
        realtime=True,
        stop_timeout=10,
    )
    await recorder.start()

    async def segment_stored() -> bool:
        return any(k.endswith(".ts") for k in await store.list(f"{PREFIX}/hls/"))

    deadline = time.monotonic() + 20
    while not await segment_stored():
        assert time.monotonic() < deadline, recorder.stderr_tail
        await asyncio.sleep(0.2)
    began = time.monotonic()
    summary = await recorder.stop()
    assert time.monotonic() - began < 4, "ffmpeg should stop on `q`, before SIGINT"
    assert summary.returncode == 0, summary.stderr_tail
    stored = [k for k in await store.list(f"{PREFIX}/hls/") if k.endswith(".ts")]
    on_disk = sorted(p.name for p in (tmp_path / "work").glob("seg_*.ts"))
    assert [k.rsplit("/", 1)[1] for k in stored] == on_disk
    assert summary.duration < 10

    result = await finalize(PREFIX, tmp_path / "work", store)
    assert store.url_for(result.artefacts["mp4"].key) == f"/media/{PREFIX}/replay.mp4"
    mp4 = store.path_for(result.artefacts["mp4"].key)
    assert await asyncio.to_thread(decode_ok, mp4)
    info = await asyncio.to_thread(probe, mp4)
    assert info.duration == pytest.approx(summary.duration, abs=2.1)


@pytest.mark.asyncio
async def test_stop_escalates_when_ffmpeg_ignores_q(tmp_path: Path) -> None:
    # ffmpeg blocked opening a silent UDP source never reads `q`; SIGINT ends it.
    silent = f"udp://127.0.0.1:{free_udp_port()}"
    store = LocalStorage(tmp_path / "store")
    recorder = Recorder(silent, tmp_path / "work", store, PREFIX, rw_timeout=60, stop_timeout=2)
    await recorder.start()
    second = Recorder(silent, tmp_path / "work", store, PREFIX)
    with pytest.raises(RecorderBusy):
        await second.start()
    await asyncio.sleep(0.5)
    began = time.monotonic()
    summary = await recorder.stop()
    assert time.monotonic() - began < 3
    assert summary.returncode is not None and summary.segments_shipped == 0
    assert not recorder.running


@pytest.mark.asyncio
async def test_a_long_recording_leaves_no_task_behind_each_poll(
    source_ts: Path, tmp_path: Path
) -> None:
    """Each poll of ffmpeg once made a new waiting task that outlived it: a class of hours
    grew the worker by thousands of tasks. Polling 50 times a second shows any such leak."""
    storage = LocalStorage(tmp_path / "store")
    recorder = Recorder(
        str(source_ts), tmp_path / "work", storage, PREFIX, segment_seconds=2, realtime=True
    )
    recorder.poll_interval = 0.02
    await recorder.start()
    await asyncio.sleep(2)
    early = len(asyncio.all_tasks())
    await asyncio.sleep(6)  # 300 more polls
    assert recorder.running
    assert len(asyncio.all_tasks()) <= early + 2
    assert (await recorder.wait()).returncode == 0
