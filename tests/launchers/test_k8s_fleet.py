"""The fleet poll on Kubernetes: every scan's state and failure from two listings per namespace, however many scans
run; and scan logs read through the API. The real kubernetes client against kmock's API emulator over real HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import kmock
import pytest
import pytest_asyncio
from k8s_api_emulator import KubernetesApiEmulator, create_pod, failing_namespace, job_pod
from kubernetes import client

from skydriver.errors import LogsUnavailable, ServiceUnavailable
from skydriver.launchers.base import LaunchedScan, Observation, ScanRequest, ScanState
from skydriver.launchers.kubernetes import KubernetesLauncher
from skydriver.reconcile import reconcile_once
from skydriver.server import SkyDriver, start
from tests.conftest import free_port, make_settings, scan_body, token
from tests.http_client import HttpClient

SERVER, STARTER = "skyscan-server", "tms-starter-0"
RUNNING = {"running": {"startedAt": "2026-11-28T04:00:00Z"}}
IMAGE_PULL = {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "icecube/skymap_scanner:3.5.2"'}}
OOM_KILLED = {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
SELECTOR = "app.kubernetes.io/name=skydriver,skydriver/role=scanner"


@pytest.fixture
def namespace() -> str:
    return f"fleet-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def launcher(k8s_emulator: KubernetesApiEmulator, launcher_factory: Callable[..., KubernetesLauncher], namespace: str) -> KubernetesLauncher:
    return launcher_factory(str(k8s_emulator.url), namespace=namespace)


def requests_in(emulator: KubernetesApiEmulator, namespace: str) -> list[kmock.Request]:
    """Every request the emulator received about the namespace, oldest first."""
    return list(emulator[kmock.namespace(namespace)])


async def start_scans(launcher: KubernetesLauncher, make_scan: Callable[..., ScanRequest], n: int) -> list[LaunchedScan]:
    scans = [make_scan() for _ in range(n)]
    return [LaunchedScan(scan.scan_id, await launcher.start(scan), []) for scan in scans]


async def test_one_look_tells_every_scan_state_and_failure_from_two_listings(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, core: Any, make_scan: Callable[..., ScanRequest],
    namespace: str,
) -> None:  # fmt: skip
    kinds = ("running", "no_pod_yet", "finished", "deadline", "image_pull", "oom_killed", "exit_1", "job_deleted")
    scans = dict(zip(kinds, await start_scans(launcher, make_scan, len(kinds)), strict=True))
    jobs = {kind: k8s_emulator.objects["batch/v1/jobs", namespace, scan.state["job_name"]] for kind, scan in scans.items()}
    jobs["finished"].patch({"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}})
    jobs["deadline"].patch({"status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True",
                            "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}})  # fmt: skip
    jobs["oom_killed"].patch({"status": {"failed": 1}})
    jobs["exit_1"].patch({"status": {"failed": 1}})
    pods = {
        "running": job_pod(k8s_emulator.job(**scans["running"].state), {SERVER: RUNNING, STARTER: RUNNING}),
        "image_pull": job_pod(k8s_emulator.job(**scans["image_pull"].state), {SERVER: IMAGE_PULL}, phase="Pending"),
        "oom_killed": job_pod(k8s_emulator.job(**scans["oom_killed"].state), {SERVER: OOM_KILLED}, phase="Failed"),
        "exit_1": job_pod(
            k8s_emulator.job(**scans["exit_1"].state), {SERVER: {"terminated": {"reason": "Error", "exitCode": 1}}}, phase="Failed"
        ),
    }
    for pod in pods.values():
        await create_pod(core, pod)
    batch = client.BatchV1Api(core.api_client)
    await asyncio.to_thread(batch.delete_namespaced_job, scans["job_deleted"].state["job_name"], namespace)

    before = len(requests_in(k8s_emulator, namespace))
    seen = await launcher.observe(list(scans.values()))

    calls = requests_in(k8s_emulator, namespace)[before:]
    assert sorted((call.action, call.resource.plural, call.params.get("labelSelector")) for call in calls) == [
        (kmock.action.LIST, "jobs", SELECTOR), (kmock.action.LIST, "pods", SELECTOR),
    ]  # fmt: skip
    by_kind = {kind: seen[scan.scan_id] for kind, scan in scans.items()}
    assert {kind: o.state for kind, o in by_kind.items()} == {
        "running": ScanState.RUNNING, "no_pod_yet": ScanState.RUNNING, "finished": ScanState.FINISHED,
        "deadline": ScanState.FAILED, "image_pull": ScanState.RUNNING, "oom_killed": ScanState.FAILED,
        "exit_1": ScanState.FAILED, "job_deleted": ScanState.GONE,
    }  # fmt: skip
    failures = {kind: (o.failure.source, o.failure.code) for kind, o in by_kind.items() if o.failure}
    assert failures == {
        "deadline": ("kubernetes", "DeadlineExceeded"), "image_pull": ("kubernetes", "ImagePullBackOff"),
        "oom_killed": ("kubernetes", "OOMKilled"), "exit_1": ("scanner", "EXIT_CODE_1"),
    }  # fmt: skip
    assert scans["image_pull"].scan_id in by_kind["image_pull"].failure.message  # the pod's name carries the scan id
    assert "active longer than specified deadline" in by_kind["deadline"].failure.message


async def test_a_failed_listing_makes_every_scan_of_its_namespace_unknown(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, make_scan: Callable[..., ScanRequest],
    namespace: str,
) -> None:  # fmt: skip
    healthy = await start_scans(launcher, make_scan, 2)
    # scans whose Jobs are in a namespace where every request is answered 503
    elsewhere = [LaunchedScan(make_scan().scan_id, {"namespace": failing_namespace(503)}, []) for _ in range(2)]
    seen = await launcher.observe(healthy + elsewhere)
    assert {s.scan_id: seen[s.scan_id] for s in healthy} == {s.scan_id: Observation(ScanState.RUNNING) for s in healthy}
    assert {s.scan_id: seen[s.scan_id] for s in elsewhere} == {s.scan_id: Observation(ScanState.UNKNOWN) for s in elsewhere}

    # the Job listing answers, the pod listing does not: the Jobs alone must not decide (they would say RUNNING)
    k8s_emulator[kmock.namespace(namespace), kmock.resource("v1/pods")] << 503
    assert await launcher.observe(healthy) == {s.scan_id: Observation(ScanState.UNKNOWN) for s in healthy}


@pytest.mark.parametrize("answer", [403, 500, b"<html>a proxy's error page</html>"], ids=["403", "500", "not-a-listing"])
async def test_a_listing_that_fails_never_reads_as_gone(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, make_scan: Callable[..., ScanRequest],
    namespace: str, answer: int | bytes,
) -> None:  # fmt: skip
    scans = await start_scans(launcher, make_scan, 2)
    k8s_emulator[kmock.namespace(namespace), kmock.resource("batch/v1/jobs"), kmock.action.LIST] << answer
    assert await launcher.observe(scans) == {s.scan_id: Observation(ScanState.UNKNOWN) for s in scans}


async def test_an_unreachable_api_server_makes_every_scan_unknown(
    launcher_factory: Callable[..., KubernetesLauncher], closed_port_url: str, make_scan: Callable[..., ScanRequest]
) -> None:
    scans = [LaunchedScan(make_scan().scan_id, {}, []) for _ in range(3)]
    assert await launcher_factory(closed_port_url).observe(scans) == {s.scan_id: Observation(ScanState.UNKNOWN) for s in scans}


async def test_observing_no_scan_asks_nothing(launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, namespace: str) -> None:
    assert await launcher.observe([]) == {}
    assert requests_in(k8s_emulator, namespace) == []


# ---------------------------------------------------------------------------------------------------------------------
# a reconcile pass of a real SkyDriver


@pytest_asyncio.fixture
async def k8s_driver(k8s_emulator: KubernetesApiEmulator, mongo_uri: str, tmp_path: Path, namespace: str) -> AsyncIterator[SkyDriver]:
    """SkyDriver launching into the test's namespace; its own reconcile loop waits an hour after its first pass,
    so the passes the tests run are the only ones."""
    settings = make_settings(
        mongo_uri, tmp_path, {"K8S_NAMESPACE": namespace}, launcher="kubernetes", rest_port=free_port(),
        launch_interval=0.0, reconcile_interval=3600.0,
    )  # fmt: skip
    configuration = client.Configuration()
    configuration.host = str(k8s_emulator.url).rstrip("/")
    api_client = client.ApiClient(configuration)
    driver = await start(settings, KubernetesLauncher(settings, api_client))
    yield driver
    await driver.stop()
    api_client.close()


async def launched_scans(driver: SkyDriver, event: dict[str, Any], n: int) -> list[str]:
    """POST n scans and wait until SkyDriver has launched them all; their ids."""
    user = HttpClient(driver.address, token("user"))
    ids = []
    for _ in range(n):
        response = await user.post("/scan", scan_body(event))
        assert response.status == 200, response
        ids.append(response.json()["scan_id"])
    for _ in range(200):
        scans = await driver.database.manifests.unfinished()
        if sum(scan.launch.status == "launched" for scan in scans if scan.scan_id in ids) == n:
            return ids
        await asyncio.sleep(0.1)
    raise AssertionError(f"{n} scans not launched in 20 s")


async def test_a_reconcile_pass_makes_two_api_calls_however_many_scans_run(
    k8s_driver: SkyDriver, k8s_emulator: KubernetesApiEmulator, core: Any, namespace: str, modern_event: dict
) -> None:
    assert k8s_driver.launcher is not None
    calls_per_pass, launched = {}, 0
    for n in (2, 12):
        await launched_scans(k8s_driver, modern_event, n - launched)
        launched = n
        before = len(requests_in(k8s_emulator, namespace))
        assert await reconcile_once(k8s_driver.settings, k8s_driver.database, k8s_driver.launcher) == {"running": n}
        calls_per_pass[n] = len(requests_in(k8s_emulator, namespace)) - before
    assert calls_per_pass == {2: 2, 12: 2}


async def test_a_reconcile_pass_fails_and_stops_what_it_sees_failing_or_gone(
    k8s_driver: SkyDriver, k8s_emulator: KubernetesApiEmulator, core: Any, namespace: str, modern_event: dict
) -> None:
    assert k8s_driver.launcher is not None
    running, image_pull, deleted = await launched_scans(k8s_driver, modern_event, 3)
    await create_pod(core, job_pod(k8s_emulator.job(namespace, f"skyscan-{image_pull}"), {SERVER: IMAGE_PULL}, phase="Pending"))
    await asyncio.to_thread(client.BatchV1Api(core.api_client).delete_namespaced_job, f"skyscan-{deleted}", namespace)

    before = len(requests_in(k8s_emulator, namespace))
    seen = await reconcile_once(k8s_driver.settings, k8s_driver.database, k8s_driver.launcher)
    assert len(requests_in(k8s_emulator, namespace)) - before == 2
    assert seen == {"running": 2, "gone": 1}

    user = HttpClient(k8s_driver.address, token("user"))
    statuses = {scan_id: (await user.get(f"/scan/{scan_id}/status")).json() for scan_id in (running, image_pull, deleted)}
    assert statuses[running]["failure"] is None and not statuses[running]["is_terminal"]
    assert statuses[image_pull]["failure"]["code"] == "ImagePullBackOff"
    assert statuses[image_pull]["scan_state"].startswith("FAILED__")
    manifest = (await user.get(f"/scan/manifest/{deleted}", query={"include_event": "false"})).json()
    assert "kubernetes processes vanished" in manifest["launch"]["reason"]


async def test_readiness_reports_an_unreachable_api_as_degraded_and_stays_ready(
    k8s_emulator: KubernetesApiEmulator, mongo_uri: str, tmp_path: Path, namespace: str, modern_event: dict
) -> None:
    settings = make_settings(mongo_uri, tmp_path, {"K8S_NAMESPACE": namespace}, launcher="kubernetes", rest_port=free_port(),
                             launch_interval=0.0, reconcile_interval=0.2)  # fmt: skip
    configuration = client.Configuration()
    configuration.host = str(k8s_emulator.url).rstrip("/")
    api_client = client.ApiClient(configuration)
    driver = await start(settings, KubernetesLauncher(settings, api_client))
    try:
        await launched_scans(driver, modern_event, 1)

        async def launcher_check(degraded: bool) -> dict[str, Any]:
            for _ in range(100):  # passes every 0.2 s
                response = await HttpClient(driver.address).get("/readyz")
                assert response.status == 200, response  # an unreachable engine never makes SkyDriver unready
                if (check := response.json()["checks"]["launcher"])["degraded"] is degraded:
                    return check  # type: ignore[no-any-return]
                await asyncio.sleep(0.1)
            raise AssertionError(f"the launcher check never read degraded={degraded}")

        assert "error" not in await launcher_check(degraded=False)
        k8s_emulator[kmock.namespace(namespace), kmock.resource("batch/v1/jobs"), kmock.action.LIST] << 503
        check = await launcher_check(degraded=True)
        assert check["ok"] is True and check["error"] == "the last reconcile could not ask about any of the 1 running scan(s)"
    finally:
        await driver.stop()
        api_client.close()


# ---------------------------------------------------------------------------------------------------------------------
# logs: kmock stores no logs, so a reaction answers the pod-log requests as the kubelet would, from lines per container


def serve_logs(emulator: KubernetesApiEmulator, namespace: str, lines: dict[str, list[str]]) -> None:
    """Answer ``GET .../pods/NAME/log?container=C&tailLines=N`` with the last N of ``lines[C]``, as text."""

    def answer(request: kmock.Request) -> kmock.Response:
        text = lines[request.params["container"]][-int(request.params["tailLines"]) :]
        return kmock.Response(payload="".join(f"{line}\n" for line in text).encode(), headers={"Content-Type": "text/plain"})

    emulator[kmock.namespace(namespace), kmock.resource("v1/pods"), kmock.subresource("log")] << answer


async def test_logs_are_read_from_the_scan_pods_containers(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, core: Any, make_scan: Callable[..., ScanRequest],
    namespace: str,
) -> None:  # fmt: skip
    [scan] = await start_scans(launcher, make_scan, 1)
    with pytest.raises(LogsUnavailable, match="has no pod"):
        await launcher.logs(scan, "server", 10)  # not scheduled yet

    pod = job_pod(k8s_emulator.job(**scan.state), {SERVER: RUNNING, STARTER: RUNNING})
    await create_pod(core, pod)
    serve_logs(k8s_emulator, namespace, {SERVER: [f"server line {i}" for i in range(50)], STARTER: ["submitted 1234 jobs"]})

    assert await launcher.logs(scan, "server", 3) == ["server line 47", "server line 48", "server line 49"]
    assert await launcher.logs(scan, "starter-0", 200) == ["submitted 1234 jobs"]
    assert await launcher.logs(scan, "starter-7", 10) is None  # the scan has three starters: no such container
    reads = [r for r in requests_in(k8s_emulator, namespace) if r.subresource == "log"]
    assert [(r.name, r.params["container"], r.params["tailLines"]) for r in reads] == [
        (pod["metadata"]["name"], SERVER, "3"), (pod["metadata"]["name"], STARTER, "200"),
    ]  # fmt: skip


async def test_logs_the_api_server_cannot_give(
    launcher: KubernetesLauncher, launcher_factory: Callable[..., KubernetesLauncher], k8s_emulator: KubernetesApiEmulator,
    core: Any, make_scan: Callable[..., ScanRequest], closed_port_url: str, namespace: str,
) -> None:  # fmt: skip
    [scan] = await start_scans(launcher, make_scan, 1)
    await create_pod(core, job_pod(k8s_emulator.job(**scan.state), {SERVER: IMAGE_PULL}, phase="Pending"))
    waiting = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 400, "reason": "BadRequest",
               "message": f'container "{SERVER}" in pod "skyscan-{scan.scan_id}-x7k2q" is waiting to start: trying and failing to pull image'}  # fmt: skip
    log_reads = k8s_emulator[kmock.namespace(namespace), kmock.resource("v1/pods"), kmock.subresource("log")]
    log_reads << 400 << waiting
    with pytest.raises(LogsUnavailable, match="is waiting to start: trying and failing to pull image"):
        await launcher.logs(scan, "server", 10)

    with pytest.raises(ServiceUnavailable, match="Kubernetes API unreachable") as unreachable:
        await launcher_factory(closed_port_url).logs(scan, "server", 10)
    assert unreachable.value.retry_after


async def test_the_logs_route_serves_a_kubernetes_scan(
    k8s_driver: SkyDriver, k8s_emulator: KubernetesApiEmulator, core: Any, namespace: str, modern_event: dict
) -> None:
    [scan_id] = await launched_scans(k8s_driver, modern_event, 1)
    await create_pod(core, job_pod(k8s_emulator.job(namespace, f"skyscan-{scan_id}"), {SERVER: RUNNING, STARTER: RUNNING}))
    serve_logs(k8s_emulator, namespace, {SERVER: ["scanning nside 8", "scanning nside 64"], STARTER: []})
    user = HttpClient(k8s_driver.address, token("user"))

    response = await user.get(f"/scan/{scan_id}/logs", query={"container": "server", "tail": 1})
    assert response.status == 200, response
    assert response.json() == {"scan_id": scan_id, "container": "server", "lines": ["scanning nside 64"]}
    missing = await user.get(f"/scan/{scan_id}/logs", query={"container": "starter-1"})  # one cluster: one starter
    assert missing.status == 400 and "'container'" in missing.json()["error"], missing
