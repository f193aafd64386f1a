"""The embedded default database: SecantusDB (MongoDB wire protocol) as a child process on loopback.

SecantusDB is GPL-2.0, so SkyDriver never imports it: it runs its command-line server and talks to it over a
socket with the same PyMongo driver and queries as against a production MongoDB.

It never outlives SkyDriver: on Linux the kernel sends it SIGTERM when SkyDriver dies, even by SIGKILL
(``PR_SET_PDEATHSIG``), and a pid file in the data directory names the database and its owner, so a start finds a
database left by a crashed SkyDriver (still checkpointing, or on a system without PDEATHSIG) and stops it first
instead of failing on the WiredTiger lock it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from pymongo import AsyncMongoClient

from .errors import EmbeddedDatabaseError

LOGGER = logging.getLogger(__name__)

SERVER_COMMAND = "secantusd-py"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
PID_FILE = "secantusdb.pid"
PR_SET_PDEATHSIG = 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent(parent: int) -> Callable[[], None]:
    """For the child, between fork and exec: get SIGTERM when SkyDriver dies, even by SIGKILL.

    The kernel ties the signal to the thread that forked, so the database is started from the event loop's thread.
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # SkyDriver died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _listens(pid: int, port: int) -> bool:
    """Whether the process still holds its listening socket on ``port`` (it closes it first thing when it stops)."""
    try:
        sockets = psutil.Process(pid).net_connections("tcp")
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in sockets)
    except psutil.Error:
        return False


def _identity(process: psutil.Process) -> dict[str, Any]:
    return {"pid": process.pid, "create_time": process.create_time()}


def _find(identity: Any) -> psutil.Process | None:
    """The live process a pid file names, or None (gone, or its pid reused by another process)."""
    try:
        process = psutil.Process(int(identity["pid"]))
        if abs(process.create_time() - float(identity["create_time"])) < 0.01 and process.status() != psutil.STATUS_ZOMBIE:
            return process
    except (psutil.Error, TypeError, KeyError, ValueError):
        pass
    return None


def _server_executable() -> str:
    beside_python = Path(sys.executable).parent / SERVER_COMMAND
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(SERVER_COMMAND)
    if not found:
        raise EmbeddedDatabaseError(
            f"no MongoDB configured (MONGODB_URI/MONGODB_HOST) and the embedded database '{SERVER_COMMAND}' is not "
            "installed: pip install 'skydriver[embedded]'"
        )
    return found


class EmbeddedDatabase:
    """A SecantusDB server owned by this process: started, awaited until it answers, stopped on exit."""

    def __init__(self, data_dir: Path, port: int | None = None, cache_size: str = "256M"):
        self.data_dir = data_dir
        self.storage_path = data_dir / "db"
        self.pid_path = data_dir / PID_FILE
        self.log_path = data_dir / "logs" / "secantusdb.log"
        self.port = port or _free_port()
        self.cache_size = cache_size
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def exited(self) -> bool:
        """Started, and no longer running (crashed or killed)."""
        return self.process is not None and self.process.poll() is not None

    async def start(self) -> str:
        """Start the server (on the same port when restarting) and return its URI once it answers a ping."""
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._stop_stale)
        argv = [
            _server_executable(), "--host", "127.0.0.1", "--port", str(self.port),
            "--storage-path", str(self.storage_path), "--log-level", "WARNING", "--cache-size", self.cache_size,
        ]  # fmt: skip
        LOGGER.info("starting embedded database: %s (log: %s)", " ".join(argv), self.log_path)
        with open(self.log_path, "ab") as log:
            # own session: a Ctrl-C to SkyDriver must not kill the database before SkyDriver has closed it
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=log, start_new_session=True, preexec_fn=_die_with_parent(os.getpid())
            )
        self._write_pid_file()
        await self._wait_until_ready()
        return self.uri

    def _write_pid_file(self) -> None:
        assert self.process is not None
        record = {"database": _identity(psutil.Process(self.process.pid)), "owner": _identity(psutil.Process())}
        tmp = self.pid_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.pid_path)

    def _stop_stale(self) -> None:
        """Stop a database that a crashed SkyDriver left on this data directory; refuse one a live SkyDriver uses."""
        try:
            record = json.loads(self.pid_path.read_text())
        except (OSError, ValueError):
            return
        if not isinstance(record, dict):
            return
        stale = _find(record.get("database"))
        if stale is None or (self.process is not None and stale.pid == self.process.pid):
            return
        owner = _find(record.get("owner"))
        if owner is not None and owner.pid != os.getpid():
            raise EmbeddedDatabaseError(
                f"the data directory {self.data_dir} is in use by another SkyDriver (pid {owner.pid}): stop it, "
                "or give this one its own SKYDRIVER_DATA_DIR"
            )
        LOGGER.warning("stopping the embedded database (pid %d) left running by a SkyDriver that crashed", stale.pid)
        _terminate(stale, STOP_TIMEOUT)

    async def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        client: AsyncMongoClient = AsyncMongoClient(self.uri, serverSelectionTimeoutMS=500)
        try:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise EmbeddedDatabaseError(
                        f"embedded database exited with code {self.process.returncode}; see {self.log_path}"
                    )
                try:
                    await client.admin.command("ping")
                    LOGGER.info("embedded database ready at %s", self.uri)
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise EmbeddedDatabaseError(
                            f"embedded database did not answer within {STARTUP_TIMEOUT:.0f}s; see {self.log_path}"
                        ) from None
                    await asyncio.sleep(0.2)
        finally:
            await client.close()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server cleanly (SIGTERM lets WiredTiger checkpoint), killing it only if it hangs."""
        if self.process is None:
            return
        if self.process.poll() is None:
            LOGGER.info("stopping embedded database (pid %d)", self.process.pid)
            self.process.send_signal(signal.SIGTERM)
            if not _await_exit(self.process.pid, self.port, self._exited_within, timeout):
                LOGGER.warning("embedded database did not stop within %.0fs: killing it", timeout)
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.pid_path.unlink(missing_ok=True)

    def _exited_within(self, seconds: float) -> bool:
        assert self.process is not None
        try:
            self.process.wait(seconds)
            return True
        except subprocess.TimeoutExpired:
            return False


def _await_exit(pid: int, port: int | None, exited: Callable[[float], bool], timeout: float) -> bool:
    """After SIGTERM: whether the server exited within ``timeout`` s (``exited(s)`` waits up to s for it).

    SecantusDB 0.7.0b3 stops by closing its listening socket, which leaves its accept thread blocked in accept() (a
    close does not interrupt it on Linux) for a 2 s join timeout, per SIGTERM received: once the socket is closed, one
    connection to the port lets it see the stop at once. Not before: a connection racing its signal handler can leave
    it waiting on.
    """
    deadline = time.monotonic() + timeout
    woken = False
    while not exited(min(0.02, max(0.0, deadline - time.monotonic()))):
        if time.monotonic() >= deadline:
            return False
        if port is not None and not woken and not _listens(pid, port):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            woken = True
    return True


def _port_of(process: psutil.Process) -> int | None:
    """The port a database process was started on (its ``--port``), or None."""
    try:
        argv = process.cmdline()
        return int(argv[argv.index("--port") + 1])
    except (psutil.Error, ValueError, IndexError):
        return None


def _terminate(process: psutil.Process, timeout: float) -> None:
    """SIGTERM (a clean checkpoint), then SIGKILL if it hangs; returns once the process is gone."""

    def exited_within(seconds: float) -> bool:
        """Gone, or a zombie: it is no child of ours, and whoever adopted it may be slow to reap it (~1.5 s here)."""
        try:
            process.wait(seconds)
        except psutil.TimeoutExpired:
            with contextlib.suppress(psutil.NoSuchProcess):
                return process.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            pass
        return True

    port = _port_of(process)
    try:
        process.terminate()
    except psutil.NoSuchProcess:
        return
    if not _await_exit(process.pid, port, exited_within, timeout):
        LOGGER.warning("database pid %d did not stop within %.0fs: killing it", process.pid, timeout)
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
            process.wait(timeout)
