"""The fault tests reuse the media tests' inline provider (tests/media is imported by name)."""

from __future__ import annotations

import sys
from pathlib import Path

MEDIA_TESTS = str(Path(__file__).resolve().parents[1] / "media")
if MEDIA_TESTS not in sys.path:
    sys.path.insert(0, MEDIA_TESTS)
