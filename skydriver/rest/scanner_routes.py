"""Routes for the machines: the scanner reports progress and results, the starters report HTCondor clusters."""

from __future__ import annotations

from ..auth import SYSTEM, requires
from ..models import ManifestPatch, ResultPut
from .base import api, checked_scan_id
from .public import ManifestHandler, ResultHandler


class ManifestReportHandler(ManifestHandler):
    """PATCH /scan/manifest/SCAN_ID: progress, event/scan metadata, a condor cluster (appended or updated)."""

    @requires(SYSTEM)
    @api
    async def patch(self, scan_id: str) -> None:
        patch = self.body_model(ManifestPatch)
        self.write_json(await self.service.patch_manifest(checked_scan_id(scan_id), patch))


class ResultReportHandler(ResultHandler):
    """PUT /scan/result/SCAN_ID: a partial or the final result."""

    @requires(SYSTEM)
    @api
    async def put(self, scan_id: str) -> None:
        body = self.body_model(ResultPut)
        self.write_json(
            await self.service.put_result(checked_scan_id(scan_id), body.skyscan_result, body.is_final, self.json_body()[1])
        )
