"""What a person wants to know about a scan, read from its manifest: where it is, how far, and how it ended."""

from __future__ import annotations

import dataclasses
from typing import Any

from skydriver.progress_tallies import pixel_counts, scanner_finished


@dataclasses.dataclass(frozen=True)
class ScanView:
    scan_id: str
    state: str  # the launch status, or "scanning" once pixels are being reported
    pixels_done: int
    pixels_predicted: int | None  # the scanner's lower-bound estimate; None until it reports one
    scanner_finished: bool  # the scanner reported its last pixel (teardown may still be pending)
    complete: bool  # the scan's processes were stopped (the contract's meaning)
    reason: str | None

    has_final_result: bool = False  # known only from the progress stream; the manifest does not carry it
    scan_state: str | None = None  # the server's state code (scan_status), when it reports one

    @property
    def ended(self) -> bool:
        """Nothing more to wait for: the final result is in, or the scan stopped or failed without it."""
        return self.has_final_result or self.complete or self.state == "failed"

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> ScanView:
        launch = manifest.get("launch") or {}
        done, predicted = pixel_counts(manifest.get("progress"))
        finished = scanner_finished(manifest.get("progress"))
        state = launch.get("status", "unknown")
        if state == "launched" and done:
            state = "finished" if finished else "scanning"
        return cls(
            manifest["scan_id"], state, done, predicted, finished, bool(manifest.get("complete")), launch.get("reason"),
            scan_state=(manifest.get("status") or {}).get("scan_state"),
        )


    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> ScanView:
        """From a progress-stream event (`GET /scan/ID/events`)."""
        state = snapshot["launch_status"]
        if state == "launched" and snapshot["pixels_done"]:
            state = "finished" if snapshot["scanner_finished"] else "scanning"
        return cls(
            snapshot["scan_id"], state, snapshot["pixels_done"], snapshot["pixels_predicted"], snapshot["scanner_finished"],
            snapshot["complete"] or snapshot["is_deleted"], snapshot["reason"], bool((snapshot["result"] or {}).get("is_final")),
            snapshot.get("scan_state"),
        )  # fmt: skip


def describe_outcome(view: ScanView, result: dict[str, Any]) -> tuple[bool, str]:
    """(succeeded, one sentence): a scan succeeded when its final result is in, whatever happened afterwards."""
    if result.get("is_final"):
        return True, "final result received"
    if view.state == "failed":
        return False, f"launch failed: {view.reason or 'no reason recorded'}"
    return False, f"ended without a final result ({view.state}: {view.reason or 'no reason recorded'})"
