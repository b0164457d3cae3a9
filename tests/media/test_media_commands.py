"""ffmpeg command builders: pure, checked without running ffmpeg."""

from __future__ import annotations

from pathlib import Path

from media.commands import (
    audio_only_cmd,
    ffconcat_text,
    low_rendition_cmd,
    mp4_from_concat_cmd,
    mp4_from_playlist_cmd,
    poster_cmd,
    record_hls_cmd,
    source_list_text,
    source_options,
    split_secrets,
)
from media.commands import test_source_cmd as make_test_source_cmd

FF = "/opt/ffmpeg"


def value(command: list[str], flag: str) -> str:
    """The argument after `flag` (the first occurrence)."""
    return command[command.index(flag) + 1]


def test_record_hls_copies_into_event_playlist_with_temp_files() -> None:
    command = record_hls_cmd(
        "srt://127.0.0.1:9000?mode=caller", Path("/w"), 4, start_number=17, binary=FF
    )
    assert command[0] == FF
    assert value(command, "-c") == "copy"
    assert value(command, "-f") == "hls"
    flags = value(command, "-hls_flags").split("+")
    assert {"temp_file", "append_list", "program_date_time"} <= set(flags)
    assert value(command, "-hls_playlist_type") == "event"
    assert value(command, "-hls_list_size") == "0"
    assert value(command, "-hls_time") == "4"
    assert value(command, "-start_number") == "17"
    assert value(command, "-hls_segment_filename") == "/w/seg_%05d.ts"
    assert value(command, "-progress") == "pipe:1"
    assert command[-1] == "-y"
    assert "-nostdin" not in command  # `q` on stdin is how the recorder stops it
    # the input options come before -i, and a dead SRT source times out
    assert command.index("-timeout") < command.index("-i")
    assert value(command, "-timeout") == "10000000"
    assert value(command, "-i") == "srt://127.0.0.1:9000?mode=caller"


def test_record_http_source_reconnects_and_file_source_can_be_paced() -> None:
    http = record_hls_cmd("https://cdn.example/live.m3u8", Path("/w"), binary=FF)
    assert value(http, "-reconnect") == "1"
    assert value(http, "-reconnect_streamed") == "1"
    assert "-rw_timeout" in http
    paced = record_hls_cmd("/data/class.ts", Path("/w"), realtime=True, binary=FF)
    assert paced.index("-re") < paced.index("-i")


def test_rtmp_source_never_gets_listen_timeout() -> None:
    options = source_options("rtmp://127.0.0.1/live/key", rw_timeout=3)
    assert options == {"rw_timeout": 3_000_000, "protocol_whitelist": "rtmp,tcp"}


def test_each_source_is_held_to_its_protocols_and_http_follows_no_redirect() -> None:
    http = record_hls_cmd("https://cdn.example/live.m3u8", Path("/w"), binary=FF)
    assert value(http, "-protocol_whitelist") == "https,tls,tcp,crypto"
    assert value(http, "-max_redirects") == "0"
    assert http.index("-protocol_whitelist") < http.index("-i")
    srt = record_hls_cmd("srt://0.0.0.0:9000?mode=listener", Path("/w"), binary=FF)
    assert value(srt, "-protocol_whitelist") == "srt,udp"
    local = record_hls_cmd("/data/class.ts", Path("/w"), binary=FF)
    assert value(local, "-protocol_whitelist") == "file"


def test_mp4_remux_is_stream_copy_with_faststart() -> None:
    command = mp4_from_playlist_cmd(Path("/w/vod.m3u8"), Path("/w/replay.mp4"), binary=FF)
    assert value(command, "-i") == "/w/vod.m3u8"
    assert value(command, "-c") == "copy"
    assert value(command, "-movflags") == "+faststart"
    assert value(command, "-bsf:a") == "aac_adtstoasc"
    assert value(command, "-f") == "mp4"
    assert "/w/replay.mp4" in command


def test_runs_are_joined_by_the_concat_demuxer() -> None:
    text = ffconcat_text([["seg_00000.ts", "seg_00001.ts"], ["seg_00005.ts"]])
    assert text.splitlines() == [
        "ffconcat version 1.0",
        "file 'concat:seg_00000.ts|seg_00001.ts'",
        "file 'concat:seg_00005.ts'",
    ]
    command = mp4_from_concat_cmd(Path("/w/runs.ffconcat"), Path("/w/replay.mp4"), binary=FF)
    assert command.index("-f") < command.index("-i") and value(command, "-f") == "concat"
    assert value(command, "-safe") == "0"
    assert "concat" in value(command, "-protocol_whitelist").split(",")
    assert value(command, "-c") == "copy" and value(command, "-movflags") == "+faststart"


def test_low_rendition_is_360p_capped_under_400k() -> None:
    command = low_rendition_cmd(Path("/w/replay.mp4"), Path("/w/low"), binary=FF)
    assert "scale=-2:360" in value(command, "-filter_complex")
    assert value(command, "-c:v") == "libx264"
    assert value(command, "-preset") == "veryfast"
    maxrate = int(value(command, "-maxrate").rstrip("k"))
    bufsize = int(value(command, "-bufsize").rstrip("k"))
    audio = int(value(command, "-b:a").rstrip("k"))
    # the peak of a 4 s segment (VBV: maxrate * 4 s + bufsize), with 5 % for MPEG-TS
    assert ((4 * maxrate + bufsize) / 4 + audio) * 1.05 < 400
    assert int(value(command, "-b:v").rstrip("k")) < maxrate
    assert value(command, "-ac") == "1"
    assert value(command, "-hls_playlist_type") == "vod"
    assert "/w/low/index.m3u8" in command
    silent = low_rendition_cmd(Path("/w/replay.mp4"), Path("/w/low"), with_audio=False, binary=FF)
    assert "0:a" not in silent and "-c:a" not in silent


def test_audio_only_has_no_video() -> None:
    command = audio_only_cmd(Path("/w/replay.mp4"), Path("/w/audio"), binary=FF)
    assert value(command, "-map") == "0:a"
    assert value(command, "-c:a") == "aac"
    assert 48 <= int(value(command, "-b:a").rstrip("k")) <= 64
    assert value(command, "-hls_playlist_type") == "vod"
    assert "-c:v" not in command


def test_poster_takes_one_frame_640_wide() -> None:
    command = poster_cmd(Path("/w/replay.mp4"), Path("/w/poster.jpg"), 12.5, binary=FF)
    assert command.index("-ss") < command.index("-i")
    assert value(command, "-ss") == "12.500"
    assert "scale=640:-2" in value(command, "-filter_complex")
    assert value(command, "-frames:v") == "1"
    assert value(command, "-update") == "1"
    assert "/w/poster.jpg" in command


def test_test_source_has_fixed_gop_and_realtime_pacing() -> None:
    command = make_test_source_cmd("srt://127.0.0.1:9000", 12, "mpegts", binary=FF)
    assert "testsrc2=size=1280x720:rate=25" in command
    assert any(arg.startswith("sine") for arg in command)
    assert command.count("-re") == 2  # both lavfi inputs are paced
    assert value(command, "-g") == "50"
    assert value(command, "-keyint_min") == "50"
    assert value(command, "-sc_threshold") == "0"
    assert value(command, "-c:v") == "libx264"
    assert value(command, "-c:a") == "aac"
    assert value(command, "-t") == "12"
    assert value(command, "-f") == "lavfi" and "mpegts" in command
    fast = make_test_source_cmd("/tmp/x.flv", 3, "flv", realtime=False, binary=FF)
    assert "-re" not in fast


def test_the_srt_passphrase_stays_off_the_command_line(tmp_path: Path) -> None:
    url = "srt://127.0.0.1:9000?mode=listener&passphrase=s3cret%27pass-0123&pbkeylen=16"
    plain, hidden = split_secrets(url)
    assert hidden == {"passphrase": "s3cret'pass-0123"} and "s3cret" not in plain
    assert "pbkeylen=16" in plain and "mode=listener" in plain
    text = source_list_text(url, rw_timeout=4)
    assert text is not None and "option passphrase 's3cret'\\''pass-0123'" in text
    listed = tmp_path / "source.ffconcat"
    command = record_hls_cmd(url, tmp_path, source_list=listed, binary=FF)
    assert not any("s3cret" in arg for arg in command)
    assert value(command, "-i") == str(listed) and value(command, "-f") == "concat"
    assert source_list_text("udp://127.0.0.1:9000?fifo_size=1000") is None
