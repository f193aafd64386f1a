"""SkyDriver's scanner-facing routes for the reference scanner's tests (validating every body), and the real data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.sample_data import EVENTS_DIR as EVENTS
from examples.sample_data import MODERN_EVENT
from examples.sample_data import RESULTS_DIR as RESULTS
from tests.scanner_routes_recorder import ValidatingSkyDriver

REPO = Path(__file__).resolve().parents[2]
TOKEN = "sekrit"

__all__ = ["EVENTS", "MODERN_EVENT", "REPO", "RESULTS", "TOKEN"]


@pytest.fixture
def skydriver() -> Iterator[ValidatingSkyDriver]:
    recorder = ValidatingSkyDriver(json.loads(MODERN_EVENT.read_text()), token=TOKEN)
    yield recorder
    recorder.close()
