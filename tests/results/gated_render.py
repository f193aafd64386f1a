"""A render that waits, in its worker process, until the test creates a file: a render held in progress on cue."""

import time
from pathlib import Path

from skydriver.database.blob_reader import BlobAddress
from skydriver.results.renders import Request, make


def make_when_released(gate: str, request: Request, version: bytes, source: bytes | BlobAddress) -> bytes:
    while not Path(gate).exists():
        time.sleep(0.01)
    return make(request, version, source)
