"""The scan state: every code derived from a stored scan as the services store it, and the timeouts that fail a scan."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from skydriver.database.records import ScanRecord
from skydriver.reconcile import overdue
from skydriver.scan_status import FINAL, STALLABLE, STATE_CODES, Outcome, Phase, is_terminal, scan_state, status_view
from tests.conftest import make_settings

T0 = dt.datetime(2026, 11, 28, 4, 0, tzinfo=dt.UTC)
STALL_AFTER = 900.0


def stored(doc: dict[str, Any]) -> ScanRecord:
    """The document read back as the services read it."""
    return ScanRecord.from_doc(doc)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def progress(done: int, total: int = 768) -> dict[str, Any]:
    return {"tallies": {"est. scan percent": f"{done}/{total} ({done / total:.4f})"}, "processing_stats": {"start": {}}}


def stored_scan(reached: Phase) -> dict[str, Any]:
    """A manifest as it is stored once the scan reached this phase (and nothing went wrong)."""
    doc: dict[str, Any] = {
        "scan_id": "0" * 32, "is_deleted": False, "complete": False, "created": T0, "teardown_at": None,
        "launch": {"launcher": "local", "status": "waiting", "reason": None, "attempts": 0, "state": None},
        "event_metadata": None, "progress": None, "times": {},
    }  # fmt: skip
    if reached is Phase.PRESTARTUP:
        return doc
    doc["launch"].update(status="launched", attempts=1, state={"processes": []})
    doc["times"]["launched"] = at(10)
    if reached is Phase.WAITING_ON_SCANNER_SERVER_STARTUP:
        return doc
    doc["event_metadata"] = {"run_id": 138632, "event_id": 31747601}
    doc["progress"] = progress(0)
    doc["times"].update(first_progress=at(20), last_progress=at(20))
    if reached is Phase.WAITING_ON_FIRST_PIXEL_RECO:
        return doc
    doc["progress"] = progress(412)
    doc["times"]["last_progress"] = at(60)
    return doc


def with_outcome(doc: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
    """The same scan after a user's DELETE, a failure, its processes vanishing, or its scanner going silent."""
    doc = {**doc, "launch": dict(doc["launch"])}
    if outcome is Outcome.ABORTED:
        doc.update(is_deleted=True, teardown_at=at(100))
    elif outcome is Outcome.FAILED:
        doc["failure"] = {"source": "scanner", "code": "EXIT_CODE_1", "message": "the scanner server exited with code 1"}
        doc["launch"].update(status="failed", reason="the scanner server exited with code 1")
    elif outcome is Outcome.STOPPED:
        doc.update(complete=True, times={**doc["times"], "ended": at(100)})
        doc["launch"].update(status="stopped", reason="the scan's local processes vanished while SkyDriver was not watching")
    return doc


def expected_cases() -> list[tuple[str, dict[str, Any], float]]:
    """(code, stored scan, seconds after T0 it is read at) for every state code."""
    cases = [(p.value, stored_scan(p), 100.0) for p in Phase]
    final = stored_scan(Phase.PARTIAL_RESULT_GENERATED)
    cases.append((FINAL, {**final, "times": {**final["times"], "final_result": at(90)}}, 100.0))
    for outcome in (Outcome.ABORTED, Outcome.FAILED, Outcome.STOPPED):
        cases += [(f"{outcome}__{p.name}", with_outcome(stored_scan(p), outcome), 100.0) for p in Phase]
    # stalled: no report for STALL_AFTER (a scan that never reported is SCAN_START_TIMEOUT's business, not a stall)
    cases += [(f"STALLED__{p.name}", stored_scan(p), 60 + STALL_AFTER + 1) for p in STALLABLE]
    return cases


@pytest.mark.parametrize(("code", "doc", "seconds"), expected_cases(), ids=[c[0] for c in expected_cases()])
def test_each_state_code_is_derived_from_the_stored_scan(code: str, doc: dict[str, Any], seconds: float) -> None:
    derived, reason = scan_state(stored(doc), at(seconds), STALL_AFTER)
    assert derived == code
    assert reason and is_terminal(code) == code.startswith(("FAILED", "ABORTED", "STOPPED", "SCAN_HAS"))


def test_every_code_a_client_may_see_is_derivable() -> None:
    assert sorted(c[0] for c in expected_cases()) == sorted(STATE_CODES)


def test_a_final_result_beats_a_later_delete_and_a_failure_names_its_cause() -> None:
    finished = stored_scan(Phase.PARTIAL_RESULT_GENERATED)
    finished["times"]["final_result"] = at(90)
    assert scan_state(stored(with_outcome(finished, Outcome.ABORTED)), at(100), STALL_AFTER)[0] == FINAL
    failed = with_outcome(stored_scan(Phase.WAITING_ON_FIRST_PIXEL_RECO), Outcome.FAILED)
    assert scan_state(stored(failed), at(100), STALL_AFTER) == ("FAILED__WAITING_ON_FIRST_PIXEL_RECO", "the scanner server exited with code 1")


def test_a_failed_launch_is_a_failure_of_its_launcher() -> None:
    doc = stored_scan(Phase.PRESTARTUP)
    doc["launch"].update(launcher="kubernetes", status="failed", reason="launch failed after 5 attempt(s): 403 Forbidden")
    view = status_view(stored(doc), at(100), STALL_AFTER, "")
    assert view["scan_state"] == "FAILED__PRESTARTUP" and view["is_terminal"] is True
    assert view["failure"] == {"source": "kubernetes", "code": "LAUNCH_FAILED", "message": doc["launch"]["reason"], "exit_code": None, "log_tail": None}


def test_the_status_view_carries_times_and_progress_as_reported() -> None:
    doc = stored_scan(Phase.PARTIAL_RESULT_GENERATED)
    doc["progress"]["processing_stats"].update(rate={"all recos": {"mean": "0:00:02"}}, predictions={"time left": "0:03:10"})
    view = status_view(stored(doc), at(100), STALL_AFTER, "")
    assert (view["pixels_done"], view["pixels_total"], view["failure"]) == (412, 768, None)
    assert view["timestamps"] == {"created": T0.isoformat(), "launched": at(10).isoformat(), "first_progress": at(20).isoformat(),
                                  "last_progress": at(60).isoformat(), "final_result": None, "ended": None}  # fmt: skip
    assert view["rate"] == {"all recos": {"mean": "0:00:02"}} and view["eta"] == {"time left": "0:03:10"}
    assert view["reason"] == "scanning: 412 of 768 pixels reconstructed"


def test_timeouts_fail_a_scan_that_cannot_start_or_stays_silent(mongo_uri: str, tmp_path: Any) -> None:
    settings = dataclasses.replace(make_settings(mongo_uri, tmp_path), scan_start_timeout=300.0, stall_after=60.0, scan_timeout=600.0)
    starting = stored_scan(Phase.WAITING_ON_SCANNER_SERVER_STARTUP)
    assert overdue(stored(starting), at(10 + 300), settings) is None
    assert overdue(stored(starting), at(10 + 301), settings).code == "SCAN_START_TIMEOUT"  # type: ignore[union-attr]
    scanning = stored_scan(Phase.PARTIAL_RESULT_GENERATED)
    assert overdue(stored(scanning), at(60 + 600), settings) is None  # stalled (reported), not yet failed
    silent = overdue(stored(scanning), at(60 + 601), settings)
    assert silent is not None and (silent.code, silent.message) == ("SCAN_TIMEOUT", "no progress report for 601 s (SCAN_TIMEOUT is 600 s)")
    assert overdue(stored(scanning), at(60 + 10_000), dataclasses.replace(settings, scan_timeout=0.0)) is None  # 0: never
