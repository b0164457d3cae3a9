"""The search boxes of the pages: a column that holds a typed text, in any case.

PostgreSQL is asked with ``ILIKE``; SQLite's ``LIKE`` ignores the case of ASCII letters
already (and has no ``ILIKE``). ``%`` and ``_`` typed by a person are taken out rather than
read as wildcards."""

from __future__ import annotations

from typing import Any

from hub import db


def pattern(text: str) -> str:
    return "%" + text.replace("%", "").replace("_", "").strip() + "%"


def contains(column: Any, text: str) -> Any:
    """The WHERE part: ``column`` holds ``text``."""
    if db.is_sqlite():
        return column.like(pattern(text))
    return column.ilike(pattern(text))
