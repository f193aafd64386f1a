"""Whether the database answers: watched all the time, so a lost database costs a request milliseconds, not minutes.

A monitor pings the database every second. While it does not answer, requests are refused at once with
``DatabaseUnavailable`` (HTTP 503 with Retry-After) and the background loops wait; an embedded database that died is
restarted (bounded retries with backoff), a configured MongoDB is pinged until it is back. PyMongo's client
reconnects by itself, so recovery needs no restart of SkyDriver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import pymongo
from pymongo import AsyncMongoClient
from pymongo.errors import ConnectionFailure, PyMongoError

from ..embedded_db import EmbeddedDatabase
from ..errors import DatabaseUnavailable, EmbeddedDatabaseError

LOGGER = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0  # seconds between pings
PING_TIMEOUT = 5.0  # seconds a ping may take before the database counts as lost (not less: a busy one is slow)
RETRY_AFTER = 5  # seconds a refused client is told to wait (Retry-After)
EMBEDDED_RESTARTS = 5  # restarts of a dead embedded database in a row before giving up
EMBEDDED_RESTART_BACKOFF = 1.0  # seconds before the first restart; doubles each time
HEALTHY_RESET = 60.0  # seconds up after which the restart count starts again
# what clients read; the cause (host, driver error) goes to the log only
UNAVAILABLE = f"the database is unavailable; SkyDriver is reconnecting: retry in {RETRY_AFTER}s"


def _unreachable(exc: BaseException) -> bool:
    """A network-level failure (server down, connection refused or reset, no server selectable in time).

    Also a with_transaction that gave up retrying one: PyMongo re-raises it as a timeout caused by it.
    """
    return isinstance(exc, ConnectionFailure) or isinstance(exc.__cause__, ConnectionFailure)


class DatabaseHealth:
    """Up or down, as last seen; what requests and background loops consult before touching the database."""

    def __init__(self, client: AsyncMongoClient, embedded: EmbeddedDatabase | None = None):
        self.client = client
        self.embedded = embedded
        self._up = asyncio.Event()
        self._up.set()
        self._since = time.monotonic()  # of the last change between up and down
        self.restarts = 0  # of the embedded database, in a row
        self.restarts_total = 0  # since this SkyDriver started (a metric)
        self.reason = ""

    @property
    def available(self) -> bool:
        return self._up.is_set()

    def check(self) -> None:
        """Raise DatabaseUnavailable while the database is known to be down, by the monitor or by the driver (which
        marks a server it lost a connection to as unknown: no need to wait for a server selection to time out)."""
        if self.available and not self.client.topology_description.has_writable_server():
            self.lost(ConnectionError("the driver has no writable server"))
        if not self.available:
            raise DatabaseUnavailable(UNAVAILABLE, RETRY_AFTER)

    def lost(self, exc: BaseException) -> None:
        if self.available:
            self.reason = f"{type(exc).__name__}: {str(exc).split(',')[0][:200]}"
            LOGGER.error("database lost: %s; refusing requests and pausing background work until it is back", self.reason)
            self._since = time.monotonic()
            self._up.clear()

    def recovered(self) -> None:
        if not self.available:
            LOGGER.warning("database is back after %.1fs; serving again", time.monotonic() - self._since)
            self._since = time.monotonic()
            self._up.set()

    async def wait_until_available(self) -> None:
        await self._up.wait()

    @contextlib.asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Refuse work at once while the database is down; turn a lost connection during it into DatabaseUnavailable."""
        self.check()
        try:
            yield
        except PyMongoError as exc:
            if not _unreachable(exc):
                raise
            self.lost(exc)
            raise DatabaseUnavailable(UNAVAILABLE, RETRY_AFTER) from exc

    async def watch(self) -> None:
        """Ping forever; mark the database lost and found, and restart a dead embedded one."""
        while True:
            if self.embedded is not None and self.embedded.exited:  # no need to ping a process that is gone
                self.lost(EmbeddedDatabaseError(f"embedded database exited with code {self.embedded.process.returncode}"))
                await self._restart_embedded()
            try:
                with pymongo.timeout(PING_TIMEOUT):
                    await self.client.admin.command("ping")
                if not self.available:
                    self.recovered()
                elif self.restarts and time.monotonic() - self._since > HEALTHY_RESET:
                    self.restarts = 0
            except PyMongoError as exc:
                self.lost(exc)
            await asyncio.sleep(CHECK_INTERVAL)

    async def _restart_embedded(self) -> None:
        assert self.embedded is not None and self.embedded.process is not None
        if self.restarts >= EMBEDDED_RESTARTS:
            return  # gave up (logged once); requests keep getting 503 and the log says why
        delay = EMBEDDED_RESTART_BACKOFF * 2**self.restarts
        self.restarts += 1
        self.restarts_total += 1
        LOGGER.error(
            "embedded database exited with code %s; restart %d of %d in %.0fs",
            self.embedded.process.returncode, self.restarts, EMBEDDED_RESTARTS, delay,
        )  # fmt: skip
        await asyncio.sleep(delay)
        try:
            await self.embedded.start()
        except EmbeddedDatabaseError as exc:
            LOGGER.error("embedded database restart %d failed: %s", self.restarts, exc)
            if self.restarts >= EMBEDDED_RESTARTS:
                LOGGER.critical(
                    "embedded database: giving up after %d restarts; SkyDriver answers 503 until it is restarted "
                    "(see %s)", EMBEDDED_RESTARTS, self.embedded.log_path,
                )  # fmt: skip
