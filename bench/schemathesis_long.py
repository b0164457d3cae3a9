"""The long Schemathesis run: every operation of the hub's OpenAPI schema, as anonymous and as
each role, with many more generated requests (valid and invalid) than the test suite's
bounded run (tests/test_schemathesis.py), which is measured in the same run as the baseline.

Embedded default: a temporary SQLite file, the app in this process over httpx's ASGI
transport. Prints operations, requests, 500s, schema failures and undocumented status codes
(targets: 0 each), then one JSON line. Run: python bench/schemathesis_long.py
(SHAREHUB_BENCH_EXAMPLES, default 50, sets the examples per generation mode, role and
operation)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from hub import db  # noqa: E402
from hub.app import create_app  # noqa: E402
from tests.conftest import World, hub_settings, seed, truncate_all  # noqa: E402
from tests.test_schemathesis import (  # noqa: E402
    BASE_URL,
    EXAMPLES,
    OPERATIONS,
    Tally,
    programme,
    run_operation,
)

LONG_EXAMPLES = int(os.environ.get("SHAREHUB_BENCH_EXAMPLES", "50"))


async def one_run(folder: Path, url: str, examples: int) -> tuple[Tally, float]:
    await truncate_all()
    app = create_app(hub_settings(folder, url), manage_db=False)
    transport = httpx.ASGITransport(app=app)
    tally = Tally()
    started = time.perf_counter()
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        world = World(client=client)
        await seed(world)
        ids = await programme(world)
        for name in sorted(OPERATIONS):
            await run_operation(world, name, ids, examples, tally)
    return tally, time.perf_counter() - started


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sharehub-fuzz-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'hub.sqlite'}"
        engine = db.engine_for(url)
        db.bind(engine)
        await db.open_engine(engine)
        await db.migrate()
        try:
            short, short_s = await one_run(folder, url, EXAMPLES)
            print(
                f"bounded run (the test suite's, {EXAMPLES} examples): "
                f"{short.operations} operations, {short.requests} requests in {short_s:.1f} s, "
                f"500s: {short.server_errors}, schema failures: {short.schema_failures}, "
                f"undocumented status codes: {short.undocumented_status_codes}"
            )
            long, long_s = await one_run(folder, url, LONG_EXAMPLES)
        finally:
            await db.close_engine(engine)
    print(
        f"long run ({LONG_EXAMPLES} examples): {long.operations} operations, "
        f"{long.requests} requests in {long_s:.1f} s, 500s: {long.server_errors}, "
        f"schema failures: {long.schema_failures}, "
        f"undocumented status codes: {long.undocumented_status_codes}"
    )
    for failure in long.failures[:20]:
        print("  ", failure.splitlines()[0][:300])
    print(
        json.dumps(
            {
                "bench": "schemathesis_long",
                "value": long.requests,
                "unit": "requests",
                "baseline": short.requests,
                "ratio": round(long.requests / max(short.requests, 1), 2),
                "operations": long.operations,
                "server_errors": long.server_errors,
                "schema_failures": long.schema_failures,
                "undocumented_status_codes": long.undocumented_status_codes,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
