"""Routes for operators and their tools: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import functools
import hmac
import ipaddress

from .. import __version__, json_codec
from ..auth import PUBLIC
from ..errors import Forbidden
from ..models import HealthStatus, NoArgs, Readiness
from .base import BaseHandler, operation

METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HealthHandler(BaseHandler):
    @operation("Liveness: the process and its event loop answer", PUBLIC, response=HealthStatus)
    async def get(self, _: NoArgs) -> None:
        self.write_json(json_codec.dumps({"status": "ok", "version": __version__}))


class ReadinessHandler(BaseHandler):
    @operation(
        "Readiness: database reachable within 1 s, background loops alive (503 when not); an unreachable launcher engine is"
        " reported as degraded", PUBLIC, response=Readiness,
    )  # fmt: skip
    async def get(self, _: NoArgs) -> None:
        ready, checks = await self.readiness.report()
        self.set_status(200 if ready else 503)
        self.write_json(json_codec.dumps({"ready": ready, "checks": checks}))


class MetricsHandler(BaseHandler):
    @operation(
        "Prometheus metrics: with METRICS_TOKEN set, that bearer token; else clients in METRICS_NETWORKS only",
        PUBLIC, media_type=METRICS_MEDIA_TYPE,
    )  # fmt: skip
    async def get(self, _: NoArgs) -> None:
        self._check_scraper()
        self.set_header("Content-Type", METRICS_MEDIA_TYPE)
        self.write(await self.service.metrics.scrape(self.service.database, self.service.settings.stall_after))

    def _check_scraper(self) -> None:
        token = self.service.settings.metrics_token
        if token:
            given = self.request.headers.get("Authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise Forbidden("metrics need the METRICS_TOKEN bearer token")
            return
        # the client as proxies name it (X-Real-IP, X-Forwarded-For) and the socket's peer: a client that reaches
        # SkyDriver without a proxy cannot pass for another by sending those headers itself
        context = getattr(self.request.connection, "context", None)
        peer = getattr(context, "address", None)
        for given in {self.request.remote_ip, peer[0] if isinstance(peer, tuple) else None}:
            client = ipaddress.ip_address(given or "0.0.0.0")
            if not any(client in network for network in self.service.settings.metrics_networks):
                raise Forbidden(f"metrics are served without a token to clients in METRICS_NETWORKS only, not {client}")


class OpenApiHandler(BaseHandler):
    @operation("This API's OpenAPI 3.1 document (the same text as schemas/openapi.json)", PUBLIC)
    async def get(self, _: NoArgs) -> None:
        self.write_json(openapi_text())


@functools.cache
def openapi_text() -> bytes:
    """Built once from the route table (imported here: the route table itself imports this module)."""
    from ..openapi import generated_files

    return generated_files()["openapi.json"].encode()
