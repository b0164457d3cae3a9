"""HLS playlist helpers: pure functions on m3u8 text."""

from __future__ import annotations

import pytest

from media.playlist import (
    ENDLIST,
    RESUMED,
    Segment,
    close_playlist,
    lost_seconds,
    merge_with_discontinuity,
    parse_playlist,
    parse_segments,
    rebuild_playlist,
    total_duration,
)
from media.workdir import segment_number

# What ffmpeg's HLS muxer leaves behind when the recorder is killed: EVENT, no ENDLIST.
KILLED_EVENT = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-DISCONTINUITY
#EXTINF:4.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-23T09:02:10.543+0000
seg_00000.ts
#EXTINF:4.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-23T09:02:14.543+0000
seg_00001.ts
#EXTINF:3.960000,
seg_00002.ts
"""

RESTARTED = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-PLAYLIST-TYPE:EVENT
#EXTINF:4.000000,
seg_00004.ts
#EXTINF:1.5,
seg_00005.ts
#EXT-X-ENDLIST
"""


def test_parse_segments_reads_durations_uris_and_tags() -> None:
    segments = parse_segments(KILLED_EVENT)
    assert [s.uri for s in segments] == ["seg_00000.ts", "seg_00001.ts", "seg_00002.ts"]
    assert [s.duration for s in segments] == [4.0, 4.0, 3.96]
    assert segments[0].discontinuity and not segments[1].discontinuity
    assert segments[1].program_date_time == "2026-11-23T09:02:14.543+0000"
    playlist = parse_playlist(KILLED_EVENT)
    assert playlist.playlist_type == "EVENT" and not playlist.ended
    assert playlist.target_duration == 4
    assert parse_playlist(RESTARTED).media_sequence == 4 and parse_playlist(RESTARTED).ended


def test_total_duration() -> None:
    assert total_duration(KILLED_EVENT) == pytest.approx(11.96)
    assert total_duration("#EXTM3U\n") == 0


def test_close_playlist_appends_endlist_once_and_marks_vod() -> None:
    closed = close_playlist(KILLED_EVENT)
    assert closed.rstrip().endswith(ENDLIST)
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in closed
    assert close_playlist(closed) == closed
    vod = close_playlist(KILLED_EVENT, vod=True)
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in vod and "EVENT" not in vod
    assert vod.count(ENDLIST) == 1
    assert parse_segments(vod) == parse_segments(KILLED_EVENT)


def test_close_playlist_adds_a_type_after_the_header_when_none() -> None:
    bare = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\na.ts\n"
    vod = close_playlist(bare, vod=True)
    lines = vod.splitlines()
    assert lines[2] == "#EXT-X-PLAYLIST-TYPE:VOD"
    assert lines[-1] == ENDLIST
    assert parse_playlist(vod).playlist_type == "VOD"


def test_rebuild_playlist_from_files_and_durations() -> None:
    text = rebuild_playlist([("seg_00000.ts", 4.0), ("seg_00001.ts", 4.4), ("seg_00002.ts", 0.8)])
    playlist = parse_playlist(text)
    assert playlist.ended and playlist.playlist_type == "VOD"
    assert playlist.target_duration == 4  # 4.4 rounds to 4
    assert [s.uri for s in playlist.segments] == ["seg_00000.ts", "seg_00001.ts", "seg_00002.ts"]
    assert playlist.duration == pytest.approx(9.2)
    longer = rebuild_playlist([("a.ts", 6.6)], ended=False, playlist_type="EVENT")
    assert "#EXT-X-TARGETDURATION:7" in longer and ENDLIST not in longer


def test_rebuild_keeps_discontinuities_but_not_before_the_first_segment() -> None:
    text = rebuild_playlist(
        [Segment("a.ts", 4, discontinuity=True), Segment("b.ts", 4), Segment("c.ts", 2, True)]
    )
    assert text.count("#EXT-X-DISCONTINUITY") == 1
    lines = text.splitlines()
    assert lines[lines.index("#EXT-X-DISCONTINUITY") + 2] == "c.ts"


def test_merge_with_discontinuity_joins_a_stopped_and_restarted_stream() -> None:
    merged = merge_with_discontinuity(KILLED_EVENT, RESTARTED)
    segments = parse_segments(merged)
    assert [s.uri for s in segments] == [
        "seg_00000.ts",
        "seg_00001.ts",
        "seg_00002.ts",
        "seg_00004.ts",
        "seg_00005.ts",
    ]
    assert [s.discontinuity for s in segments] == [False, False, False, True, False]
    assert total_duration(merged) == pytest.approx(11.96 + 5.5)
    playlist = parse_playlist(merged)
    assert playlist.media_sequence == 0
    assert playlist.ended  # the second part had ENDLIST
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-11-23T09:02:10.543+0000" in merged
    # joining onto nothing is just the second playlist
    assert parse_segments(merge_with_discontinuity("#EXTM3U\n", RESTARTED))[0].uri == (
        "seg_00004.ts"
    )


def test_unknown_segment_tags_survive_a_round_trip() -> None:
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="k.bin"\n#EXTINF:4.0,\na.ts\n'
    )
    playlist = parse_playlist(text)
    assert playlist.header_tags == ["#EXT-X-INDEPENDENT-SEGMENTS"]
    assert playlist.segments[0].tags == ('#EXT-X-KEY:METHOD=AES-128,URI="k.bin"',)
    again = rebuild_playlist(playlist.segments)
    assert '#EXT-X-KEY:METHOD=AES-128,URI="k.bin"' in again


def test_lost_seconds_counts_only_resumed_gaps() -> None:
    text = "\n".join(
        [
            "#EXTM3U",
            "#EXT-X-TARGETDURATION:4",
            "#EXTINF:4.0,",
            "#EXT-X-PROGRAM-DATE-TIME:2026-12-03T10:00:00.000+0000",
            "seg_00000.ts",
            "#EXTINF:4.0,",
            "seg_00001.ts",
            "#EXT-X-DISCONTINUITY",
            RESUMED,
            "#EXTINF:4.0,",
            "#EXT-X-PROGRAM-DATE-TIME:2026-12-03T10:00:20.500+0000",
            "seg_00002_ab12.ts",
            "#EXT-X-DISCONTINUITY",
            "#EXTINF:4.0,",
            "#EXT-X-PROGRAM-DATE-TIME:2026-12-03T10:10:00.000+0000",
            "seg_00003_ab12.ts",
        ]
    )
    segments = parse_playlist(text).segments
    assert RESUMED in segments[2].tags
    # 8 s recorded from 10:00:00, resumed at 10:00:20.5: 12.5 s lost; the teacher's own
    # pause before seg 3 (no RESUMED mark) is not a loss
    assert lost_seconds(segments) == 12.5
    again = parse_playlist(rebuild_playlist(segments, ended=True)).segments
    assert lost_seconds(again) == 12.5, "the mark survives a rebuilt playlist"
    assert segment_number("seg_00002_ab12.ts") == 2 and segment_number("seg_2_x.mp4") is None
