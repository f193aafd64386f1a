"""Routes for alert pipelines and analysts: request, look up, follow, abort scans; read results and sky maps."""

from __future__ import annotations

import asyncio

from .. import json_codec
from ..auth import SYSTEM, USER, requires
from ..models import FindScansArgs, IncludeDeletedArgs, ManifestGetArgs, NoArgs, ScanCreate
from .base import ApiError, BaseHandler, api, checked_scan_id

IDEMPOTENCY_HEADER = "Idempotency-Key"


class ScansHandler(BaseHandler):
    """/scans: scan ids of one run/event."""

    @requires(USER)
    @api
    async def get(self) -> None:
        args = self.arguments(FindScansArgs)
        self.write_json(await self.service.find(args.run_id, args.event_id, args.is_real_event, args.include_deleted))


class ScanLaunchHandler(BaseHandler):
    """/scan: request a new scan. Durable before it answers; an Idempotency-Key header makes retries safe."""

    @requires(USER)
    @api
    async def post(self) -> None:
        args = self.body_model(ScanCreate)
        event = args.event_i3live_json
        if isinstance(event, str):
            try:
                event, _ = json_codec.loads(event)
            except json_codec.JsonDecodeError as exc:
                raise ApiError(400, f"argument 'event_i3live_json': {exc}") from None
            if not isinstance(event, dict):
                raise ApiError(400, "argument 'event_i3live_json': the JSON text must hold an object")
        if not event:
            raise ApiError(400, "argument 'event_i3live_json': the event is empty")
        event_json = json_codec.dumps(event, json_codec.has_non_finite(event))
        key = self.request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not 1 <= len(key) <= 200:
            raise ApiError(400, f"header '{IDEMPOTENCY_HEADER}': must be 1-200 characters")
        self.write_json(await self.service.create(args, event, event_json, key, self.body_bytes))


class ManifestHandler(BaseHandler):
    """/scan/manifest/SCAN_ID (and /scan/SCAN_ID/manifest): read, abort; PATCH lives in scanner_routes."""

    @requires(USER, SYSTEM)
    @api
    async def get(self, scan_id: str) -> None:
        args = self.arguments(ManifestGetArgs)
        scan_id = checked_scan_id(scan_id)
        if args.wait:
            self.write_json(await self.service.get_manifest_when_changed(scan_id, args.include_deleted, args.include_event, args.wait))
        else:
            self.write_json(await self.service.get_manifest(scan_id, args.include_deleted, args.include_event))

    @requires(USER)
    @api
    async def delete(self, scan_id: str) -> None:
        self.arguments(NoArgs)
        self.write_json(await self.service.delete_manifest(checked_scan_id(scan_id)))


class ResultHandler(BaseHandler):
    """/scan/result/SCAN_ID (and /scan/SCAN_ID/result): read, delete; PUT lives in scanner_routes."""

    @requires(USER, SYSTEM)
    @api
    async def get(self, scan_id: str) -> None:
        args = self.arguments(IncludeDeletedArgs)
        self.write_json(await self.service.get_result(checked_scan_id(scan_id), args.include_deleted))

    @requires(USER)
    @api
    async def delete(self, scan_id: str) -> None:
        self.arguments(NoArgs)
        self.write_json(await self.service.delete_result(checked_scan_id(scan_id)))


class ScanHandler(BaseHandler):
    """/scan/SCAN_ID: manifest and result together."""

    @requires(USER, SYSTEM)
    @api
    async def get(self, scan_id: str) -> None:
        args = self.arguments(IncludeDeletedArgs)
        self.write_json(await self.service.get_whole(checked_scan_id(scan_id), args.include_deleted))


class ResultSummaryHandler(BaseHandler):
    """/scan/SCAN_ID/result/summary: best fit, pixel counts, contour areas."""

    @requires(USER, SYSTEM)
    @api
    async def get(self, scan_id: str) -> None:
        args = self.arguments(IncludeDeletedArgs)
        result = await self.service.result_for_science(checked_scan_id(scan_id), args.include_deleted)
        from ..results.summary import summarize  # healpy is slow to import: only when a summary is asked for

        summary = await asyncio.to_thread(summarize, result)
        self.write_json(json_codec.dumps(summary, json_codec.has_non_finite(summary)))


class SkymapArgs(IncludeDeletedArgs):
    zoom: bool = False


class SkymapHandler(BaseHandler):
    """/scan/SCAN_ID/skymap.png: the current result drawn (full sky, or zoom=true on the best fit)."""

    @requires(USER, SYSTEM)
    @api
    async def get(self, scan_id: str) -> None:
        args = self.arguments(SkymapArgs)
        result = await self.service.result_for_science(checked_scan_id(scan_id), args.include_deleted)
        from ..results.skymap import render_png  # matplotlib is slow to import: only when a map is asked for

        png = await asyncio.to_thread(render_png, result, args.zoom)
        self.set_header("Content-Type", "image/png")
        self.write(png)
