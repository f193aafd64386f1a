"""kmock's Kubernetes API emulator, made to answer errors the way a real API server does, and the pods a cluster adds."""

from __future__ import annotations

import asyncio
from typing import Any

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

    def job(self, namespace: str, job_name: str) -> dict[str, Any]:
        """A Job as stored (what a launcher's ``start`` returned names it)."""
        return self.objects["batch/v1/jobs", namespace, job_name].raw

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


def job_pod(job: dict[str, Any], states: dict[str, dict[str, Any]], **status: Any) -> dict[str, Any]:
    """The pod the Job controller makes from a stored Job (its template's labels and containers), with the status the
    kubelet reports: ``states`` maps a container name to its state (``{"running": {...}}``, ``{"waiting": {...}}``)."""
    template = job["spec"]["template"]
    metadata = job["metadata"]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{metadata['name']}-x7k2q", "namespace": metadata["namespace"],
                     "labels": {**template["metadata"]["labels"], "job-name": metadata["name"]}},
        "spec": template["spec"],
        "status": {"phase": "Running", **status, "containerStatuses": [
            {"name": name, "image": "", "imageID": "", "ready": "running" in state, "restartCount": 0, "state": state}
            for name, state in states.items()
        ]},
    }  # fmt: skip


async def create_pod(core: Any, pod: dict[str, Any]) -> None:
    """As the kubelet's reports land in the API server (in a thread: the emulator serves on this event loop)."""
    await asyncio.to_thread(core.create_namespaced_pod, pod["metadata"]["namespace"], pod)
