"""A render that waits, in its worker process, until the test creates a file: a render held in progress on cue."""

import time
from pathlib import Path

from skydriver.results.renders import Request, make


def make_when_released(gate: str, request: Request, result_json: bytes) -> bytes:
    while not Path(gate).exists():
        time.sleep(0.01)
    return make(request, result_json)
