"""A scan's state for pipelines and people, derived in one place from its stored manifest (never stored itself).

Codes follow SkyDriver 2.x: the phase a scan reached is kept in the terminal and stalled codes
(``FAILED__WAITING_ON_FIRST_PIXEL_RECO``), so a pipeline knows how far a scan got before deciding to retry.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from .database.records import LaunchStatus
from .progress_tallies import pixel_counts


class Phase(enum.StrEnum):
    """How far a scan got, in order; the value is the code of a scan still in that phase."""

    PRESTARTUP = "PENDING__PRESTARTUP"
    WAITING_ON_SCANNER_SERVER_STARTUP = "PENDING__WAITING_ON_SCANNER_SERVER_STARTUP"
    WAITING_ON_FIRST_PIXEL_RECO = "IN_PROGRESS__WAITING_ON_FIRST_PIXEL_RECO"
    PARTIAL_RESULT_GENERATED = "IN_PROGRESS__PARTIAL_RESULT_GENERATED"


class Outcome(enum.StrEnum):
    """Prefixes that replace a phase's PENDING/IN_PROGRESS: ``<outcome>__<phase name>``."""

    FAILED = "FAILED"  # the scanner, the cluster or a SkyDriver timeout ended it
    ABORTED = "ABORTED"  # deleted by a user
    STOPPED = "STOPPED"  # ended without a final result for no known failure (its processes vanished)
    STALLED = "STALLED"  # still running, but no progress report for STALL_AFTER seconds


FINAL = "SCAN_HAS_FINAL_RESULT"
TERMINAL_OUTCOMES = (Outcome.FAILED, Outcome.ABORTED, Outcome.STOPPED)
STALLABLE = (Phase.WAITING_ON_FIRST_PIXEL_RECO, Phase.PARTIAL_RESULT_GENERATED)  # before, SCAN_START_TIMEOUT applies
STATE_CODES: tuple[str, ...] = (
    *Phase, FINAL, *(f"{o}__{p.name}" for o in TERMINAL_OUTCOMES for p in Phase), *(f"{Outcome.STALLED}__{p.name}" for p in STALLABLE)
)
STATE_GROUPS: tuple[str, ...] = ("PENDING", "IN_PROGRESS", *Outcome)  # prefixes a list filter may name
LOGS_WINDOW_MARGIN = dt.timedelta(minutes=1)

PHASE_WORDS = {
    Phase.PRESTARTUP: "waiting in the backlog to be launched",
    Phase.WAITING_ON_SCANNER_SERVER_STARTUP: "launched; waiting for the scanner server to start",
    Phase.WAITING_ON_FIRST_PIXEL_RECO: "the scanner server started; waiting for the first pixel reconstructions",
    Phase.PARTIAL_RESULT_GENERATED: "scanning",
}


def is_terminal(code: str) -> bool:
    return code == FINAL or code.split("__", 1)[0] in TERMINAL_OUTCOMES


def _times(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.get("times") or {}


def phase(doc: dict[str, Any]) -> Phase:
    """The furthest phase the stored scan shows evidence of."""
    launch = doc.get("launch") or {}
    done, _ = pixel_counts(doc.get("progress"))
    if done or _times(doc).get("final_result"):
        return Phase.PARTIAL_RESULT_GENERATED
    if doc.get("progress") or doc.get("event_metadata"):
        return Phase.WAITING_ON_FIRST_PIXEL_RECO
    if launch.get("state") or _times(doc).get("launched"):
        return Phase.WAITING_ON_SCANNER_SERVER_STARTUP
    return Phase.PRESTARTUP


def silent_for(doc: dict[str, Any], now: dt.datetime) -> float | None:
    """Seconds since the scanner last reported progress; None before its first report."""
    last = _times(doc).get("last_progress")
    return (now - last).total_seconds() if last else None


def launch_failure(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The failure a stored scan records, or the one its failed launch implies."""
    if failure := doc.get("failure"):
        return failure
    launch = doc.get("launch") or {}
    if launch.get("status") != LaunchStatus.FAILED:
        return None
    source = "kubernetes" if launch.get("launcher") == "kubernetes" else "skydriver"
    return {"source": source, "code": "LAUNCH_FAILED", "message": launch.get("reason") or "the launch failed", "exit_code": None, "log_tail": None}


def scan_state(doc: dict[str, Any], now: dt.datetime, stall_after: float) -> tuple[str, str]:
    """(state code, one human sentence) of a stored scan at time ``now``."""
    reached = phase(doc)
    launch = doc.get("launch") or {}
    if _times(doc).get("final_result"):
        return FINAL, "the final result is stored" + ("; the scan's processes are stopped" if doc.get("complete") else "")
    if doc.get("is_deleted"):
        return f"{Outcome.ABORTED}__{reached.name}", f"deleted by a user while {PHASE_WORDS[reached]}"
    if failure := launch_failure(doc):
        return f"{Outcome.FAILED}__{reached.name}", failure["message"]
    if doc.get("complete") or doc.get("teardown_at") is not None:
        return f"{Outcome.STOPPED}__{reached.name}", launch.get("reason") or "stopped without a final result"
    silent = silent_for(doc, now)
    if reached in STALLABLE and silent is not None and silent > stall_after:
        return f"{Outcome.STALLED}__{reached.name}", f"no progress report for {silent:.0f} s (STALL_AFTER is {stall_after:.0f} s)"
    if reached is Phase.PARTIAL_RESULT_GENERATED:
        done, total = pixel_counts(doc.get("progress"))
        return reached.value, f"scanning: {done} of {total or 'an unknown number of'} pixels reconstructed"
    if reached is Phase.PRESTARTUP and launch.get("reason"):
        return reached.value, f"{PHASE_WORDS[reached]} (last attempt: {launch['reason']})"
    return reached.value, PHASE_WORDS[reached]


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None


def logs_url(doc: dict[str, Any], template: str) -> str | None:
    """``SKYDRIVER_LOGS_URL_TEMPLATE`` filled in for this scan: its id and its lifetime, LOGS_WINDOW_MARGIN wider on
    each side (log lines are stamped by other machines' clocks), its end ``now`` until the scan has ended."""
    if not template:
        return None
    start = doc["created"] - LOGS_WINDOW_MARGIN
    ended = _times(doc).get("ended")
    end = ended + LOGS_WINDOW_MARGIN if ended else None
    return template.format(
        scan_id=doc["scan_id"],
        start=_utc_text(start), end=_utc_text(end) if end else "now",  # Z, not +00:00: a "+" in a query is a space
        start_ms=_epoch_ms(start), end_ms=_epoch_ms(end) if end else "now",
    )  # fmt: skip


def _utc_text(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch_ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def status_view(doc: dict[str, Any], now: dt.datetime, stall_after: float, logs_url_template: str) -> dict[str, Any]:
    """The ``status`` object (GET /scan/ID/status, the manifest's ``status``): everything a pipeline decides from."""
    code, reason = scan_state(doc, now, stall_after)
    times = _times(doc)
    stats = ((doc.get("progress") or {}).get("processing_stats")) or {}
    done, total = pixel_counts(doc.get("progress"))
    return {
        "scan_id": doc["scan_id"],
        "scan_state": code,
        "is_terminal": is_terminal(code),
        "reason": reason,
        "failure": launch_failure(doc),
        "complete": bool(doc.get("complete")),
        "is_deleted": bool(doc.get("is_deleted")),
        "timestamps": {
            "created": _iso(doc.get("created")),
            **{name: _iso(times.get(name)) for name in ("launched", "first_progress", "last_progress", "final_result", "ended")},
        },
        "pixels_done": done,
        "pixels_total": total,
        "rate": stats.get("rate") or None,
        "eta": stats.get("predictions") or None,
        "logs_url": logs_url(doc, logs_url_template),
    }
