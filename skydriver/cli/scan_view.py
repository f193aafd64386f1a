"""What a person wants to know about a scan, read from its manifest: where it is, how far, and how it ended."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

# The Skymap Scanner's tally: "done/predicted (fraction)", e.g. "412/1388 (0.2968)"
_SCAN_PERCENT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)")


@dataclasses.dataclass(frozen=True)
class ScanView:
    scan_id: str
    state: str  # the launch status, or "scanning" once pixels are being reported
    pixels_done: int
    pixels_predicted: int | None  # the scanner's lower-bound estimate; None until it reports one
    scanner_finished: bool  # the scanner reported its last pixel (teardown may still be pending)
    complete: bool  # the scan's processes were stopped (the contract's meaning)
    reason: str | None

    @property
    def ended(self) -> bool:
        return self.scanner_finished or self.complete or self.state == "failed"

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> ScanView:
        launch = manifest.get("launch") or {}
        progress = manifest.get("progress") or {}
        tallies = progress.get("tallies") or {}
        finished = bool((progress.get("processing_stats") or {}).get("finished"))
        done, predicted = 0, None
        if match := _SCAN_PERCENT.match(str(tallies.get("est. scan percent", ""))):
            done, predicted = int(match[1]), int(match[2]) or None
        state = launch.get("status", "unknown")
        if state == "launched" and done:
            state = "finished" if finished else "scanning"
        return cls(
            manifest["scan_id"], state, done, predicted, finished, bool(manifest.get("complete")), launch.get("reason")
        )


def describe_outcome(view: ScanView, result: dict[str, Any]) -> tuple[bool, str]:
    """(succeeded, one sentence): a scan succeeded when its final result is in, whatever happened afterwards."""
    if result.get("is_final"):
        return True, "final result received"
    if view.state == "failed":
        return False, f"launch failed: {view.reason or 'no reason recorded'}"
    return False, f"ended without a final result ({view.state}: {view.reason or 'no reason recorded'})"
