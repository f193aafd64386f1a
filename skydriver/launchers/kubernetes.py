"""Runs scans as Kubernetes Jobs; the only module of SkyDriver that talks to the Kubernetes API.

Every call runs in a worker thread with a request timeout, so a slow or unreachable API server never blocks the
event loop. Failures are sorted once, here: "already exists" and "not found" are answers, 400/422 are bugs in what
we sent (not retryable), anything else is transient (retryable; ``observe`` reports UNKNOWN, never GONE).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import orjson
import urllib3
from kubernetes import client, config

from ..auth import mints_scan_tokens, scan_token
from ..config import Settings
from ..errors import LogsUnavailable, ServiceUnavailable
from . import kubernetes_objects, scanner_command
from .base import (
    LOCAL_CLUSTER,
    UNKNOWN,
    LaunchedScan,
    Launcher,
    LaunchError,
    LaunchPlan,
    Observation,
    ScanFailure,
    ScanRequest,
    ScanState,
)

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
# seconds a log reader is told to wait when the API server cannot answer
RETRY_AFTER = 5

T = TypeVar("T")


def load_api_client() -> client.ApiClient:
    """In-cluster service account when running in a pod, else ``$KUBECONFIG`` / ``~/.kube/config``."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    return client.ApiClient(configuration)


def _api_failure(exc: Exception) -> str:
    if isinstance(exc, client.ApiException):
        return f"Kubernetes API answered {exc.status} {exc.reason}"
    if isinstance(exc, TRANSPORT_ERRORS):
        return f"Kubernetes API unreachable: {exc!r}"
    return f"Kubernetes API answered what is not a listing: {exc!r}"


def _api_message(exc: client.ApiException) -> str:
    """The ``message`` of the API server's ``Status`` answer, else its status line."""
    try:
        return str(orjson.loads(exc.body)["message"])
    except (TypeError, ValueError, KeyError):
        return f"{exc.status} {exc.reason}"


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

    async def observe(self, scans: Sequence[LaunchedScan]) -> dict[str, Observation]:
        """Two listings per namespace, the scan Jobs and their pods, whatever the number of scans."""
        by_namespace: dict[str, list[LaunchedScan]] = defaultdict(list)
        for scan in scans:
            by_namespace[self._job_location(scan.scan_id, scan.state)[0]].append(scan)
        seen: dict[str, Observation] = {}
        for namespace, group in by_namespace.items():
            try:
                seen |= await self._observe_namespace(namespace, group)
            except (client.ApiException, *TRANSPORT_ERRORS, ValueError) as exc:
                LOGGER.warning("listing the scans in namespace %s: %s", namespace, _api_failure(exc))
                seen |= {scan.scan_id: UNKNOWN for scan in group}
        return seen

    async def _observe_namespace(self, namespace: str, scans: list[LaunchedScan]) -> dict[str, Observation]:
        listings = await asyncio.gather(self._list(namespace, "jobs"), self._list(namespace, "pods"), return_exceptions=True)
        for listing in listings:
            if isinstance(listing, BaseException):
                raise listing
        jobs, pods = listings
        jobs_by_name = {job.metadata.name: job for job in map(_job, jobs)}
        pods_by_scan: dict[str, list[client.V1Pod]] = defaultdict(list)
        for pod in map(_pod, pods):
            pods_by_scan[pod.metadata.labels.get(kubernetes_objects.SCAN_ID_LABEL, "")].append(pod)
        seen = {}
        for scan in scans:
            job = jobs_by_name.get(self._job_location(scan.scan_id, scan.state)[1])
            if job is None:
                seen[scan.scan_id] = Observation(ScanState.GONE)
            else:
                seen[scan.scan_id] = Observation(job_state(job), pod_failure(pods_by_scan[scan.scan_id]) or job_failure(job))
        return seen

    async def _list(self, namespace: str, kind: str) -> list[dict[str, Any]]:
        """The namespace's scan Jobs or scan pods, as JSON. A listing holds every Job's whole spec (each container's
        environment); only names, labels and status are read, so only those are made API objects (``_job``, ``_pod``)."""
        method = self._batch.list_namespaced_job if kind == "jobs" else self._core.list_namespaced_pod
        selector = kubernetes_objects.label_selector(kubernetes_objects.SCANNER_LABELS)
        response = await self._call(method, namespace, label_selector=selector, _preload_content=False)
        try:
            items = orjson.loads(response.data).get("items") or []
        finally:
            response.release_conn()
        # the selector, applied again: an API server that ignores it (kmock's emulator) must not mix in other objects
        return [item for item in items if _has_labels(item, kubernetes_objects.SCANNER_LABELS)]

    async def logs(self, scan: LaunchedScan, container: str, tail: int) -> list[str] | None:
        """The last lines of a container of the scan's pod (the newest, should the Job have made several)."""
        namespace = self._job_location(scan.scan_id, scan.state)[0]
        selector = kubernetes_objects.label_selector(kubernetes_objects.job_labels(scan.scan_id, "scanner"))
        name = kubernetes_objects.container_name(container)
        try:
            pods = (await self._call(self._core.list_namespaced_pod, namespace, label_selector=selector)).items or []
            pods = [pod for pod in pods if (pod.metadata.labels or {}).get(kubernetes_objects.SCAN_ID_LABEL) == scan.scan_id]
            if not pods:
                raise LogsUnavailable(f"scan {scan.scan_id} has no pod in namespace {namespace} (not scheduled yet, or removed)")
            pod = max(pods, key=lambda p: p.metadata.creation_timestamp or dt.datetime.min.replace(tzinfo=dt.UTC))
            if name not in (c.name for c in pod.spec.containers):
                return None
            text = await self._call(
                self._core.read_namespaced_pod_log, pod.metadata.name, namespace, container=name, tail_lines=tail
            )
        except client.ApiException as exc:
            if exc.status >= 500:
                raise ServiceUnavailable(f"reading the logs of scan {scan.scan_id}: {_api_failure(exc)}", RETRY_AFTER) from exc
            # e.g. 400 "container ... is waiting to start": the API server's own words say why
            raise LogsUnavailable(f"no logs for container {container} of scan {scan.scan_id}: {_api_message(exc)}") from exc
        except TRANSPORT_ERRORS as exc:
            raise ServiceUnavailable(f"reading the logs of scan {scan.scan_id}: {_api_failure(exc)}", RETRY_AFTER) from exc
        return text.splitlines()

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


def _has_labels(item: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    found = (item.get("metadata") or {}).get("labels") or {}
    return all(found.get(key) == value for key, value in labels.items())


def _metadata(item: Mapping[str, Any]) -> client.V1ObjectMeta:
    metadata = item.get("metadata") or {}
    return client.V1ObjectMeta(name=metadata.get("name"), labels=metadata.get("labels") or {})


def _job(item: Mapping[str, Any]) -> client.V1Job:
    """A listed Job's name, labels and status: what ``job_state`` and ``job_failure`` read."""
    return client.V1Job(metadata=_metadata(item), status=client.V1JobStatus.from_dict(item.get("status") or {}))


def _pod(item: Mapping[str, Any]) -> client.V1Pod:
    """A listed pod's name, labels and status: what ``pod_failure`` reads."""
    return client.V1Pod(metadata=_metadata(item), status=client.V1PodStatus.from_dict(item.get("status") or {}))


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
