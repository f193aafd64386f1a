"""The route table: each path and its handler, declared once; Tornado's URL map and the OpenAPI paths are built from it.

What each method of a handler accepts, who may call it and what it answers is declared on the method (``operation``);
the contract's routes and the newer spellings existing clients call share handlers.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..dashboard import dashboard_routes
from ..errors import RouteNotFound
from .base import BaseHandler, Operation, check_request_head
from .operations import HealthHandler, MetricsHandler, OpenApiHandler, ReadinessHandler
from .public import (
    BacklogHandler,
    RescanHandler,
    ResultSummaryHandler,
    ScanHandler,
    ScanLaunchHandler,
    ScanListHandler,
    ScanLogsHandler,
    ScanRequestHandler,
    ScansHandler,
    ScanStatusHandler,
    SkymapFitsHandler,
    SkymapHandler,
)
from .scan_events import ScanEventsHandler
from .scanner_routes import ManifestReportHandler, ResultReportHandler

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
PATH_PARAMETER = re.compile(r"\\\{[a-z_]+\\\}")  # a "{name}" after re.escape


@dataclasses.dataclass(frozen=True)
class Route:
    path: str  # OpenAPI path template; its parameters ("{scan_id}") match one path segment
    handler: type[BaseHandler]

    @property
    def pattern(self) -> str:
        """The Tornado URL pattern: the path, each parameter a capture group."""
        return PATH_PARAMETER.sub("([^/]+)", re.escape(self.path))

    @property
    def operations(self) -> dict[str, Operation]:
        """HTTP method -> its declaration, for every method the handler serves."""
        methods = {name: getattr(self.handler, name, None) for name in HTTP_METHODS}
        return {name: method.operation for name, method in methods.items() if hasattr(method, "operation")}


ROUTES: list[Route] = [
    Route("/healthz", HealthHandler),
    Route("/readyz", ReadinessHandler),
    Route("/metrics", MetricsHandler),
    Route("/openapi.json", OpenApiHandler),
    Route("/scans", ScansHandler),
    Route("/scans/list", ScanListHandler),
    Route("/scans/backlog", BacklogHandler),
    Route("/scan", ScanLaunchHandler),
    Route("/scan/manifest/{scan_id}", ManifestReportHandler),
    Route("/scan/{scan_id}/manifest", ManifestReportHandler),
    Route("/scan/result/{scan_id}", ResultReportHandler),
    Route("/scan/{scan_id}/result", ResultReportHandler),
    Route("/scan/{scan_id}/result/summary", ResultSummaryHandler),
    Route("/scan/{scan_id}/skymap.png", SkymapHandler),
    Route("/scan/{scan_id}/skymap.fits", SkymapFitsHandler),
    Route("/scan/{scan_id}/events", ScanEventsHandler),
    Route("/scan/{scan_id}/status", ScanStatusHandler),
    Route("/scan/{scan_id}/request", ScanRequestHandler),
    Route("/scan/{scan_id}/actions/rescan", RescanHandler),
    Route("/scan/{scan_id}/logs", ScanLogsHandler),
    Route("/scan/{scan_id}", ScanHandler),
]


class UnknownRouteHandler(BaseHandler):
    """Any other path: a JSON 404 that says so, like every other error."""

    async def prepare(self) -> None:
        check_request_head(self.request)
        raise RouteNotFound(f"no such route: {self.request.method} {self.request.path[:200]}")


def add_routes(server: Any, handler_args: dict[str, Any]) -> None:
    for route in ROUTES:
        server.add_route(route.pattern, route.handler, {**handler_args, "route_template": route.path})
    for pattern, handler, args in dashboard_routes():  # static pages: no API arguments, no auth
        server.add_route(pattern, handler, args)
    server.app_args.update(
        default_handler_class=UnknownRouteHandler, default_handler_args={**handler_args, "route_template": "(unrouted)"}
    )
