"""Routes for the machines: the scanner reports progress and results, the starters report HTCondor clusters."""

from __future__ import annotations

from ..auth import SYSTEM
from ..models import Manifest, ManifestPatch, Result, ResultPut
from .base import operation
from .bodies import ResultText, result_body
from .public import ManifestHandler, ResultHandler


class ManifestReportHandler(ManifestHandler):
    """PATCH /scan/manifest/SCAN_ID: progress, event/scan metadata, a condor cluster (appended or updated)."""

    @operation("Scanner/starter report: any of progress, event_metadata, scan_metadata, condor_cluster", (SYSTEM,), body=ManifestPatch, response=Manifest)
    async def patch(self, scan_id: str, patch: ManifestPatch) -> None:
        self.write_json(await self.service.patch_manifest(scan_id, patch))


class ResultReportHandler(ResultHandler):
    """PUT /scan/result/SCAN_ID: a partial or the final result (checked and encoded with the body, in a worker process
    when large)."""

    @operation("Scanner's partial or final result: skyscan_result (skyreader format) and is_final", (SYSTEM,), body=ResultPut,
               response=Result, parse_body=result_body)  # fmt: skip
    async def put(self, scan_id: str, body: ResultText) -> None:
        await self.write_json_parts(await self.service.put_result(scan_id, body.skyscan_result, body.is_final))
