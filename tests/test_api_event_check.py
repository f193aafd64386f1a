"""POST /scan reads the event as the scanner will: an unreadable event is a 400 at once, never a failed scan later."""

from __future__ import annotations

import copy
import json

import pytest

from examples.sample_data import EVENTS_DIR
from tests.conftest import scan_body
from tests.http_client import HttpClient

HESE_2016 = json.loads((EVENTS_DIR / "hese_event_01.json").read_text())  # run 127907, event 20178442, frames only


def without_run_id(event: dict) -> dict:
    broken = copy.deepcopy(event)
    del broken["value"]["data"]["run_id"]
    return broken


def with_garbled_frames(event: dict) -> dict:
    broken = copy.deepcopy(event)
    broken["value"]["data"] = [[stop, "not base64 !"] for stop, _ in broken["value"]["data"]]
    return broken


@pytest.mark.parametrize(
    ("make_event", "reason"),
    [
        (lambda modern: {"foo": 1}, "event message has no value.data"),
        (lambda modern: {"value": {"data": 7}}, "value.data is a int"),
        (without_run_id, "lacks a valid 'run_id'"),
        (lambda modern: with_garbled_frames(HESE_2016), "frame is not base64+zlib"),
    ],
    ids=["no-value-data", "data-not-object-or-frames", "modern-without-run-id", "garbled-frames"],
)
async def test_an_event_the_scanner_cannot_read_is_refused_naming_why(user: HttpClient, modern_event: dict, make_event, reason: str) -> None:  # type: ignore[no-untyped-def]
    response = await user.post("/scan", scan_body(make_event(modern_event)))
    assert response.status == 400, response
    error = response.json()["error"]
    assert error.startswith("argument 'event_i3live_json': the scanner cannot read this event") and reason in error


async def test_a_frames_only_event_is_findable_by_run_and_event_from_the_start(user: HttpClient) -> None:
    response = await user.post("/scan", scan_body(HESE_2016))
    assert response.status == 200, response
    scan_id = response.json()["scan_id"]
    found = await user.get("/scans", query={"run_id": "127907", "event_id": "20178442", "is_real_event": "true"})
    assert found.status == 200 and found.json() == {"event_id": 20178442, "scan_ids": [scan_id]}
