"""Cells for spreadsheets made from what users typed: text is always text.

A course title such as ``=1+2`` or ``=HYPERLINK(...)`` (teachers name their own courses) must
never become a live formula. XLSX: every ``str`` is written with ``write_string`` (and
workbooks are opened with formulas and URLs from strings off); numbers stay numbers, dates
and times become real date cells. CSV: a cell that begins with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return gets a leading ``'`` (OWASP's CSV-injection advice), so a
spreadsheet shows it as the text it is; numbers are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

WORKBOOK_OPTIONS: dict[str, Any] = {"strings_to_formulas": False, "strings_to_urls": False}
"""Options every ``xlsxwriter.Workbook`` of the hub is opened with (belt and braces)."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """``value`` for a CSV cell: text a spreadsheet would run as a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_safe_row(values: Sequence[Any]) -> list[Any]:
    return [csv_safe(v) for v in values]


def write_cells(
    sheet: Any,
    row: int,
    values: Sequence[Any],
    cell_format: Any = None,
    date_format: Any = None,
    datetime_format: Any = None,
) -> None:
    """One row from column 0: text with ``write_string``, numbers with ``write_number``,
    ``datetime``/``date`` as date cells in their formats; ``None`` leaves the cell empty."""
    for col, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, str):
            sheet.write_string(row, col, value, cell_format)
        elif isinstance(value, bool):
            sheet.write_boolean(row, col, value, cell_format)
        elif isinstance(value, int | float):
            sheet.write_number(row, col, value, cell_format)
        elif isinstance(value, datetime):
            sheet.write_datetime(row, col, value.replace(tzinfo=None), datetime_format)
        elif isinstance(value, date):
            midnight = datetime(value.year, value.month, value.day)
            sheet.write_datetime(row, col, midnight, date_format)
        else:
            sheet.write_string(row, col, str(value), cell_format)
