"""JSON texts too big for one MongoDB document (16 MB), kept in GridFS: large results and events.

A text up to INLINE_MAX_BYTES stays inside its own document (one read, as before); a larger one goes to GridFS and
its document holds the file's id. GridFS files are written once and never changed: a replaced result's file is
deleted by the write that replaced it.
"""

from __future__ import annotations

from typing import Any

from bson import Binary, ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import CorruptGridFile, NoFile
from pymongo.asynchronous.database import AsyncDatabase

from .blob_reader import BlobAddress

INLINE_MAX_BYTES = 12 * 1024 * 1024  # leaves room under MongoDB's 16 MiB for the document's other fields
CHUNK_BYTES = 4 * 1024 * 1024


class BlobStore:
    def __init__(self, db: AsyncDatabase, uri: str, bucket_name: str = "blobs"):
        self.bucket = AsyncGridFSBucket(db, bucket_name=bucket_name, chunk_size_bytes=CHUNK_BYTES)
        self._uri, self._database, self._bucket_name = uri, db.name, bucket_name

    async def fields(self, text: bytes, owner: str) -> dict[str, Any]:
        """The document fields that hold ``text``: ``json`` inline, or ``blob`` (a GridFS file, written now)."""
        if len(text) <= INLINE_MAX_BYTES:
            return {"json": Binary(text), "blob": None}
        return {"json": None, "blob": await self.bucket.upload_from_stream(owner, text)}

    async def text(self, doc: dict[str, Any]) -> bytes | None:
        """The text a document holds; None when its GridFS file is gone (replaced by a concurrent write: read again)."""
        parts = await self.parts(doc)
        return None if parts is None else parts[0] if len(parts) == 1 else b"".join(parts)

    async def parts(self, doc: dict[str, Any]) -> list[bytes] | None:
        """`text` as the chunks it is stored in (read one by one, never joined), or None as for `text`."""
        if doc.get("blob") is None:
            return [bytes(doc["json"])]
        parts = []
        try:
            stream = await self.bucket.open_download_stream(doc["blob"])
            while chunk := await stream.readchunk():
                parts.append(chunk)
        except (NoFile, CorruptGridFile):  # files are never changed, only deleted: this one was, while it was read
            return None
        return parts

    def address(self, doc: dict[str, Any]) -> BlobAddress | None:
        """Where another process can read the text of a document kept in GridFS (``blob_reader``); None when the text
        is in the document."""
        blob = doc.get("blob")
        return None if blob is None else BlobAddress(self._uri, self._database, self._bucket_name, blob)

    async def discard(self, fields: dict[str, Any]) -> None:
        """Delete the GridFS file of fields that were not (or are no longer) stored in their document."""
        blob: ObjectId | None = fields.get("blob")
        if blob is not None:
            try:
                await self.bucket.delete(blob)
            except NoFile:
                pass  # already deleted
