"""``sharehub export``: attendance or view statistics to a CSV or XLSX file, with progress."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from hub import exports
from hub.exports import Dataset, Filters, Format
from hub.impact import Period
from hub.schedule import zone
from hub.settings import Settings


class ProgressBar:
    """``[#######.............]  35%  35000/100000 rows`` on one line of a terminal."""

    def __init__(self, total: int, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.out, self.width = total, out, width
        self.shown = -1.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.2 and done < self.total:
            return
        self.shown = now
        share = min(1.0, done / self.total) if self.total else 1.0
        filled = int(share * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.out.write(f"\r[{bar}] {share * 100:3.0f}%  {done}/{self.total} rows")
        self.out.flush()

    def finish(self, done: int) -> None:
        self.shown = -1.0
        self(done)
        self.out.write("\n")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def add_export_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export attendance or view statistics (CSV or XLSX)")
    p.add_argument("dataset", choices=[d.value for d in Dataset])
    p.add_argument(
        "--format",
        choices=[f.value for f in Format],
        default=None,
        help="default: from the output file's suffix, else csv",
    )
    p.add_argument("--from", dest="date_from", type=_day, help="first day (hub time zone)")
    p.add_argument("--to", dest="date_to", type=_day, help="last day, included")
    p.add_argument("--province")
    p.add_argument("--center-id", dest="center_id", type=int)
    p.add_argument("--teacher-id", dest="teacher_id", type=int)
    p.add_argument("--tz", help="IANA time zone of the days and times (default: the hub's)")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: a name in .)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_export)


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from hub.cli import with_db

    dataset = Dataset(args.dataset)
    suffix = args.output.suffix.lstrip(".") if args.output else ""
    fmt = Format(args.format or (suffix if suffix in {"csv", "xlsx"} else "csv"))
    if args.date_from and args.date_to and args.date_to < args.date_from:
        print("sharehub export: --to is before --from", file=sys.stderr)
        return 2
    try:
        tz = zone(args.tz or settings.timezone)
    except Exception as exc:
        print(f"sharehub export: {exc}", file=sys.stderr)
        return 2
    period = Period.of(args.date_from, args.date_to, tz)
    filters = Filters(period, args.province, args.center_id, args.teacher_id)
    output = args.output or Path(exports.filename(dataset, filters, fmt))

    async def work() -> int:
        total = await exports.count_rows(dataset, filters)
        bar = ProgressBar(total) if not args.quiet else None
        write = exports.write_xlsx if fmt is Format.xlsx else exports.write_csv
        done = await write(dataset, filters, output, bar)
        if bar:
            bar.finish(done)
        return done

    done = asyncio.run(with_db(settings, work))
    print(f"{done} rows -> {output}")
    return 0
