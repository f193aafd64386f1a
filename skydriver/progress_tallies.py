"""Pixels done and predicted, read from the Skymap Scanner's progress report (its tallies are text, not numbers)."""

from __future__ import annotations

import re
from typing import Any

# "est. scan percent": "done/predicted (fraction)", e.g. "412/1388 (0.2968)"
_SCAN_PERCENT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)")


def pixel_counts(progress: dict[str, Any] | None) -> tuple[int, int | None]:
    """(pixels done, the scanner's lower-bound estimate of the total, or None before it has one)."""
    tallies = (progress or {}).get("tallies") or {}
    if match := _SCAN_PERCENT.match(str(tallies.get("est. scan percent", ""))):
        return int(match[1]), int(match[2]) or None
    return 0, None


def scanner_finished(progress: dict[str, Any] | None) -> bool:
    """The scanner reported its last pixel (the teardown may still be pending)."""
    return bool(((progress or {}).get("processing_stats") or {}).get("finished"))
