"""Reading a GridFS text from another process: render processes read a large result themselves.

A million-pixel result is ~40 MB. Read by SkyDriver, hashed to find its kept outputs and pickled through a pipe to a
render process, it cost 0.13 s of SkyDriver's CPU and 40 MB of its memory per render, and the render process ~0.1 s
to receive it; read here, where it is parsed, it costs one read (0.08 s). GridFS files are written once and deleted
when replaced, so a file's id names one text for good (the key of what is made of it) and a file gone names a
replaced result.

Render processes have no event loop: this is PyMongo's synchronous client, one per database server and process, kept.
"""

from __future__ import annotations

import collections
import dataclasses
import threading

from bson import ObjectId
from gridfs import GridFSBucket
from gridfs.errors import CorruptGridFile, NoFile
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from ..errors import ResultUnreadable

CLIENTS_KEPT = 2  # per process: tests point one pool of render processes at a new database each time
SERVER_SELECTION_TIMEOUT_MS = 3000  # as SkyDriver's own client (database.connection)


@dataclasses.dataclass(frozen=True)
class BlobAddress:
    """Where a GridFS text is, for a process with no connection of its own yet."""

    uri: str = dataclasses.field(repr=False)  # may hold the database's password: never in a log line
    database: str
    bucket: str
    file_id: ObjectId


class BlobGone(Exception):
    """The file was deleted (its result replaced by a newer one) before or while it was read."""


_clients: collections.OrderedDict[str, MongoClient] = collections.OrderedDict()
_clients_lock = threading.Lock()


def read_blob(address: BlobAddress) -> bytes:
    """The whole text of a GridFS file; BlobGone when it is no longer there (read the document again), ResultUnreadable
    when this process cannot reach the database (a 503 for this request alone, not a lost database)."""
    bucket = GridFSBucket(_client(address.uri)[address.database], bucket_name=address.bucket)
    try:
        return bucket.open_download_stream(address.file_id).read()
    except (NoFile, CorruptGridFile):
        raise BlobGone(f"GridFS file {address.file_id} was deleted") from None
    except PyMongoError as exc:
        raise ResultUnreadable(f"{type(exc).__name__}: {exc}") from None


def _client(uri: str) -> MongoClient:
    with _clients_lock:
        if (client := _clients.get(uri)) is not None:
            _clients.move_to_end(uri)
            return client
        client = _clients[uri] = MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS)
        while len(_clients) > CLIENTS_KEPT:
            _clients.popitem(last=False)[1].close()
        return client
