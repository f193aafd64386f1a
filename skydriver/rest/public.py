"""Routes for alert pipelines and analysts: request, look up, follow, abort scans; read results and sky maps."""

from __future__ import annotations

from .. import __version__, json_codec, storable
from ..auth import SYSTEM, USER
from ..errors import ArgumentError
from ..models import (
    Backlog,
    BacklogArgs,
    FindScansArgs,
    IncludeDeletedArgs,
    LogsArgs,
    Manifest,
    ManifestGetArgs,
    NoArgs,
    RescanOverrides,
    Result,
    ResultSummary,
    ScanCreate,
    ScanIds,
    ScanList,
    ScanListArgs,
    ScanLogs,
    ScanRequestArgs,
    ScanStatus,
    ScanWhole,
    SkymapArgs,
    SkymapFitsArgs,
)
from ..results.renders import Kind
from ..results.renders import Request as RenderRequest
from ..scans import StoredResult
from .base import BaseHandler, Header, operation

IDEMPOTENCY_KEY = Header("Idempotency-Key", 200, "makes a retried POST return the scan the first one created")


class ScansHandler(BaseHandler):
    """/scans: scan ids of one run/event."""

    @operation("Scan ids of a run/event, oldest first", (USER,), arguments=FindScansArgs, response=ScanIds)
    async def get(self, args: FindScansArgs) -> None:
        self.write_json(await self.service.find(args.run_id, args.event_id, args.is_real_event, args.include_deleted))


class ScanLaunchHandler(BaseHandler):
    """/scan: request a new scan. Durable before it answers; an Idempotency-Key header makes retries safe."""

    @operation("Request a scan", (USER,), body=ScanCreate, response=Manifest, header=IDEMPOTENCY_KEY)
    async def post(self, args: ScanCreate) -> None:
        event = args.event_i3live_json
        if isinstance(event, str):
            try:
                event, _ = json_codec.loads(event)
            except json_codec.JsonDecodeError as exc:
                raise ArgumentError("event_i3live_json", str(exc)) from None
            if not isinstance(event, dict):
                raise ArgumentError("event_i3live_json", "the JSON text must hold an object")
            try:
                storable.check_depth(event)
            except storable.NotStorable as exc:
                raise ArgumentError("event_i3live_json", str(exc)) from None
        if not event:
            raise ArgumentError("event_i3live_json", "the event is empty")
        event_json = json_codec.dumps(event, json_codec.has_non_finite(event))
        key = self.request.headers.get(IDEMPOTENCY_KEY.name)
        self.write_json(await self.service.create(args, event, event_json, key))


class ManifestHandler(BaseHandler):
    """/scan/manifest/SCAN_ID (and /scan/SCAN_ID/manifest): read, abort; PATCH lives in scanner_routes."""

    @operation("A scan's manifest; with wait=SECONDS (at most 60), as soon as the scan changes", (USER, SYSTEM), arguments=ManifestGetArgs, response=Manifest)
    async def get(self, scan_id: str, args: ManifestGetArgs) -> None:
        if args.wait:
            self.write_json(await self.service.get_manifest_when_changed(scan_id, args.include_deleted, args.include_event, args.wait))
        else:
            self.write_json(await self.service.get_manifest(scan_id, args.include_deleted, args.include_event))

    @operation("Abort a scan: stop everything, mark it deleted (idempotent)", (USER,), arguments=NoArgs, response=Manifest)
    async def delete(self, scan_id: str, _: NoArgs) -> None:
        self.write_json(await self.service.delete_manifest(scan_id))


class ResultHandler(BaseHandler):
    """/scan/result/SCAN_ID (and /scan/SCAN_ID/result): read, delete; PUT lives in scanner_routes."""

    @operation("A scan's result ({} until written)", (USER, SYSTEM), arguments=IncludeDeletedArgs, response=Result)
    async def get(self, scan_id: str, args: IncludeDeletedArgs) -> None:
        await self.write_json_parts(await self.service.get_result(scan_id, args.include_deleted))

    @operation("Mark the result deleted", (USER,), arguments=NoArgs, response=Result)
    async def delete(self, scan_id: str, _: NoArgs) -> None:
        self.write_json(await self.service.delete_result(scan_id))


class ScanHandler(BaseHandler):
    """/scan/SCAN_ID: manifest and result together."""

    @operation("Manifest and result", (USER, SYSTEM), arguments=IncludeDeletedArgs, response=ScanWhole)
    async def get(self, scan_id: str, args: IncludeDeletedArgs) -> None:
        self.write_json(await self.service.get_manifest_and_result(scan_id, args.include_deleted))


class RenderHandler(BaseHandler):
    """What the result routes below share: outputs of the stored result, made by ``Renders`` (worker processes, each
    version once; 503 + Retry-After when they are all busy)."""

    async def render(self, scan_id: str, include_deleted: bool, kind: Kind, flat_nside: int | None = None) -> tuple[StoredResult, bytes]:
        async def made(stored: StoredResult) -> bytes:
            request = RenderRequest(kind, flat_nside, stored.scan_id, __version__, stored.scanner_image_tag, stored.reco_algo,
                                    tuple(sorted(stored.requested_nsides.items())))  # fmt: skip
            return await self.renders.get(request, stored.source)

        return await self.service.with_stored_result(scan_id, include_deleted, made)


class ResultSummaryHandler(RenderHandler):
    """/scan/SCAN_ID/result/summary: best fit, pixel counts, contour areas and lines (409 before the first result)."""

    @operation("Best fit, pixel counts, contour areas and lines", (USER, SYSTEM), arguments=IncludeDeletedArgs, response=ResultSummary)
    async def get(self, scan_id: str, args: IncludeDeletedArgs) -> None:
        self.write_json((await self.render(scan_id, args.include_deleted, "summary"))[1])


class SkymapHandler(RenderHandler):
    """/scan/SCAN_ID/skymap.png: the current result drawn (full sky, or zoom=true on the best fit; 409 before the
    first result)."""

    @operation("Sky map of the current result", (USER, SYSTEM), arguments=SkymapArgs, media_type="image/png")
    async def get(self, scan_id: str, args: SkymapArgs) -> None:
        _, png = await self.render(scan_id, args.include_deleted, "png-zoom" if args.zoom else "png")
        self.set_header("Content-Type", "image/png")
        self.write(png)


class SkymapFitsHandler(RenderHandler):
    """/scan/SCAN_ID/skymap.fits: the current result as a multi-order HEALPix FITS file (or flat=NSIDE: a
    single-resolution one); 409 before the first result."""

    @operation("HEALPix FITS map of the current result (multi-order, or flat=NSIDE)", (USER, SYSTEM), arguments=SkymapFitsArgs,
               media_type="application/fits")
    async def get(self, scan_id: str, args: SkymapFitsArgs) -> None:
        if args.flat is None:
            stored, fits = await self.render(scan_id, args.include_deleted, "fits")
            name = f"{stored.scan_id}.multiorder.fits"
        else:
            stored, fits = await self.render(scan_id, args.include_deleted, "fits-flat", args.flat)
            name = f"{stored.scan_id}.nside_{args.flat}.fits"
        self.set_header("Content-Type", "application/fits")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.write(fits)


class ScanListHandler(BaseHandler):
    """/scans/list: scans newest first, filtered by state and request, a page at a time."""

    @operation("Scans newest first, filtered by state and request, a page at a time", (USER,), arguments=ScanListArgs, response=ScanList)
    async def get(self, args: ScanListArgs) -> None:
        self.write_json(await self.service.list_scans(args))


class BacklogHandler(BaseHandler):
    """/scans/backlog: the scans waiting to be launched, in launch order."""

    @operation("Scans waiting to be launched, in launch order", (USER,), arguments=BacklogArgs, response=Backlog)
    async def get(self, args: BacklogArgs) -> None:
        self.write_json(await self.service.backlog(args.limit))


class ScanStatusHandler(BaseHandler):
    """/scan/SCAN_ID/status: the scan's state code, reason, failure, timestamps and progress."""

    @operation("The scan's state, reason, failure, timestamps and progress", (USER, SYSTEM), arguments=IncludeDeletedArgs, response=ScanStatus)
    async def get(self, scan_id: str, args: IncludeDeletedArgs) -> None:
        self.write_json(await self.service.get_status(scan_id, args.include_deleted))


class ScanRequestHandler(BaseHandler):
    """/scan/SCAN_ID/request: the POST arguments the scan was requested with (without its event)."""

    @operation("The POST arguments the scan was requested with (without its event)", (USER, SYSTEM), arguments=IncludeDeletedArgs,
               response=ScanRequestArgs)  # fmt: skip
    async def get(self, scan_id: str, args: IncludeDeletedArgs) -> None:
        self.write_json(await self.service.get_request(scan_id, args.include_deleted))


class RescanHandler(BaseHandler):
    """/scan/SCAN_ID/actions/rescan: the same event scanned again, with optional overrides."""

    @operation("Scan the same event again (optional overrides); the manifests record rescan_of / replaced_by", (USER,),
               body=RescanOverrides, response=Manifest)  # fmt: skip
    async def post(self, scan_id: str, overrides: RescanOverrides) -> None:
        self.write_json(await self.service.rescan(scan_id, overrides))


class ScanLogsHandler(BaseHandler):
    """/scan/SCAN_ID/logs: the last lines of the scanner server's or a starter's log."""

    @operation("The last lines of the scanner server's or a starter's log (local process or Kubernetes pod)", (USER, SYSTEM), arguments=LogsArgs, response=ScanLogs)
    async def get(self, scan_id: str, args: LogsArgs) -> None:
        self.write_json(await self.service.logs(scan_id, args.container, args.tail))
