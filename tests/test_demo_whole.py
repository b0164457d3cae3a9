"""``sharehub demo`` fills the programme in one transaction: a run cut short leaves nothing,
so the next run starts over instead of taking half a programme for the whole."""

from __future__ import annotations

import pytest

from hub import accounts, demo
from hub.tables import LiveSession, ShareCenter, User
from plugins.self_hosted.provider import NAME as PROVIDER

pytestmark = pytest.mark.in_process("interrupts the demo inside the test process")


async def test_a_demo_cut_short_leaves_nothing_and_the_next_run_fills(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = accounts.create_user

    async def fails_late(username: str, *args: object, **kw: object) -> int:
        if username == "center3":  # late: the users come after every session and booking
            raise RuntimeError("power cut")
        return await real(username, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts, "create_user", fails_late)
    with pytest.raises(RuntimeError, match="power cut"):
        await demo.run_demo(provider=PROVIDER)
    assert await User.count().run() == 0
    assert await ShareCenter.count().run() == 0 and await LiveSession.count().run() == 0
    monkeypatch.setattr(accounts, "create_user", real)
    filled = await demo.run_demo(provider=PROVIDER)
    assert filled.created and filled.centers >= 56 and filled.sessions >= 300
    assert not (await demo.run_demo(provider=PROVIDER)).created
    # every demo booking was made before its check-in, and none in the future
    from datetime import UTC, datetime

    from hub.tables import Booking

    rows = await Booking.select(Booking.created_at, Booking.checked_in_at).run()
    now = datetime.now(UTC)
    assert all(r["created_at"] <= now for r in rows)
    checked = [r for r in rows if r["checked_in_at"] is not None]
    assert checked and all(r["created_at"] < r["checked_in_at"] for r in checked)
