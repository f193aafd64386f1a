"""Local scans' log files: where each process writes, their last lines, and what an exited process's log says.

The failure of a local scan and ``GET /scan/ID/logs`` both read these, so an operator never needs a shell on the host.
"""

from __future__ import annotations

import signal
from pathlib import Path

from .base import ScanFailure

FAILURE_LOG_LINES = 20
READ_BLOCK = 64 * 1024


def log_path(scan_dir: Path, role: str) -> Path:
    """``role`` is ``server`` or ``starter-N``."""
    return scan_dir / "logs" / f"{role}.log"


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a log file, read backwards from its end (logs grow large); [] if there is none."""
    try:
        with open(path, "rb") as log:
            end = log.seek(0, 2)
            data, start = b"", end
            while start > 0 and data.count(b"\n") <= lines:
                start = max(0, start - READ_BLOCK)
                log.seek(start)
                data = log.read(end - start)
    except FileNotFoundError:
        return []
    text = data.decode(errors="replace").splitlines()
    if start > 0:
        text = text[1:]  # the first line read may be cut
    return text[-lines:] if lines else []


def exit_failure(returncode: int | None, log: Path) -> ScanFailure:
    """The failure of a scanner server that exited: how it ended, and its last log line as the cause."""
    lines = tail(log, FAILURE_LOG_LINES)
    last = next((line.strip() for line in reversed(lines) if line.strip()), None)
    if returncode is None:
        code, how = "EXITED", "exited (its exit status is lost: SkyDriver restarted meanwhile)"
    elif returncode < 0:
        number = -returncode
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else "unknown"
        code, how = f"KILLED_BY_SIGNAL_{number}", f"was killed by signal {number} ({name})"
    else:
        code, how = f"EXIT_CODE_{returncode}", f"exited with code {returncode}"
    message = f"the scanner server {how}" + (f"; its log ends: {last}" if last else "")
    return ScanFailure("scanner", code, message, returncode, lines)
