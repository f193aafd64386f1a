"""kmock's Kubernetes API emulator, made to answer errors the way a real API server does."""

from __future__ import annotations

import aiohttp.web
import kmock

NAMESPACE = "skyscans"  # where the tests' scans run
# API failures: in namespace "answers-<code>" the emulator answers every request with that HTTP status
FAILING_STATUSES = (400, 401, 403, 422, 500, 503)
REAL_SERVER_REASONS = {404: "NotFound", 409: "AlreadyExists"}


class KubernetesApiEmulator(kmock.KubernetesEmulator):
    """kmock's emulator answering conflicts and missing objects as a real API server does: 409/404 ``Status``.

    kmock 0.8 raises these as exceptions: a bare HTTP 500 unless the handler is entered as a context manager, and
    even then with reasons no API server sends and recorded in ``errors``, which should hold only real failures.
    It also knows a resource only once an object of it exists (listing pods before any pod answers 404): Jobs and
    pods are declared, so that their listings are empty lists, as a real API server's are.
    """

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources["batch/v1/jobs"].kind = "Job"
        self.resources["v1/pods"].kind = "Pod"

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        try:
            return await super()._handle(request)
        except kmock.KubernetesError as exc:
            if exc.status not in REAL_SERVER_REASONS:
                raise
            name = request.name or (request.data or {}).get("metadata", {}).get("name")
            resource = request.resource
            return aiohttp.web.json_response(
                {
                    "apiVersion": "v1",
                    "kind": "Status",
                    "metadata": {},
                    "status": "Failure",
                    "reason": REAL_SERVER_REASONS[exc.status],
                    "message": f"{resource.plural}.{resource.group} {name!r}: {exc.message}",
                    "details": {"name": name, "group": resource.group, "kind": resource.plural},
                    "code": exc.status,
                },
                status=exc.status,
            )


def failing_namespace(status: int) -> str:
    """The namespace in which the emulator answers every request with ``status``."""
    return f"answers-{status}"
