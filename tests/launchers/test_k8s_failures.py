"""Why a Kubernetes scan failed or cannot start, read from pod statuses and Job conditions through the API emulator."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from k8s_api_emulator import KubernetesApiEmulator, create_pod, job_pod

from skydriver.launchers.base import LaunchedScan, Observation, ScanRequest, ScanState
from skydriver.launchers.kubernetes import KubernetesLauncher

SERVER = "skyscan-server"
RUNNING = {"running": {"startedAt": "2026-11-28T04:00:00Z"}}


@pytest.fixture
def launcher(k8s_emulator: KubernetesApiEmulator, launcher_factory: Callable[..., KubernetesLauncher]) -> KubernetesLauncher:
    """A namespace of its own per test: the emulator ignores label selectors, so a pod list holds every pod there."""
    return launcher_factory(str(k8s_emulator.url), namespace=f"scans-{uuid.uuid4().hex[:8]}")


@pytest.mark.parametrize(
    ("container_state", "status", "source", "code", "words"),
    [
        ({"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "icecube/skymap_scanner:3.5.2"'}}, {},
         "kubernetes", "ImagePullBackOff", 'cannot start (ImagePullBackOff): Back-off pulling image'),
        ({"terminated": {"reason": "OOMKilled", "exitCode": 137}}, {"phase": "Failed"},
         "kubernetes", "OOMKilled", "more memory than its limit (OOMKilled, exit code 137)"),
        ({"terminated": {"reason": "Error", "exitCode": 1, "message": "cannot scan this event"}}, {"phase": "Failed"},
         "scanner", "EXIT_CODE_1", "exited with code 1: cannot scan this event"),
        ({"terminated": {"reason": "ContainerStatusUnknown", "exitCode": 137}}, {"phase": "Failed", "reason": "Evicted",
         "message": "The node was low on resource: memory."}, "kubernetes", "Evicted", "was evicted: The node was low on resource"),
    ],
    ids=["ImagePullBackOff", "OOMKilled", "exit-1", "Evicted"],
)  # fmt: skip
async def test_a_failing_pod_names_the_cause(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, core: Any, make_scan: Callable[..., ScanRequest],
    container_state: dict[str, Any], status: dict[str, Any], source: str, code: str, words: str,
) -> None:  # fmt: skip
    scan = make_scan()
    launched = LaunchedScan(scan.scan_id, await launcher.start(scan), [])
    # a Job without pods yet: nothing wrong
    assert await launcher.observe([launched]) == {scan.scan_id: Observation(ScanState.RUNNING)}
    await create_pod(core, job_pod(k8s_emulator.job(**launched.state), {SERVER: container_state}, **status))
    failure = (await launcher.observe([launched]))[scan.scan_id].failure
    assert failure is not None and (failure.source, failure.code) == (source, code)
    assert words in failure.message and scan.scan_id in failure.message


async def test_a_running_pod_is_not_a_failure(
    launcher: KubernetesLauncher, k8s_emulator: KubernetesApiEmulator, core: Any, make_scan: Callable[..., ScanRequest]
) -> None:
    scan = make_scan()
    state = await launcher.start(scan)
    await create_pod(core, job_pod(k8s_emulator.job(**state), {SERVER: RUNNING}))
    assert await launcher.observe([LaunchedScan(scan.scan_id, state, [])]) == {scan.scan_id: Observation(ScanState.RUNNING)}
