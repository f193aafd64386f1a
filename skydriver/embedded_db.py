"""The embedded default database: SecantusDB (MongoDB wire protocol) as a child process on loopback.

SecantusDB is GPL-2.0, so SkyDriver never imports it: it runs its command-line server and talks to it over a
socket with the same PyMongo driver and queries as against a production MongoDB.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import AsyncMongoClient

from .errors import EmbeddedDatabaseError

LOGGER = logging.getLogger(__name__)

SERVER_COMMAND = "secantusd-py"
STARTUP_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: get SIGTERM when SkyDriver dies, even by SIGKILL, so no orphan holds the data files."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


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
        self.storage_path = data_dir / "db"
        self.log_path = data_dir / "logs" / "secantusdb.log"
        self.port = port or _free_port()
        self.cache_size = cache_size
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    async def start(self) -> str:
        """Start the server and return its URI once it answers a ping."""
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            _server_executable(), "--host", "127.0.0.1", "--port", str(self.port),
            "--storage-path", str(self.storage_path), "--log-level", "WARNING", "--cache-size", self.cache_size,
        ]  # fmt: skip
        LOGGER.info("starting embedded database: %s (log: %s)", " ".join(argv), self.log_path)
        with open(self.log_path, "ab") as log:
            # own session: a Ctrl-C to SkyDriver must not kill the database before SkyDriver has closed it
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=log, start_new_session=True, preexec_fn=_die_with_parent
            )
        await self._wait_until_ready()
        return self.uri

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

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server cleanly (SIGTERM lets WiredTiger checkpoint), killing it only if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        LOGGER.info("stopping embedded database (pid %d)", self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            LOGGER.warning("embedded database did not stop within %.0fs: killing it", timeout)
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
