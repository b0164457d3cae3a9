"""The local spool: segments wait on disk while the store is down, then go up in order."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from media_support import free_port, make_s3

from hub.storage import LocalStorage
from media.spool import Spool


def down_store() -> object:
    """A real S3Storage pointed at a port nobody listens on."""
    return make_s3(f"http://127.0.0.1:{free_port()}", max_attempts=1, connect_timeout=1)


@pytest.mark.asyncio
async def test_drain_uploads_in_order_and_empties_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for number in range(3):
        segment = tmp_path / f"seg_{number:05d}.ts"
        segment.write_bytes(bytes([number]) * 1000)
        assert await spool.add_file(f"sessions/1/hls/{segment.name}", segment)
    assert await spool.add_bytes("sessions/1/hls/index.m3u8", b"#EXTM3U\n")
    assert spool.bytes_used() == 3008
    store = LocalStorage(tmp_path / "store")

    result = await spool.drain(store)

    assert result.uploaded == [
        "sessions/1/hls/seg_00000.ts",
        "sessions/1/hls/seg_00001.ts",
        "sessions/1/hls/seg_00002.ts",
        "sessions/1/hls/index.m3u8",
    ]
    assert result.remaining == 0 and not result.unavailable
    assert await store.get_bytes("sessions/1/hls/seg_00002.ts") == b"\x02" * 1000
    assert len(spool) == 0 and spool.bytes_used() == 0
    assert not list((tmp_path / "spool" / "objects").rglob("*.ts"))


@pytest.mark.asyncio
async def test_drain_stops_while_the_store_is_down_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    segment = tmp_path / "seg_00000.ts"
    segment.write_bytes(b"x" * 500)
    spool = Spool(tmp_path / "spool")
    await spool.add_file("sessions/1/hls/seg_00000.ts", segment)
    await spool.add_bytes("sessions/1/hls/index.m3u8", b"one")
    await spool.add_bytes("sessions/1/hls/index.m3u8", b"two")  # replaces, stays last

    result = await spool.drain(down_store())  # type: ignore[arg-type]
    assert result.unavailable and result.uploaded == [] and result.remaining == 2

    again = Spool(tmp_path / "spool")  # a new process finds what was waiting
    assert again.pending == ["sessions/1/hls/seg_00000.ts", "sessions/1/hls/index.m3u8"]
    store = LocalStorage(tmp_path / "store")
    assert len((await again.drain(store)).uploaded) == 2
    assert await store.get_bytes("sessions/1/hls/index.m3u8") == b"two"


@pytest.mark.asyncio
async def test_a_full_spool_refuses_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1500)
    segment = tmp_path / "seg.ts"
    segment.write_bytes(b"x" * 1000)
    assert await spool.add_file("sessions/1/hls/seg_00000.ts", segment)
    with caplog.at_level(logging.WARNING, logger="sharehub.media"):
        assert not await spool.add_file("sessions/1/hls/seg_00001.ts", segment)
    assert "is full" in caplog.text and "seg_00001.ts" in caplog.text
    assert spool.pending == ["sessions/1/hls/seg_00000.ts"]
    # replacing a waiting object counts only the difference
    assert await spool.add_bytes("sessions/1/hls/seg_00000.ts", b"y" * 1400)
