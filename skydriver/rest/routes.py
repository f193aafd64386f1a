"""The URL map: the contract's routes, and the newer spellings existing clients call, on the same handlers."""

from __future__ import annotations

from typing import Any

from .base import ApiError, BaseHandler
from .public import ResultSummaryHandler, ScanHandler, ScanLaunchHandler, ScansHandler, SkymapHandler
from .scan_events import ScanEventsHandler
from .scanner_routes import ManifestReportHandler, ResultReportHandler

SCAN_ID = r"([^/]+)"

ROUTES: list[tuple[str, type]] = [
    (r"/scans", ScansHandler),
    (r"/scan", ScanLaunchHandler),
    (rf"/scan/manifest/{SCAN_ID}", ManifestReportHandler),
    (rf"/scan/{SCAN_ID}/manifest", ManifestReportHandler),
    (rf"/scan/result/{SCAN_ID}", ResultReportHandler),
    (rf"/scan/{SCAN_ID}/result", ResultReportHandler),
    (rf"/scan/{SCAN_ID}/result/summary", ResultSummaryHandler),
    (rf"/scan/{SCAN_ID}/skymap\.png", SkymapHandler),
    (rf"/scan/{SCAN_ID}/events", ScanEventsHandler),
    (rf"/scan/{SCAN_ID}", ScanHandler),
]


class UnknownRouteHandler(BaseHandler):
    """Any other path: a JSON 404 that says so, like every other error."""

    def prepare(self) -> None:
        raise ApiError(404, f"no such route: {self.request.method} {self.request.path[:200]}")


def add_routes(server: Any, handler_args: dict[str, Any]) -> None:
    for pattern, handler in ROUTES:
        server.add_route(pattern, handler, handler_args)
    server.app_args.update(default_handler_class=UnknownRouteHandler, default_handler_args=handler_args)
