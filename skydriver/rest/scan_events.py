"""/scan/SCAN_ID/events: a scan's changes as server-sent events, for people and programs that follow a scan live."""

from __future__ import annotations

import json

import tornado.iostream

from ..auth import SYSTEM, USER
from ..models import IncludeDeletedArgs
from ..scan_watch import ScanSnapshot
from .base import BaseHandler, operation

KEEPALIVE_SECONDS = 15.0


def sse_event(kind: str, snapshot: ScanSnapshot) -> bytes:
    data = json.dumps(snapshot.as_json(), separators=(",", ":"))
    return f"event: {kind}\nid: {snapshot.event_id}\ndata: {data}\n\n".encode()


class ScanEventsHandler(BaseHandler):
    """One event per change of state, progress report and result (each carrying the scan's whole small snapshot),
    then `end` when nothing will change any more; a comment line every 15 s keeps proxies from closing the stream.
    With `Last-Event-ID`, the current state is not re-sent if the client has already seen it."""

    keepalive_seconds = KEEPALIVE_SECONDS

    @operation(
        "The scan's changes as server-sent events (state, progress, result, end)",
        (USER, SYSTEM),
        arguments=IncludeDeletedArgs,
        media_type="text/event-stream",
    )
    async def get(self, scan_id: str, args: IncludeDeletedArgs) -> None:
        watcher = self.service.watcher
        async with watcher.subscribe(scan_id) as subscription:
            snapshot = await self.service.watch_snapshot(scan_id, args.include_deleted)
            subscription.latest = snapshot
            self.set_header("Content-Type", "text/event-stream")
            self.set_header("Cache-Control", "no-cache")
            self.set_header("X-Accel-Buffering", "no")  # nginx: do not buffer the stream
            seen = self.request.headers.get("Last-Event-ID")
            try:
                before = None
                while True:
                    if snapshot is not None:
                        if snapshot.event_id != seen:
                            for kind in snapshot.changes_since(before):
                                self.write(sse_event(kind, snapshot))
                        before, seen = snapshot, None
                        if snapshot.ended:
                            self.write(sse_event("end", snapshot))
                            await self.flush()
                            return
                    else:
                        self.write(": keepalive\n\n")
                    await self.flush()
                    snapshot = await subscription.next(self.keepalive_seconds)
                    if subscription.closed:
                        return  # SkyDriver is stopping: end the response cleanly; clients reconnect elsewhere
            except tornado.iostream.StreamClosedError:
                return  # the client went away
