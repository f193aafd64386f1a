"""Connecting to MongoDB (configured, or the embedded child process) and creating the indexes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, OperationFailure

from ..config import Settings
from ..embedded_db import EmbeddedDatabase
from .backlog import BacklogStore
from .blobs import BlobStore
from .events import EventStore
from .health import DatabaseHealth
from .manifests import ManifestStore
from .progress import WATCH
from .results import ResultStore
from .state_key import FIELD as STATE_KEY
from .state_key import key_earlier_scans, keys_complete

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
INDEX_NOT_FOUND = 27
PRIORITY_INDEX = [("request.priority", ASCENDING), (STATE_KEY, ASCENDING), ("created", DESCENDING), ("scan_id", DESCENDING)]
OBSOLETE_INDEXES = ("teardown_at_1", "complete_1", "idempotency_key_1")  # created by earlier versions; no query uses them now
# how long one operation waits for a reachable server: a lost database costs a request this much at most (the
# health monitor then refuses the next ones at once); the driver's default of 30 s made clients wait minutes
SERVER_SELECTION_TIMEOUT_MS = 3000
TRANSACTION_TIMEOUT = 10.0  # seconds a transaction may take, all PyMongo's own retries included (its default: 120)


@dataclasses.dataclass
class Database:
    """The open database and its stores."""

    client: AsyncMongoClient
    db: AsyncDatabase
    manifests: ManifestStore
    events: EventStore
    results: ResultStore
    backlog: BacklogStore
    blobs: BlobStore
    supports_transactions: bool
    health: DatabaseHealth
    embedded: EmbeddedDatabase | None = None
    scans_keyed: bool = True  # every scan that needs a state key has it (else lists read every scan)

    async def in_transaction(self, work: Callable[[AsyncClientSession | None], Awaitable[T]]) -> T:
        """Run ``work`` atomically where the server can (replica set); else in order, the caller's writes last-wins."""
        if not self.supports_transactions:
            return await work(None)

        async def attempt(session: AsyncClientSession) -> T:
            # DatabaseUnavailable is not a PyMongo error: with_transaction stops retrying once the database is lost
            self.health.check()
            return await work(session)

        async with self.client.start_session() as session:
            # with_transaction retries TransientTransactionError (write conflicts between concurrent requests)
            with pymongo.timeout(TRANSACTION_TIMEOUT):
                return await session.with_transaction(attempt)

    async def key_earlier_scans(self) -> None:
        """Give the scans stored before the state key theirs (a background task at start, when they lack it)."""
        began = time.monotonic()
        try:
            keyed = await key_earlier_scans(self.db)
        except Exception as exc:  # the next start tries again; lists stay exact meanwhile, reading every scan
            LOGGER.error("keying the scans stored before the state key failed: %r", exc)
            return
        self.scans_keyed = True
        if keyed is not None:
            LOGGER.info("state key given to %d scans stored before it, in %.1f s", keyed, time.monotonic() - began)

    async def close(self) -> None:
        await self.client.close()
        if self.embedded:
            self.embedded.stop()


async def _create_indexes(db: AsyncDatabase) -> None:
    existing = await db.manifests.index_information()
    for obsolete in OBSOLETE_INDEXES:
        if obsolete in existing:
            try:
                await db.manifests.drop_index(obsolete)
            except OperationFailure as exc:
                if exc.code != INDEX_NOT_FOUND:  # another replica starting up dropped it first
                    raise
    await db.manifests.create_index("scan_id", unique=True)
    # GET /scans: every equality it filters on, then the sort key, so neither a filter nor the sort reads documents
    await db.manifests.create_index(
        [("lookup.run_id", ASCENDING), ("lookup.event_id", ASCENDING), ("lookup.is_real_event", ASCENDING),
         ("is_deleted", ASCENDING), ("created", ASCENDING)]
    )  # fmt: skip
    # sparse, not partial: only scans POSTed with an Idempotency-Key have the field, and the embedded database's
    # planner never reads a partial index (each lookup would read every manifest)
    await db.manifests.create_index("idempotency_key", unique=True, sparse=True, name="idempotency_key_unique")
    # the teardown and reconcile loops' polls: each filters on one indexed field (see ManifestStore)
    await db.manifests.create_index([("teardown_at", ASCENDING), ("scan_id", ASCENDING)])
    await db.manifests.create_index("launch.status")
    # GET /scans/list: newest first, a page after another; of the scans that ended one way, or have not (state_key.py)
    await db.manifests.create_index([("created", DESCENDING), ("scan_id", DESCENDING)])
    await db.manifests.create_index([(STATE_KEY, ASCENDING), ("created", DESCENDING), ("scan_id", DESCENDING)])
    # and of one priority (its groups read one query each; the key after the priority, so one index serves both)
    await db.manifests.create_index(PRIORITY_INDEX)
    # the progress collection: the running scans' silence (progress.py; its _id is the scan_id)
    await db.progress.create_index(WATCH)
    await db.events.create_index("scan_id", unique=True)
    await db.results.create_index("scan_id", unique=True)
    await db.backlog.create_index("scan_id", unique=True)
    await db.backlog.create_index([("priority", DESCENDING), ("created", ASCENDING)])


async def open_database(settings: Settings) -> Database:
    """Connect (starting the embedded server when no MongoDB is configured), create indexes, return the stores."""
    embedded = None
    uri = settings.mongodb_uri
    if not uri:
        embedded = EmbeddedDatabase(settings.data_dir)
        uri = await embedded.start()
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri, tz_aware=True, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS
        )
        hello = await _first_contact(client, settings.mongodb_start_timeout)
        db = client[settings.mongodb_database]
        await _create_indexes(db)
        scans_keyed = await keys_complete(db)
    except BaseException:
        if embedded:
            embedded.stop()
        raise
    transactions = bool(hello.get("setName"))
    LOGGER.info("database ready: %s (transactions: %s)", "embedded" if embedded else "configured", transactions)
    blobs = BlobStore(db, uri)
    return Database(
        client=client,
        db=db,
        manifests=ManifestStore(db.manifests, db.progress),
        events=EventStore(db.events, blobs, cache_bytes=settings.event_cache_mb * 1024 * 1024),
        results=ResultStore(db.results, blobs),
        backlog=BacklogStore(db.backlog),
        blobs=blobs,
        supports_transactions=transactions,
        health=DatabaseHealth(client, embedded),
        embedded=embedded,
        scans_keyed=scans_keyed,
    )


async def _first_contact(client: AsyncMongoClient, timeout: float) -> dict[str, Any]:
    """The server's hello, waiting up to `timeout` seconds for a configured MongoDB that is still starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await client.admin.command("hello")
        except ConnectionFailure as exc:
            if time.monotonic() > deadline:
                raise
            LOGGER.warning("database not reachable yet (%s); retrying", type(exc).__name__)
            await asyncio.sleep(1.0)
