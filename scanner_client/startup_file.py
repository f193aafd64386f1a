"""Wait for the startup file the scanner server writes before any client can be submitted."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

LOGGER = logging.getLogger(__name__)


class StartupFileTimeout(TimeoutError):
    """The scanner server did not write a complete startup file in time."""


def _is_complete(path: Path) -> bool:
    """A file the server is still writing is not yet valid JSON; only a whole JSON object counts."""
    try:
        return isinstance(json.loads(path.read_bytes()), dict)
    except (OSError, ValueError):
        return False


def wait_for_startup_file(
    path: Path, timeout: float, poll_interval: float = 0.2, stop: threading.Event | None = None
) -> Path:
    """Return ``path`` once it holds a complete JSON object; raise ``StartupFileTimeout`` after ``timeout`` s."""
    stop = stop or threading.Event()
    deadline = time.monotonic() + timeout
    LOGGER.info("waiting up to %ss for the scanner server's startup file %s", timeout, path)
    while not _is_complete(path):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or stop.wait(min(poll_interval, remaining)):
            raise StartupFileTimeout(
                f"no complete startup file at {path} after {timeout}s: is the scanner server running and "
                f"writing to the shared volume? (raise --startup-timeout if it is just slow)"
            )
    return path
