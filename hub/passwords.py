"""What a new password must be: at least ``MIN_LENGTH`` characters, not one of the common
passwords shipped with the hub (``common_passwords.txt``, no network), and not containing the
username. Checked wherever a password is set: the API, the pages, the command line."""

from __future__ import annotations

import functools
import re
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 256
LIST = Path(__file__).resolve().parent / "common_passwords.txt"
_TAIL = re.compile(r"[\W\d_]+$")

TOO_SHORT = f"a password has at least {MIN_LENGTH} characters"
TOO_COMMON = "this password is one of the most common ones; choose another"
HAS_USERNAME = "a password may not contain the username"


@functools.cache
def common() -> frozenset[str]:
    lines = LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))


def problem(password: str, username: str = "") -> str | None:
    """Why ``password`` may not be set for ``username`` (None: it may)."""
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    lowered = password.lower()
    if lowered in common() or _TAIL.sub("", lowered) in common():
        return TOO_COMMON
    name = username.strip().lower()
    if len(name) >= 3 and name in lowered:
        return HAS_USERNAME
    return None
