"""A scan's state for pipelines and people, derived in one place from its stored manifest (never stored itself).

Codes follow SkyDriver 2.x: the phase a scan reached is kept in the terminal and stalled codes
(``FAILED__WAITING_ON_FIRST_PIXEL_RECO``), so a pipeline knows how far a scan got before deciding to retry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any

from .database.records import LaunchStatus, ScanRecord, ScanTimes
from .database.state_key import StateKey, state_key
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
KEYS = {  # the stored key of each group of states but the running ones
    FINAL: StateKey.FINAL, Outcome.ABORTED: StateKey.ABORTED, Outcome.FAILED: StateKey.FAILED, Outcome.STOPPED: StateKey.STOPPED,
}  # fmt: skip
LOGS_WINDOW_MARGIN = dt.timedelta(minutes=1)

TIMESTAMPS = tuple(field.name for field in dataclasses.fields(ScanTimes))  # after created, in their order

PHASE_WORDS = {
    Phase.PRESTARTUP: "waiting in the backlog to be launched",
    Phase.WAITING_ON_SCANNER_SERVER_STARTUP: "launched; waiting for the scanner server to start",
    Phase.WAITING_ON_FIRST_PIXEL_RECO: "the scanner server started; waiting for the first pixel reconstructions",
    Phase.PARTIAL_RESULT_GENERATED: "scanning",
}


def is_terminal(code: str) -> bool:
    return code == FINAL or code.split("__", 1)[0] in TERMINAL_OUTCOMES


def key_of(state: str) -> StateKey:
    """The stored key of the scans in a state, or in a group of states (a prefix such as IN_PROGRESS)."""
    group = state.split("__", 1)[0]
    return KEYS.get(group, StateKey.ACTIVE)  # PENDING, IN_PROGRESS, STALLED: running, whatever progress says


def phase(scan: ScanRecord) -> Phase:
    """The furthest phase the stored scan shows evidence of."""
    done, _ = pixel_counts(scan.progress)
    if done or scan.times.final_result:
        return Phase.PARTIAL_RESULT_GENERATED
    if scan.progress or scan.event_metadata:
        return Phase.WAITING_ON_FIRST_PIXEL_RECO
    if scan.launch.state or scan.times.launched:
        return Phase.WAITING_ON_SCANNER_SERVER_STARTUP
    return Phase.PRESTARTUP


def silent_for(scan: ScanRecord, now: dt.datetime) -> float | None:
    """Seconds since the scanner last reported progress; None before its first report."""
    last = scan.times.last_progress
    return (now - last).total_seconds() if last else None


def launch_failure(scan: ScanRecord) -> dict[str, Any] | None:
    """The failure a stored scan records, or the one its failed launch implies."""
    if scan.failure:
        return scan.failure
    launch = scan.launch
    if launch.status is not LaunchStatus.FAILED:
        return None
    source = "kubernetes" if launch.launcher == "kubernetes" else "skydriver"
    return {"source": source, "code": "LAUNCH_FAILED", "message": launch.reason or "the launch failed", "exit_code": None, "log_tail": None}


def scan_state(scan: ScanRecord, now: dt.datetime, stall_after: float) -> tuple[str, str]:
    """(state code, one human sentence) of a stored scan at time ``now``."""
    reached = phase(scan)
    reason = scan.launch.reason
    group = state_key(scan)  # how it ended, if it did (the stored key's group)
    if group is StateKey.FINAL:
        return FINAL, "the final result is stored" + ("; the scan's processes are stopped" if scan.complete else "")
    if group is StateKey.ABORTED:
        return f"{Outcome.ABORTED}__{reached.name}", f"deleted by a user while {PHASE_WORDS[reached]}"
    if group is StateKey.FAILED:
        return f"{Outcome.FAILED}__{reached.name}", (launch_failure(scan) or {}).get("message", "failed")
    if group is StateKey.STOPPED:
        return f"{Outcome.STOPPED}__{reached.name}", reason or "stopped without a final result"
    silent = silent_for(scan, now)
    if reached in STALLABLE and silent is not None and silent > stall_after:
        return f"{Outcome.STALLED}__{reached.name}", f"no progress report for {silent:.0f} s (STALL_AFTER is {stall_after:.0f} s)"
    if reached is Phase.PARTIAL_RESULT_GENERATED:
        done, total = pixel_counts(scan.progress)
        return reached.value, f"scanning: {done} of {total or 'an unknown number of'} pixels reconstructed"
    if reached is Phase.PRESTARTUP and reason:
        return reached.value, f"{PHASE_WORDS[reached]} (last attempt: {reason})"
    return reached.value, PHASE_WORDS[reached]


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None


def logs_url(scan: ScanRecord, template: str) -> str | None:
    """``SKYDRIVER_LOGS_URL_TEMPLATE`` filled in for this scan: its id and its lifetime, LOGS_WINDOW_MARGIN wider on
    each side (log lines are stamped by other machines' clocks), its end ``now`` until the scan has ended."""
    if not template or scan.created is None:
        return None
    start = scan.created - LOGS_WINDOW_MARGIN
    ended = scan.times.ended
    end = ended + LOGS_WINDOW_MARGIN if ended else None
    return template.format(
        scan_id=scan.scan_id,
        start=_utc_text(start), end=_utc_text(end) if end else "now",  # Z, not +00:00: a "+" in a query is a space
        start_ms=_epoch_ms(start), end_ms=_epoch_ms(end) if end else "now",
    )  # fmt: skip


def _utc_text(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch_ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def status_view(scan: ScanRecord, now: dt.datetime, stall_after: float, logs_url_template: str) -> dict[str, Any]:
    """The ``status`` object (GET /scan/ID/status, the manifest's ``status``): everything a pipeline decides from."""
    code, reason = scan_state(scan, now, stall_after)
    stats = ((scan.progress or {}).get("processing_stats")) or {}
    done, total = pixel_counts(scan.progress)
    return {
        "scan_id": scan.scan_id,
        "scan_state": code,
        "is_terminal": is_terminal(code),
        "reason": reason,
        "failure": launch_failure(scan),
        "complete": scan.complete,
        "is_deleted": scan.is_deleted,
        "timestamps": {"created": _iso(scan.created), **{name: _iso(getattr(scan.times, name)) for name in TIMESTAMPS}},
        "pixels_done": done,
        "pixels_total": total,
        "rate": stats.get("rate") or None,
        "eta": stats.get("predictions") or None,
        "logs_url": logs_url(scan, logs_url_template),
    }
