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

from .. import json_codec
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
        jobs_by_name = {_name(job): job for job in jobs}
        pods_by_scan: dict[str, list[Listed]] = defaultdict(list)
        for pod in pods:
            pods_by_scan[_labels(pod).get(kubernetes_objects.SCAN_ID_LABEL, "")].append(pod)
        seen = {}
        for scan in scans:
            job = jobs_by_name.get(self._job_location(scan.scan_id, scan.state)[1])
            if job is None:
                seen[scan.scan_id] = Observation(ScanState.GONE)
            else:
                seen[scan.scan_id] = Observation(job_state(job), pod_failure(pods_by_scan[scan.scan_id]) or job_failure(job))
        return seen

    async def _list(self, namespace: str, kind: str) -> list[Listed]:
        """The namespace's scan Jobs or scan pods, as the API's JSON. A listing holds every Job's whole spec (each
        container's environment) and is read only for names, labels and statuses, so none of it becomes an API object:
        building the client's (pydantic) objects for the statuses alone took ~0.4 ms of CPU per pod and Job, two thirds
        of a reconcile pass at 1,000 scans (``benchmarks/bench_fleet.py``)."""
        method = self._batch.list_namespaced_job if kind == "jobs" else self._core.list_namespaced_pod
        selector = kubernetes_objects.label_selector(kubernetes_objects.SCANNER_LABELS)
        response = await self._call(method, namespace, label_selector=selector, _preload_content=False)
        try:
            with json_codec.collector_paused():  # every Job's whole spec: many dicts and lists, none in a cycle
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


# a listed Job or pod: the API's JSON object (camelCase field names), read where it is
Listed = Mapping[str, Any]


def _name(item: Listed) -> str:
    return str((item.get("metadata") or {}).get("name") or "")


def _labels(item: Listed) -> Mapping[str, str]:
    return (item.get("metadata") or {}).get("labels") or {}


def _has_labels(item: Listed, labels: Mapping[str, str]) -> bool:
    found = _labels(item)
    return all(found.get(key) == value for key, value in labels.items())


def _true_conditions(job: Listed, types: tuple[str, ...]) -> list[Mapping[str, Any]]:
    conditions = (job.get("status") or {}).get("conditions") or []
    return [c for c in conditions if c.get("status") == "True" and c.get("type") in types]


def job_state(job: Listed) -> ScanState:
    """Read a Job's status: its terminal conditions first, then its pod counters."""
    for condition in _true_conditions(job, ("Complete", "SuccessCriteriaMet", "Failed", "FailureTarget")):
        return ScanState.FINISHED if condition["type"] in ("Complete", "SuccessCriteriaMet") else ScanState.FAILED
    status = job.get("status") or {}
    if status.get("succeeded"):
        return ScanState.FINISHED
    if status.get("failed"):
        return ScanState.FAILED
    return ScanState.RUNNING


def pod_failure(pods: list[Listed]) -> ScanFailure | None:
    """The first reason, read from pod statuses, why a scan's pods cannot run or have failed."""
    for pod in pods:
        status, name = pod.get("status") or {}, _name(pod)
        if status.get("reason") == "Evicted":
            return ScanFailure("kubernetes", "Evicted", f"pod {name} was evicted: {status.get('message') or 'no message'}")
        for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            state = container.get("state") or {}
            where = f"container {container.get('name')} of pod {name}"
            waiting, ended = state.get("waiting") or {}, state.get("terminated") or {}
            if waiting.get("reason") in STUCK_REASONS:
                reason = waiting["reason"]
                detail = f": {waiting['message']}" if waiting.get("message") else ""
                return ScanFailure("kubernetes", reason, f"{where} cannot start ({reason}){detail}")
            code = ended.get("exitCode")
            if ended.get("reason") == "OOMKilled":
                message = f"{where} was killed for using more memory than its limit (OOMKilled, exit code {code})"
                return ScanFailure("kubernetes", "OOMKilled", message, code)
            if code:
                detail = f": {ended['message']}" if ended.get("message") else ""
                return ScanFailure("scanner", f"EXIT_CODE_{code}", f"{where} exited with code {code}{detail}", code)
    return None


def job_failure(job: Listed) -> ScanFailure | None:
    """A failed Job's condition (DeadlineExceeded, BackoffLimitExceeded, ...) with its message."""
    for condition in _true_conditions(job, ("Failed", "FailureTarget")):
        reason = condition.get("reason") or condition["type"]
        return ScanFailure("kubernetes", reason, f"Job {_name(job)} failed ({reason}): {condition.get('message') or 'no message'}")
    return None
