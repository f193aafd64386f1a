"""Runs scans as Kubernetes Jobs; the only module of SkyDriver that talks to the Kubernetes API.

Every call runs in a worker thread with a request timeout, so a slow or unreachable API server never blocks the
event loop. Failures are sorted once, here: "already exists" and "not found" are answers, 400/422 are bugs in what
we sent (not retryable), anything else is transient (retryable; ``poll`` reports UNKNOWN, never GONE).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config

from ..auth import mints_scan_tokens, scan_token
from ..config import Settings
from . import kubernetes_objects, scanner_command
from .base import LOCAL_CLUSTER, LaunchedScan, Launcher, LaunchError, LaunchPlan, ScanFailure, ScanRequest, ScanState

LOGGER = logging.getLogger(__name__)

# (connect, read) seconds for every API call
REQUEST_TIMEOUT = (5.0, 30.0)
CONFLICT = 409
NOT_FOUND = 404
INVALID_REQUEST = (400, 422)
# container waiting reasons that do not go away by waiting (the kubelet already retried)
STUCK_REASONS = ("ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError", "CrashLoopBackOff")
# what the API client raises when the server cannot be reached or does not answer in time
TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)

T = TypeVar("T")


def load_api_client() -> client.ApiClient:
    """In-cluster service account when running in a pod, else ``$KUBECONFIG`` / ``~/.kube/config``."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)


def _launch_error(action: str, exc: Exception) -> LaunchError:
    if isinstance(exc, client.ApiException):
        retryable = exc.status not in INVALID_REQUEST
        return LaunchError(f"{action}: Kubernetes API answered {exc.status} {exc.reason}: {exc.body}", retryable)
    return LaunchError(f"{action}: Kubernetes API unreachable: {exc!r}", retryable=True)


class KubernetesLauncher(Launcher):
    """One Job per scan (``skyscan-<scan_id>``), one stopper Job per teardown (``skyscan-stop-<scan_id>``)."""

    name = "kubernetes"

    def __init__(self, settings: Settings, api_client: client.ApiClient | None = None):
        self._settings = settings
        self._owns_client = api_client is None
        self._api_client = api_client or load_api_client()
        self._batch = client.BatchV1Api(self._api_client)
        self._core = client.CoreV1Api(self._api_client)

    def usable_clusters(self, registry: Mapping[str, Mapping[str, str]]) -> dict[str, Mapping[str, str]]:
        """Every registered HTCondor cluster except ``local`` (this machine's processes are not in a pod's reach)."""
        return {name: where for name, where in registry.items() if name != LOCAL_CLUSTER}

    async def _call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(method, *args, _request_timeout=REQUEST_TIMEOUT, **kwargs)

    def _token_secret(self, scan_id: str) -> str:
        """``name/key`` of the scan's SkyDriver token: its own Secret when SkyDriver mints scan tokens, else "" (the
        shared SKYSCAN_SKYDRIVER_AUTH_SECRET: with OpenID Connect and no SCAN_TOKEN_SECRET)."""
        return kubernetes_objects.scan_token_reference(scan_id) if mints_scan_tokens(self._settings) else ""

    def plan(self, scan: ScanRequest) -> LaunchPlan:
        k8s, scanner, token_secret = self._settings.kubernetes, self._settings.scanner, self._token_secret(scan.scan_id)
        return LaunchPlan(
            scanner_server_args=scanner_command.scanner_server_args(scan),
            tms_args=kubernetes_objects.tms_args(k8s, scan),
            env_vars={
                "scanner_server": kubernetes_objects.scanner_server_env(k8s, scanner, scan, token_secret),
                "tms_starters": kubernetes_objects.starter_env(k8s, scanner, scan, token_secret),
            },
        )

    async def _create_job(self, job: client.V1Job) -> None:
        """Create a Job; one that already exists was created by an earlier call for the same scan: success."""
        try:
            await self._call(self._batch.create_namespaced_job, job.metadata.namespace, job)
        except client.ApiException as exc:
            if exc.status != CONFLICT:
                raise _launch_error(f"creating Job {job.metadata.name}", exc) from exc
            LOGGER.info("Job %s already exists", job.metadata.name)
        except TRANSPORT_ERRORS as exc:
            raise _launch_error(f"creating Job {job.metadata.name}", exc) from exc

    async def _delete_job(self, job_name: str, namespace: str) -> None:
        """Delete a Job and its pods; one already gone is fine."""
        try:
            # Background propagation: the Job goes now, its pods are garbage-collected right after
            await self._call(self._batch.delete_namespaced_job, job_name, namespace, propagation_policy="Background")
        except client.ApiException as exc:
            if exc.status != NOT_FOUND:
                raise _launch_error(f"deleting Job {job_name}", exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise _launch_error(f"deleting Job {job_name}", exc) from exc

    async def _create_token_secret(self, scan_id: str) -> None:
        """The scan's own token, minted now; a Secret left by an earlier attempt is kept (a token for the same scan)."""
        secret = kubernetes_objects.scan_token_secret(self._settings.kubernetes.namespace, scan_id, scan_token(self._settings, scan_id))
        try:
            await self._call(self._core.create_namespaced_secret, secret.metadata.namespace, secret)
        except client.ApiException as exc:
            if exc.status != CONFLICT:
                raise _launch_error(f"creating Secret {secret.metadata.name}", exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise _launch_error(f"creating Secret {secret.metadata.name}", exc) from exc

    async def _delete_token_secret(self, name: str, namespace: str) -> None:
        try:
            await self._call(self._core.delete_namespaced_secret, name, namespace)
        except client.ApiException as exc:
            if exc.status != NOT_FOUND:
                raise _launch_error(f"deleting Secret {name}", exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise _launch_error(f"deleting Secret {name}", exc) from exc

    async def start(self, scan: ScanRequest) -> dict[str, Any]:
        token_secret = self._token_secret(scan.scan_id)
        if token_secret:  # before the Job: its pods read it when they start
            await self._create_token_secret(scan.scan_id)
        job = kubernetes_objects.scan_job(self._settings.kubernetes, self._settings.scanner, scan, token_secret)
        await self._create_job(job)
        state = {"namespace": job.metadata.namespace, "job_name": job.metadata.name}
        return {**state, "token_secret": kubernetes_objects.scan_token_secret_name(scan.scan_id)} if token_secret else state

    def _job_location(self, scan_id: str, state: dict[str, Any]) -> tuple[str, str]:
        return (
            state.get("namespace", self._settings.kubernetes.namespace),
            state.get("job_name", kubernetes_objects.scan_job_name(scan_id)),
        )

    async def poll(self, scan: LaunchedScan) -> ScanState:
        namespace, job_name = self._job_location(scan.scan_id, scan.state)
        try:
            job = await self._call(self._batch.read_namespaced_job, job_name, namespace)
        except client.ApiException as exc:
            if exc.status == NOT_FOUND:
                return ScanState.GONE
            LOGGER.warning("polling Job %s: Kubernetes API answered %s %s", job_name, exc.status, exc.reason)
            return ScanState.UNKNOWN
        except TRANSPORT_ERRORS as exc:
            LOGGER.warning("polling Job %s: Kubernetes API unreachable: %r", job_name, exc)
            return ScanState.UNKNOWN
        return job_state(job)

    async def diagnose(self, scan: LaunchedScan) -> ScanFailure | None:
        """A scan pod that cannot run or failed (image, config, memory, eviction), else a failed Job's condition."""
        namespace, job_name = self._job_location(scan.scan_id, scan.state)
        selector = f"{kubernetes_objects.SCAN_ID_LABEL}={scan.scan_id},{kubernetes_objects.ROLE_LABEL}=scanner"
        try:
            pods = await self._call(self._core.list_namespaced_pod, namespace, label_selector=selector)
            if failure := pod_failure(pods.items or []):
                return failure
            return job_failure(await self._call(self._batch.read_namespaced_job, job_name, namespace))
        except (client.ApiException, *TRANSPORT_ERRORS) as exc:
            LOGGER.warning("reading the pods of scan %s: %r", scan.scan_id, exc)
            return None

    async def stop(self, scan: LaunchedScan) -> None:
        namespace, job_name = self._job_location(scan.scan_id, scan.state)
        await self._delete_job(job_name, namespace)
        if scan.state.get("token_secret") or self._token_secret(scan.scan_id):  # as launched, or a launch cut short
            await self._delete_token_secret(kubernetes_objects.scan_token_secret_name(scan.scan_id), namespace)
        if scan.condor_clusters:
            stopper = kubernetes_objects.stopper_job(self._settings.kubernetes, scan.scan_id, namespace, scan.condor_clusters)
            await self._create_job(stopper)

    async def close(self) -> None:
        if self._owns_client:
            await asyncio.to_thread(self._api_client.close)


def job_state(job: client.V1Job) -> ScanState:
    """Read a Job's status: its terminal conditions first, then its pod counters."""
    status = job.status or client.V1JobStatus()
    for condition in status.conditions or []:
        if condition.status == "True" and condition.type in ("Complete", "SuccessCriteriaMet"):
            return ScanState.FINISHED
        if condition.status == "True" and condition.type in ("Failed", "FailureTarget"):
            return ScanState.FAILED
    if status.succeeded:
        return ScanState.FINISHED
    if status.failed:
        return ScanState.FAILED
    return ScanState.RUNNING


def pod_failure(pods: list[client.V1Pod]) -> ScanFailure | None:
    """The first reason, read from pod statuses, why a scan's pods cannot run or have failed."""
    for pod in pods:
        status, name = pod.status or client.V1PodStatus(), pod.metadata.name
        if status.reason == "Evicted":
            return ScanFailure("kubernetes", "Evicted", f"pod {name} was evicted: {status.message or 'no message'}")
        for container in (status.init_container_statuses or []) + (status.container_statuses or []):
            state = container.state or client.V1ContainerState()
            where = f"container {container.name} of pod {name}"
            if state.waiting and state.waiting.reason in STUCK_REASONS:
                detail = f": {state.waiting.message}" if state.waiting.message else ""
                return ScanFailure("kubernetes", state.waiting.reason, f"{where} cannot start ({state.waiting.reason}){detail}")
            ended = state.terminated
            if ended and ended.reason == "OOMKilled":
                message = f"{where} was killed for using more memory than its limit (OOMKilled, exit code {ended.exit_code})"
                return ScanFailure("kubernetes", "OOMKilled", message, ended.exit_code)
            if ended and ended.exit_code:
                detail = f": {ended.message}" if ended.message else ""
                return ScanFailure("scanner", f"EXIT_CODE_{ended.exit_code}", f"{where} exited with code {ended.exit_code}{detail}", ended.exit_code)
    return None


def job_failure(job: client.V1Job) -> ScanFailure | None:
    """A failed Job's condition (DeadlineExceeded, BackoffLimitExceeded, ...) with its message."""
    for condition in (job.status or client.V1JobStatus()).conditions or []:
        if condition.status == "True" and condition.type in ("Failed", "FailureTarget"):
            reason = condition.reason or condition.type
            return ScanFailure("kubernetes", reason, f"Job {job.metadata.name} failed ({reason}): {condition.message or 'no message'}")
    return None
