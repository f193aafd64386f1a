"""KubernetesLauncher with the real kubernetes client against kmock's API emulator over real HTTP."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

import kmock
import pytest
from k8s_api_emulator import FAILING_STATUSES, NAMESPACE, KubernetesApiEmulator, failing_namespace

from skydriver.launchers.base import LaunchedScan, LaunchError, Observation, ScanRequest, ScanState
from skydriver.launchers.kubernetes import KubernetesLauncher

JOBS = "batch/v1/jobs"
CONDOR_CLUSTERS = [
    {"collector": "glidein-cm.icecube.wisc.edu", "schedd": "sub-2.icecube.wisc.edu", "cluster_id": 4242, "jobs": 1234},
    {"collector": "glidein-cm.icecube.wisc.edu", "schedd": "sub-2.icecube.wisc.edu", "cluster_id": 4243, "jobs": 56},
    {"collector": "localhost", "schedd": "localhost", "cluster_id": 17, "jobs": 3},
]


def live_jobs(emulator: KubernetesApiEmulator, scan_id: str) -> dict[str, dict[str, Any]]:
    """Job name -> stored Job, for the Jobs of one scan that exist now."""
    return {
        name: obj.raw
        for (resource, _, name), obj in emulator.objects.items()
        if resource == kmock.resource(JOBS) and not obj.deleted
        if obj.raw["metadata"]["labels"]["skydriver/scan-id"] == scan_id
    }


def env_plan(container: dict[str, Any]) -> dict[str, Any]:
    """A stored container's env in the plan's shape: value, or the secret reference."""
    return {e["name"]: e["value"] if "value" in e else e["valueFrom"] for e in container["env"]}


async def test_start_creates_one_job_with_server_and_starters(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, make_scan: Callable[..., ScanRequest]
) -> None:
    scan = make_scan()
    state = await launcher.start(scan)

    job_name = f"skyscan-{scan.scan_id}"
    assert state == {"namespace": NAMESPACE, "job_name": job_name}
    jobs = live_jobs(k8s_emulator, scan.scan_id)
    assert list(jobs) == [job_name]
    job = jobs[job_name]
    assert job["metadata"]["namespace"] == NAMESPACE
    assert job["metadata"]["labels"] == {
        "app.kubernetes.io/name": "skydriver",
        "skydriver/scan-id": scan.scan_id,
        "skydriver/role": "scanner",
    }
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["volumes"] == [{"name": "common-space", "emptyDir": {}}, {"name": "scratch", "emptyDir": {}}]

    server, *starters = pod["containers"]
    assert server["image"] == "icecube/skymap_scanner:3.5.2"
    assert server["command"] == ["python", "-m", "skymap_scanner.server"]
    assert server["args"] == [
        "--reco-algo", "millipede_wilks", "--cache-dir", "/common-space",
        "--client-startup-json", "/common-space/startup.json", "--nsides", "8:0", "64:12", "512:24",
        "--real-event", "--predictive-scanning-threshold", "1.0",
    ]  # fmt: skip
    assert len(starters) == 3
    assert starters[1]["image"] == "ghcr.io/wipacrepo/skydriver:1.0.0"
    assert starters[1]["command"] + starters[1]["args"] == [
        "python", "-m", "scanner_client",
        "--collector", "glidein-cm.icecube.wisc.edu", "--schedd", "sub-2.icecube.wisc.edu",
        "start", "--n-jobs", "56", "--memory", "8GB",
        "--singularity-image", "/cvmfs/icecube.opensciencegrid.org/containers/realtime/skymap_scanner:3.5.2",
        "--client-startup-json", "/common-space/startup.json",
    ]  # fmt: skip
    for container in pod["containers"]:  # starters (this project's image) also get a scratch /tmp: read-only root
        scratch = [] if container is server else [{"name": "scratch", "mountPath": "/tmp"}]
        assert container["volumeMounts"] == [{"name": "common-space", "mountPath": "/common-space"}, *scratch]
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["requests"]["memory"]

    server_env = env_plan(server)
    assert server_env["SKYSCAN_SKYDRIVER_SCAN_ID"] == scan.scan_id
    assert server_env["SKYSCAN_SKYDRIVER_ADDRESS"] == "https://skydriver.example.org"
    assert server_env["SKYSCAN_BROKER_ADDRESS"] == "broker.example.org/skyscan"
    assert server_env["SKYSCAN_SKYDRIVER_AUTH"] == {"secretKeyRef": {"name": "skydriver-creds", "key": "scanner-token"}}
    assert server_env["SKYSCAN_BROKER_AUTH"] == {"secretKeyRef": {"name": "broker-creds", "key": "token"}}
    assert "CONDOR_TOKEN" not in server_env
    for starter in starters:
        assert env_plan(starter)["CONDOR_TOKEN"] == {"secretKeyRef": {"name": "condor-creds", "key": "token"}}


async def test_plan_is_exactly_what_was_created(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, make_scan: Callable[..., ScanRequest]
) -> None:
    scan = make_scan()
    plan = launcher.plan(scan)
    await launcher.start(scan)

    [job] = live_jobs(k8s_emulator, scan.scan_id).values()
    server, *starters = job["spec"]["template"]["spec"]["containers"]
    assert plan.scanner_server_args == shlex.join(server["command"] + server["args"])
    assert plan.tms_args == [shlex.join(s["command"] + s["args"]) for s in starters]
    assert plan.env_vars == {"scanner_server": env_plan(server), "tms_starters": env_plan(starters[0])}
    assert all(env_plan(s) == plan.env_vars["tms_starters"] for s in starters)


async def test_starting_twice_leaves_one_job(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, make_scan: Callable[..., ScanRequest]
) -> None:
    scan = make_scan()
    first = await launcher.start(scan)
    posts_before = len(list(k8s_emulator["post"]))
    second = await launcher.start(scan)

    assert second == first
    assert len(list(k8s_emulator["post"])) == posts_before + 1  # the second create reached the API, got 409
    assert list(live_jobs(k8s_emulator, scan.scan_id)) == [f"skyscan-{scan.scan_id}"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, ScanState.RUNNING),
        ({"active": 1}, ScanState.RUNNING),
        ({"succeeded": 1}, ScanState.FINISHED),
        ({"failed": 1}, ScanState.FAILED),
        ({"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}, ScanState.FINISHED),
        ({"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}, ScanState.FAILED),
    ],
)
async def test_observe_reads_the_job_status(
    launcher: KubernetesLauncher,
    k8s_emulator: KubernetesApiEmulator,
    make_scan: Callable[..., ScanRequest],
    status: dict[str, Any],
    expected: ScanState,
) -> None:
    scan = make_scan()
    state = await launcher.start(scan)
    k8s_emulator.objects[JOBS, NAMESPACE, state["job_name"]].patch({"status": status})

    assert (await launcher.observe([LaunchedScan(scan.scan_id, state, [])]))[scan.scan_id].state == expected


async def test_a_missing_job_is_gone(launcher: KubernetesLauncher) -> None:
    assert await launcher.observe([LaunchedScan("0" * 32, {}, [])]) == {"0" * 32: Observation(ScanState.GONE)}


async def test_stop_deletes_the_job_and_starts_one_stopper_per_cluster(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, make_scan: Callable[..., ScanRequest]
) -> None:
    scan = make_scan()
    state = await launcher.start(scan)
    await launcher.stop(LaunchedScan(scan.scan_id, state, CONDOR_CLUSTERS))

    [delete] = [r for r in k8s_emulator["delete"] if r.name == state["job_name"]]
    assert delete.params.get("propagationPolicy") == "Background"  # pods go with the Job
    jobs = live_jobs(k8s_emulator, scan.scan_id)
    assert list(jobs) == [f"skyscan-stop-{scan.scan_id}"]
    stopper = jobs[f"skyscan-stop-{scan.scan_id}"]
    assert stopper["metadata"]["labels"]["skydriver/role"] == "stopper"
    containers = stopper["spec"]["template"]["spec"]["containers"]
    assert [c["command"] + c["args"] for c in containers] == [
        ["python", "-m", "scanner_client", "--collector", c["collector"], "--schedd", c["schedd"],
         "stop", "--cluster-id", str(c["cluster_id"])]
        for c in CONDOR_CLUSTERS
    ]  # fmt: skip
    assert all(env_plan(c) == {"CONDOR_TOKEN": {"secretKeyRef": {"name": "condor-creds", "key": "token"}}}
               for c in containers)  # fmt: skip
    assert await launcher.observe([LaunchedScan(scan.scan_id, state, [])]) == {scan.scan_id: Observation(ScanState.GONE)}


async def test_stopping_twice_is_fine(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, make_scan: Callable[..., ScanRequest]
) -> None:
    scan = make_scan()
    state = await launcher.start(scan)
    await launcher.stop(LaunchedScan(scan.scan_id, state, CONDOR_CLUSTERS))
    await launcher.stop(LaunchedScan(scan.scan_id, state, CONDOR_CLUSTERS))

    assert list(live_jobs(k8s_emulator, scan.scan_id)) == [f"skyscan-stop-{scan.scan_id}"]


async def test_stop_without_condor_clusters_starts_no_stopper(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, make_scan: Callable[..., ScanRequest]
) -> None:
    scan = make_scan()
    state = await launcher.start(scan)
    await launcher.stop(LaunchedScan(scan.scan_id, state, []))

    assert live_jobs(k8s_emulator, scan.scan_id) == {}


@pytest.mark.parametrize("status", FAILING_STATUSES)
async def test_api_errors(
    launcher_factory: Callable[..., KubernetesLauncher],
    k8s_emulator: KubernetesApiEmulator,
    make_scan: Callable[..., ScanRequest],
    status: int,
) -> None:
    failing = launcher_factory(str(k8s_emulator.url), namespace=failing_namespace(status))
    scan = make_scan()
    retryable = status not in (400, 422)  # only an invalid request cannot get better by retrying

    with pytest.raises(LaunchError) as start_error:
        await failing.start(scan)
    assert start_error.value.retryable is retryable
    assert str(status) in str(start_error.value)
    with pytest.raises(LaunchError) as stop_error:
        await failing.stop(LaunchedScan(scan.scan_id, {}, CONDOR_CLUSTERS))
    assert stop_error.value.retryable is retryable
    assert await failing.observe([LaunchedScan(scan.scan_id, {}, [])]) == {scan.scan_id: Observation(ScanState.UNKNOWN)}


async def test_unreachable_api_server(
    launcher_factory: Callable[..., KubernetesLauncher], closed_port_url: str, make_scan: Callable[..., ScanRequest]
) -> None:
    unreachable = launcher_factory(closed_port_url)
    scan = make_scan()

    with pytest.raises(LaunchError) as start_error:
        await unreachable.start(scan)
    assert start_error.value.retryable is True
    with pytest.raises(LaunchError) as stop_error:
        await unreachable.stop(LaunchedScan(scan.scan_id, {}, CONDOR_CLUSTERS))
    assert stop_error.value.retryable is True
    assert await unreachable.observe([LaunchedScan(scan.scan_id, {}, [])]) == {scan.scan_id: Observation(ScanState.UNKNOWN)}


def test_the_launcher_says_which_clusters_and_algorithms_it_runs(launcher: KubernetesLauncher) -> None:
    registry = {"local": {"collector": "localhost", "schedd": "localhost"}, "sub-2": {"collector": "cm", "schedd": "s2"}}
    assert launcher.usable_clusters(registry) == {"sub-2": {"collector": "cm", "schedd": "s2"}}  # pods cannot reach "local"
    assert launcher.refusal_of_reco_algo("millipede_wilks") is None
