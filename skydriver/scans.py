"""The scan service: what each route does, independent of HTTP (the REST layer only translates).

Responses are built as JSON bytes here because the big parts (the event, the result) are stored as JSON text and
spliced in unchanged rather than decoded and re-encoded on every poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from . import __version__, json_codec
from .config import Settings
from .database import Database
from .database.blob_reader import BlobAddress, BlobGone
from .database.manifests import now
from .database.records import LaunchStatus, ScanRecord
from .database.results import READ_ATTEMPTS as RESULT_READ_ATTEMPTS
from .database.results import readable_without_manifest
from .docker_tags import DockerTagResolver
from .errors import (
    ArgumentError,
    IdempotencyConflict,
    IdempotencyKeyTaken,
    LogsUnavailable,
    NoResultYet,
    ResultUnreadable,
    ScanNotFound,
)
from .event_format import EventFormatError, EventInfo, read_event
from .launchers import LaunchedScan, Launcher, ScanRequest, WorkerCluster, plan_for
from .metrics import Metrics
from .models import MAX_CONDOR_CLUSTERS, Launch, Manifest, ManifestPatch, RescanOverrides, ScanCreate, ScanListArgs
from .scan_list import list_scans
from .scan_request_checks import check_reco_algo, resolve_clusters
from .scan_status import status_view
from .scan_watch import ScanSnapshot, ScanWatcher

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

# the Manifest response: its model's fields, each read from the stored scan's field of that name but these
MANIFEST_FIELDS = tuple(name for name in Manifest.model_fields if name not in ("event_i3live_json_dict", "launch", "status"))
LAUNCH_FIELDS = tuple(Launch.model_fields)


@dataclasses.dataclass(frozen=True)
class StoredResult:
    """A result as what is made of it needs it, and where it came from (for the header of files made from it)."""

    source: bytes | BlobAddress
    """The result's JSON text, or where a render process reads it itself (a large result's GridFS file)."""
    scan_id: str
    scanner_image_tag: str
    reco_algo: str
    requested_nsides: dict[str, int]


def manifest_json(scan: ScanRecord, event_json: bytes | None, settings: Settings) -> bytes:
    """The Manifest response: the contract's fields (+ scan_id, is_deleted, docker_tag, launch, status), event spliced in."""
    view = {k: getattr(scan, k) for k in MANIFEST_FIELDS}
    view["launch"] = {k: getattr(scan.launch, k) for k in LAUNCH_FIELDS}
    view["status"] = status_view(scan, now(), settings.stall_after, settings.logs_url_template)
    if event_json is None:
        view["event_i3live_json_dict"] = None
        return json_codec.splice(view, {})
    return json_codec.splice(view, {"event_i3live_json_dict": event_json})


def result_json(doc: dict[str, Any] | None) -> bytes:
    """The Result response, or ``{}`` when no result was written yet."""
    return b"".join(result_parts(None if doc is None else {**doc, "json_parts": [doc["json"]]}))


def result_parts(doc: dict[str, Any] | None) -> list[bytes]:
    """`result_json` in pieces, from a document read with its text in parts (``json_parts``)."""
    if doc is None:
        return [b"{}"]
    view = {"scan_id": doc["scan_id"], "is_deleted": doc["is_deleted"], "is_final": doc["is_final"]}
    return json_codec.splice_parts(view, {"skyscan_result": doc["json_parts"]})


def original_arguments(scan: ScanRecord) -> dict[str, Any]:
    """The POST arguments a stored scan was requested with (its event apart): GET /scan/ID/request, rescans."""
    req = scan.request
    return {
        "docker_tag": req["docker_tag_requested"],
        "cluster": [[c["name"], c["n_workers"]] for c in req["clusters"]],
        "reco_algo": req["reco_algo"],
        "nsides": req["nsides"],
        "real_or_simulated_event": "real" if req["is_real_event"] else "simulated",
        "memory": req["memory"],
        "predictive_scanning_threshold": req["predictive_scanning_threshold"],
        "max_reco_time": req["max_reco_time"],
        "priority": req["priority"],
    }


def scan_request(scan: ScanRecord, skydriver_address: str) -> ScanRequest:
    """The launcher's view of a stored scan."""
    req = scan.request
    return ScanRequest(
        scan_id=scan.scan_id,
        docker_tag=scan.docker_tag,
        reco_algo=req["reco_algo"],
        nsides={int(k): v for k, v in req["nsides"].items()},
        is_real_event=req["is_real_event"],
        predictive_scanning_threshold=req["predictive_scanning_threshold"],
        memory=req["memory"],
        max_reco_time=req["max_reco_time"],
        clusters=tuple(WorkerCluster(**c) for c in req["clusters"]),
        skydriver_address=skydriver_address,
    )


def readable_event(event: dict[str, Any], is_real_event: bool) -> EventInfo:
    """What the scanner will read from the event; an event it could not read is refused now, not 30 s later."""
    try:
        return read_event(event, is_real_event)
    except EventFormatError as exc:
        raise ArgumentError("event_i3live_json", f"the scanner cannot read this event: {exc}") from None


def event_lookup(info: EventInfo) -> dict[str, Any]:
    """Run/event ids as the scanner will report them, so GET /scans finds a scan from the moment it is accepted."""
    meta = info.metadata
    return {"run_id": meta.run_id, "event_id": meta.event_id, "is_real_event": meta.is_real_event}


@dataclasses.dataclass
class ScanService:
    settings: Settings
    database: Database
    tags: DockerTagResolver
    launcher: Launcher | None
    skydriver_address: str
    watcher: ScanWatcher
    metrics: Metrics
    # set when a scan enters the backlog here: wakes the backlog runner at once (other replicas' scans wait for its poll)
    scan_accepted: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    # ----------------------------------------------------------------------------------------------------------------
    # public routes

    async def create(
        self, args: ScanCreate, event: dict[str, Any], event_json: bytes, idempotency_key: str | None, rescan_of: str | None = None
    ) -> bytes:
        """Record a scan durably (event, manifest, backlog entry) and return its Manifest; launching comes later.

        A retry is recognised by its parsed request (defaults filled in, the event as an object), so the same request
        re-sent with other whitespace, key order or event form is the same request.
        """
        parsed = {**args.model_dump(exclude={"event_i3live_json"}), "event_i3live_json": event}
        request_hash = hashlib.sha256(json_codec.canonical(parsed)).hexdigest()
        if idempotency_key and (earlier := await self._earlier_request(idempotency_key, request_hash)):
            return earlier
        clusters = resolve_clusters(args, self.settings, self.launcher)
        check_reco_algo(args, self.launcher)
        event_info = readable_event(event, args.is_real_event())
        docker_tag = await self.tags.resolve(args.docker_tag)
        scan_id = uuid.uuid4().hex
        request = {
            "reco_algo": args.reco_algo,
            "nsides": {str(k): v for k, v in sorted(args.nsides_ints().items())},
            "is_real_event": args.is_real_event(),
            "predictive_scanning_threshold": args.predictive_scanning_threshold,
            "memory": args.memory,
            "max_reco_time": args.max_reco_time,
            "clusters": [dataclasses.asdict(c) for c in clusters],
            "priority": args.priority,
            "docker_tag_requested": args.docker_tag,
        }
        doc: dict[str, Any] = {
            "scan_id": scan_id,
            "is_deleted": False,
            "created": now(),
            "docker_tag": docker_tag,
            "skydriver_version": __version__,
            "request": request,
            "condor_clusters": [],
            "event_metadata": None,
            "scan_metadata": None,
            "progress": None,
            "complete": False,
            "launch": {"launcher": self.settings.launcher, "status": LaunchStatus.WAITING, "reason": None, "attempts": 0, "state": None},
            "teardown_at": None,
            "lookup": event_lookup(event_info),
            "request_hash": request_hash,
            "rescan_of": rescan_of,
            "replaced_by": None,
        }
        if idempotency_key:
            doc["idempotency_key"] = idempotency_key
        doc.update(dataclasses.asdict(plan_for(self.launcher, scan_request(ScanRecord.from_doc(doc), self.skydriver_address))))

        event_fields = await self.database.events.text_fields(scan_id, event_json)

        async def write(session: Any) -> None:
            await self.database.events.insert(scan_id, event_fields, session)
            await self.database.manifests.insert(doc, session)
            await self.database.backlog.insert(scan_id, args.priority, session)

        try:
            await self.database.in_transaction(write)
        except IdempotencyKeyTaken:
            await self.database.blobs.discard(event_fields)
            if earlier := await self._earlier_request(idempotency_key or "", request_hash):
                return earlier  # a concurrent retry of the same request won
            raise
        except Exception:
            with contextlib.suppress(Exception):  # (a large event's GridFS file; the database may be what failed)
                await self.database.blobs.discard(event_fields)
            raise
        self.scan_accepted.set()
        self.database.events.remember(scan_id, event_json)
        if rescan_of:
            await self.database.manifests.record_rescan(rescan_of, scan_id)
        LOGGER.info("scan %s accepted (docker_tag %s -> %s, priority %d)", scan_id, args.docker_tag, docker_tag, args.priority)
        return manifest_json(ScanRecord.from_doc(doc), event_json, self.settings)

    async def _earlier_request(self, key: str, request_hash: str) -> bytes | None:
        scan = await self.database.manifests.get_by_idempotency_key(key)
        if scan is None:
            return None
        if scan.request_hash != request_hash:
            raise IdempotencyConflict(f"Idempotency-Key {key!r} was already used for a different request (scan {scan.scan_id})")
        return manifest_json(scan, await self.database.events.get_json(scan.scan_id), self.settings)

    async def find(self, run_id: int, event_id: int, is_real_event: bool, include_deleted: bool) -> bytes:
        ids = await self.database.manifests.find_scan_ids(run_id, event_id, is_real_event, include_deleted)
        return json_codec.dumps({"event_id": event_id, "scan_ids": ids})

    async def get_manifest(self, scan_id: str, include_deleted: bool, include_event: bool = True) -> bytes:
        if not include_event:
            return manifest_json(await self.database.manifests.get(scan_id, include_deleted), None, self.settings)
        scan, event_json = await asyncio.gather(
            self.database.manifests.get(scan_id, include_deleted), self.database.events.get_json(scan_id)
        )
        return manifest_json(scan, event_json, self.settings)

    async def get_status(self, scan_id: str, include_deleted: bool) -> bytes:
        """The scan's state, reason, failure, timestamps and progress: what a pipeline decides to wait, retry or escalate on."""
        scan = await self.database.manifests.get(scan_id, include_deleted)
        return json_codec.dumps(status_view(scan, now(), self.settings.stall_after, self.settings.logs_url_template))

    async def get_request(self, scan_id: str, include_deleted: bool) -> bytes:
        return json_codec.dumps(original_arguments(await self.database.manifests.get(scan_id, include_deleted)))

    async def rescan(self, scan_id: str, overrides: RescanOverrides) -> bytes:
        """A new scan of the same event from the stored request, with overrides; the two manifests point at each other."""
        scan = await self.database.manifests.get(scan_id)
        event_json = await self.database.events.get_json(scan_id)
        assert event_json is not None, f"scan {scan_id} has no stored event"
        arguments = {**original_arguments(scan), **overrides.model_dump(exclude_none=True)}
        event = json_codec.loads(event_json)[0]
        args = ScanCreate.model_validate({**arguments, "event_i3live_json": event})
        return await self.create(args, event, event_json, None, rescan_of=scan_id)

    async def logs(self, scan_id: str, container: str, tail: int) -> bytes:
        """The last lines of one of the scan's containers, read where its launcher keeps them."""
        scan = await self.database.manifests.get(scan_id)
        if self.launcher is None or scan.launch.launcher != self.launcher.name or not scan.launch.state:
            raise LogsUnavailable(f"scan {scan_id} has no logs here: it was not launched by this SkyDriver's launcher (yet)")
        lines = await self.launcher.logs(LaunchedScan.from_manifest(scan), container, tail)
        if lines is None:
            raise ArgumentError("container", f"scan {scan_id} has no container {container!r}")
        return json_codec.dumps({"scan_id": scan_id, "container": container, "lines": lines})

    async def list_scans(self, args: ScanListArgs) -> bytes:
        return json_codec.dumps(await list_scans(self.database, args, self.settings))

    async def backlog(self, limit: int) -> bytes:
        entries = await self.database.backlog.in_launch_order(limit)
        keys = ("scan_id", "priority", "created", "attempts", "next_attempt_at")
        return json_codec.dumps({"scans": [{k: entry[k] for k in keys} for entry in entries]})

    async def watch_snapshot(self, scan_id: str, include_deleted: bool) -> ScanSnapshot:
        """The scan as progress streams see it; ScanNotFound for unknown (or deleted, unless asked for) scans."""
        snapshot = (await self.watcher.snapshots([scan_id])).get(scan_id)
        if snapshot is None or (snapshot.is_deleted and not include_deleted):
            raise ScanNotFound(scan_id)
        return snapshot

    async def get_manifest_when_changed(self, scan_id: str, include_deleted: bool, include_event: bool, wait: float) -> bytes:
        """The manifest as soon as the scan changes (state, progress or result), or after `wait` seconds."""
        async with self.watcher.subscribe(scan_id) as subscription:
            subscription.latest = await self.watch_snapshot(scan_id, include_deleted)
            if not subscription.latest.ended:
                await subscription.next(wait)
        return await self.get_manifest(scan_id, include_deleted, include_event)

    async def delete_manifest(self, scan_id: str) -> bytes:
        """Abort: mark deleted, take it out of the backlog, and have the teardown loop stop whatever runs."""
        await self.database.manifests.get(scan_id)
        if await self.database.backlog.remove(scan_id):
            # never launched: nothing to tear down (a launch already in flight is checked by the runner)
            await self.database.manifests.stop_before_launch(scan_id)
        # the result's mirror is marked first, so that a DELETE cut short never leaves a deleted scan's result
        # readable, and again after the manifest, for a first result PUT racing this DELETE (see put_result)
        await self.database.results.mark_scan_deleted(scan_id)
        scan = await self.database.manifests.mark_deleted(scan_id)
        await self.database.results.mark_scan_deleted(scan_id)
        LOGGER.info("scan %s deleted", scan_id)
        return manifest_json(scan, await self.database.events.get_json(scan_id), self.settings)

    async def get_result(self, scan_id: str, include_deleted: bool) -> list[bytes]:
        """The result, as the pieces of its JSON text (a large result's stored chunks are not joined: the handler
        writes them out one by one); a final result for a scan still running also schedules its teardown (the
        contract's effect).

        Polls read the result document alone when it mirrors its scan's state; else the manifest is read as well.
        """
        doc = await self.database.results.get(scan_id, in_parts=True)
        if doc is None or not readable_without_manifest(doc):
            return await self._get_result_checking_manifest(scan_id, doc, include_deleted)
        if (doc["scan_deleted"] or doc["is_deleted"]) and not include_deleted:
            raise ScanNotFound(scan_id)
        return result_parts(doc)

    async def _get_result_checking_manifest(
        self, scan_id: str, doc: dict[str, Any] | None, include_deleted: bool
    ) -> list[bytes]:
        manifest = await self.database.manifests.get(scan_id, include_deleted)
        if doc is not None and doc["is_deleted"] and not include_deleted:
            raise ScanNotFound(scan_id)
        if doc is not None and doc["is_final"] and not doc.get("teardown_handled"):
            await self._handle_final(scan_id, manifest)
        return result_parts(doc)

    async def _handle_final(self, scan_id: str, manifest: ScanRecord) -> None:
        """Schedule the teardown after a final result (unless done or scheduled already), then record that it is."""
        await self.database.manifests.record_final_result(scan_id, now())
        if not manifest.complete and manifest.teardown_at is None:
            await self.database.manifests.schedule_teardown(scan_id, now() + self._teardown_delay())
            LOGGER.info("scan %s: final result; teardown in %.0fs", scan_id, self.settings.wait_before_teardown)
        await self.database.results.mark_teardown_handled(scan_id)

    async def delete_result(self, scan_id: str) -> bytes:
        await self.database.manifests.get(scan_id)
        doc = await self.database.results.mark_deleted(scan_id)
        return result_json(doc)

    async def get_manifest_and_result(self, scan_id: str, include_deleted: bool) -> bytes:
        scan = await self.database.manifests.get(scan_id, include_deleted)
        manifest = manifest_json(scan, await self.database.events.get_json(scan_id), self.settings)
        result = await self.database.results.get(scan_id)
        if result is not None and result["is_deleted"] and not include_deleted:
            result = None
        return b'{"manifest":' + manifest + b',"result":' + result_json(result) + b"}"

    async def with_stored_result(
        self, scan_id: str, include_deleted: bool, use: Callable[[StoredResult], Awaitable[T]]
    ) -> tuple[StoredResult, T]:
        """`use` of the stored result (to make its summary, its sky maps), given again the newer result if the one it
        was given was replaced before a render process read its GridFS file."""
        for _ in range(RESULT_READ_ATTEMPTS):
            stored = await self.get_stored_result(scan_id, include_deleted)
            try:
                return stored, await use(stored)
            except BlobGone:
                LOGGER.info("scan %s: the result was replaced while it was read; reading the newer one", scan_id)
            except ResultUnreadable as exc:
                LOGGER.error("scan %s: a render process could not read the result: %s", scan_id, exc.cause)
                raise
        raise RuntimeError(f"scan {scan_id}: the result kept changing while it was read")

    async def get_stored_result(self, scan_id: str, include_deleted: bool) -> StoredResult:
        """The stored ``skyscan_result`` (its text, or where its GridFS file is); NoResultYet before the first one
        arrives, ScanNotFound for an unknown or deleted scan or a deleted result."""
        manifest = await self.database.manifests.get(scan_id, include_deleted)
        doc = await self.database.results.source(scan_id)
        if doc is None:
            raise NoResultYet(scan_id)
        if doc["is_deleted"] and not include_deleted:
            raise ScanNotFound(scan_id)
        request = manifest.request
        source = doc["json"] if doc["blob"] is None else doc["blob"]
        return StoredResult(source, scan_id, manifest.docker_tag, request["reco_algo"], request["nsides"])

    # ----------------------------------------------------------------------------------------------------------------
    # scanner-facing routes

    async def patch_manifest(self, scan_id: str, patch: ManifestPatch) -> bytes:
        fields: dict[str, Any] = {}
        if patch.progress is not None:
            fields["progress"] = patch.progress.model_dump(exclude_unset=True)  # as sent, no defaults added
        if patch.scan_metadata is not None:
            fields["scan_metadata"] = patch.scan_metadata
        if patch.event_metadata is not None:
            meta = patch.event_metadata.model_dump()
            fields["event_metadata"] = meta
            fields["lookup"] = {"run_id": meta["run_id"], "event_id": meta["event_id"], "is_real_event": meta["is_real_event"]}
        cluster = patch.condor_cluster.model_dump(exclude_none=True) if patch.condor_cluster else None
        scan = await self.database.manifests.patch(scan_id, fields, cluster, MAX_CONDOR_CLUSTERS)
        if patch.progress is not None:
            self.metrics.progress_reports.inc()
        return manifest_json(scan, None, self.settings)

    async def put_result(self, scan_id: str, stored: bytes, is_final: bool) -> list[bytes]:
        """Store a result text, already checked against HEALPix geometry and encoded, atomically (a final is never
        replaced by a partial)."""
        manifest = await self.database.manifests.get(scan_id)
        outcome = await self.database.results.put(scan_id, stored, is_final)
        self.metrics.results.labels("final" if is_final else "partial").inc()
        self.metrics.result_bytes.inc(len(stored))
        if outcome.created and (await self.database.manifests.get(scan_id)).is_deleted:
            # the scan was deleted before this first write: the DELETE (which marks the result after the manifest)
            # may have found no result to mark
            await self.database.results.mark_scan_deleted(scan_id)
        if not outcome.accepted:
            LOGGER.warning("scan %s: partial result after the final one ignored", scan_id)
        elif is_final:
            await self._handle_final(scan_id, manifest)
        return result_parts({**outcome.stored, "json_parts": [outcome.stored["json"]]})  # not copied into one text

    def _teardown_delay(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.wait_before_teardown)
