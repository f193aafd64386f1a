"""SkyDriver started the way users start it (``python -m skydriver``), and its processes read from /proc.

The benchmark measures the service as a black box, so it runs in its own process with its own embedded database;
CPU time and peak memory come from the kernel's accounting, not from inside the server.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DATABASE_COMMAND = "secantusd"
STARTUP_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (fields 14 and 15 of /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS (current) in kB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0])
    return found


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")


@dataclasses.dataclass
class Processes:
    server: int
    database: int
    database_port: int


@dataclasses.dataclass
class SkyDriverProcess:
    """``python -m skydriver`` with auth off, its own port and data directory; the embedded database is its child."""

    data_dir: Path
    port: int = dataclasses.field(default_factory=free_port)
    python_args: tuple[str, ...] = ()  # before ``-m skydriver``: e.g. ("-m", "cProfile", "-o", FILE) to profile it
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # settings over the defaults below
    process: subprocess.Popen[bytes] | None = None
    pids: Processes | None = None

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def start(self) -> Processes:
        env = {
            **os.environ,
            "SKYDRIVER_AUTH": "off",
            "REST_HOST": "127.0.0.1",
            "REST_PORT": str(self.port),
            "SKYDRIVER_DATA_DIR": str(self.data_dir),
            "SKYDRIVER_LAUNCHER": "none",
            **self.env,
        }
        for name in ("MONGODB_URI", "MONGODB_HOST"):
            env.pop(name, None)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "skydriver.log", "ab")
        self.process = subprocess.Popen([sys.executable, *self.python_args, "-m", "skydriver"], env=env, stdout=log, stderr=log)
        log.close()
        self._wait_until_serving()
        self.pids = self._find_database()
        return self.pids

    def _wait_until_serving(self) -> None:
        assert self.process is not None
        url = f"http://127.0.0.1:{self.port}/scans?run_id=0&event_id=0&is_real_event=true"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"SkyDriver exited with {self.process.returncode}; see {self.data_dir / 'skydriver.log'}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"SkyDriver did not answer within {STARTUP_TIMEOUT:.0f}s")
            time.sleep(0.2)

    def _find_database(self) -> Processes:
        assert self.process is not None
        for child in _children(self.process.pid):
            argv = _cmdline(child)
            if any(DATABASE_COMMAND in arg for arg in argv):
                return Processes(self.process.pid, child, int(argv[argv.index("--port") + 1]))
        raise RuntimeError("SkyDriver's embedded database process was not found")

    def stop(self) -> None:
        """SIGTERM, as a user's Ctrl-C would: SkyDriver closes the database itself."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
