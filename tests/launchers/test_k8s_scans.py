"""Scans end to end on Kubernetes: the real SkyDriver over HTTP, the real kubernetes client, kmock's API emulator.

Each test runs its scans in a namespace of its own, so the faults it arms in the emulator touch no other test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import shlex
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import jwt
import kmock
import pytest
import pytest_asyncio
from k8s_api_emulator import KubernetesApiEmulator
from kubernetes import client

from examples.sample_data import RESULTS_DIR as RESULTS
from skydriver.auth import SCAN_CLAIM
from skydriver.config import Settings
from skydriver.launchers.kubernetes import KubernetesLauncher
from skydriver.reconcile import reconcile_once
from skydriver.server import SkyDriver, start
from tests.conftest import free_port, make_settings, token
from tests.http_client import HttpClient
from tests.scan_api import post_scan, wait_for_manifest

pytestmark = pytest.mark.slow  # real processes end to end: `make test-fast` skips this file

JOBS = kmock.resource("batch/v1/jobs")
SECRETS = kmock.resource("v1/secrets")
FINAL_RESULT = RESULTS / "millipede_wilks__run00138632.evt000031747601.neutrino_1.json"
SUB_2 = {"collector": "glidein-cm.icecube.wisc.edu", "schedd": "sub-2.icecube.wisc.edu"}
# what the two sub-2 starters report after submitting their HTCondor clusters
CONDOR_CLUSTERS = [{**SUB_2, "cluster_id": 4242, "jobs": 1234}, {**SUB_2, "cluster_id": 4243, "jobs": 56}]
SECRET_NAMES = ("SKYSCAN_SKYDRIVER_AUTH", "SKYSCAN_BROKER_AUTH", "CONDOR_TOKEN")
TIMEOUT = 20.0


@attrs.define
class ScanApiServer(KubernetesApiEmulator):
    """The emulator with two faults of a real API server, armed per namespace, and the time of every create.

    ``refuse_creates[ns] = n``: the next n creates answer 503 and store nothing (an overloaded API server).
    ``lose_create_answer[ns] = event``: the next Job create is stored but not answered until ``event`` is set (the
    answer a SkyDriver killed mid-launch never read).
    (The ``answers-503`` namespaces will not do for retries: kmock stores a create before any reaction answers, so
    the retry of a create answered 503 meets 409, "already exists".)
    """

    refuse_creates: dict[str, int] = attrs.field(factory=dict)
    lose_create_answer: dict[str, asyncio.Event] = attrs.field(factory=dict)
    create_times: dict[str, list[float]] = attrs.field(factory=dict)  # Job name -> monotonic times of its creates

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.action != kmock.action.CREATE:
            return await super()._handle(request)
        self.create_times.setdefault(request.data["metadata"]["name"], []).append(time.monotonic())
        namespace = request.namespace or ""
        if self.refuse_creates.get(namespace, 0) > 0:
            self.refuse_creates[namespace] -= 1
            status = {"kind": "Status", "status": "Failure", "reason": "ServiceUnavailable", "code": 503}
            return aiohttp.web.json_response({"apiVersion": "v1", "metadata": {}, **status}, status=503)
        response = await super()._handle(request)
        if request.resource == JOBS and (lost := self.lose_create_answer.pop(namespace, None)) is not None:
            await lost.wait()
        return response

    def token_secret(self, scan_id: str) -> dict[str, Any] | None:
        """The stored Secret holding the scan's own SkyDriver token, while it exists."""
        name = f"skyscan-token-{scan_id}"
        found = [obj.raw for (resource, _, n), obj in self.objects.items() if resource == SECRETS and n == name and not obj.deleted]
        return found[0] if found else None

    def jobs(self, scan_id: str) -> dict[str, dict[str, Any]]:
        """Job name -> stored Job, for the Jobs of one scan that exist now."""
        return {
            name: obj.raw
            for (resource, _, name), obj in self.objects.items()
            if resource == JOBS and not obj.deleted and obj.raw["metadata"]["labels"]["skydriver/scan-id"] == scan_id
        }


@pytest_asyncio.fixture(scope="module")
async def api_server() -> AsyncIterator[ScanApiServer]:
    async with ScanApiServer() as emulator, kmock.Server(emulator):
        yield emulator
        for lost in emulator.lose_create_answer.values():
            lost.set()
        assert emulator.errors == [], "the emulator failed on a request it should have answered"


@pytest.fixture
def k8s_scan_settings(mongo_uri: str, tmp_path: Path) -> Settings:
    """Real auth, a namespace of the test's own, and intervals short enough for a test of seconds."""
    return make_settings(
        mongo_uri, tmp_path, {"K8S_NAMESPACE": f"scans-{uuid.uuid4().hex[:8]}"}, launcher="kubernetes",
        rest_port=free_port(), launch_interval=0.0, launch_max_attempts=3, launch_retry_backoff=0.5,
        launch_timeout=5.0, wait_before_teardown=1.0, reconcile_interval=0.5,
    )  # fmt: skip


class Drivers:
    """Starts SkyDrivers with a KubernetesLauncher on the emulator (or elsewhere); stops what is left at the end."""

    def __init__(self, api_url: str):
        self.api_url = api_url
        self.running: list[SkyDriver] = []
        self.api_clients: list[client.ApiClient] = []

    async def start(self, settings: Settings, api_url: str | None = None) -> SkyDriver:
        configuration = client.Configuration()
        configuration.host = (api_url or self.api_url).rstrip("/")
        self.api_clients.append(client.ApiClient(configuration))
        driver = await start(settings, KubernetesLauncher(settings, self.api_clients[-1]))
        self.running.append(driver)
        return driver

    async def stop(self, driver: SkyDriver) -> None:
        self.running.remove(driver)
        await driver.stop()


@pytest_asyncio.fixture
async def drivers(api_server: ScanApiServer) -> AsyncIterator[Drivers]:
    started = Drivers(str(api_server.url))
    yield started
    for driver in list(started.running):
        await started.stop(driver)
    for api_client in started.api_clients:
        api_client.close()


async def post_alert_scan(driver: SkyDriver, event: dict[str, Any]) -> str:
    """POST a scan asking for sub-2 twice, as an alert pipeline does; its scan_id."""
    manifest = await post_scan(HttpClient(driver.address, token("user")), event, cluster=[["sub-2", 1234], ["sub-2", 56]])
    return str(manifest["scan_id"])


async def report_condor_clusters(driver: SkyDriver, scan_id: str) -> None:
    """What the two starters PATCH once their HTCondor clusters are submitted."""
    system = HttpClient(driver.address, token("system"))
    for cluster in CONDOR_CLUSTERS:
        response = await system.patch(f"/scan/manifest/{scan_id}", {"condor_cluster": cluster})
        assert response.status == 200, response


async def running_scan(driver: SkyDriver, event: dict[str, Any]) -> tuple[HttpClient, str]:
    """A scan launched and with its starters' clusters reported: (a user's client, its scan_id)."""
    user = HttpClient(driver.address, token("user"))
    scan_id = await post_alert_scan(driver, event)
    await wait_for_manifest(user, scan_id, lambda m: m["launch"]["status"] == "launched", timeout=TIMEOUT)
    await report_condor_clusters(driver, scan_id)
    return user, scan_id


def command(container: dict[str, Any]) -> list[str]:
    return list(container["command"]) + list(container["args"])


def env_plan(container: dict[str, Any]) -> dict[str, Any]:
    """A stored container's env in the manifest's shape: value, or the secret reference."""
    return {e["name"]: e["value"] if "value" in e else e["valueFrom"] for e in container["env"]}


def assert_stopper_for(api_server: ScanApiServer, scan_id: str, clusters: list[dict[str, Any]]) -> None:
    """The scan's Job is gone and its stopper Job runs one ``scanner_client stop`` per recorded cluster."""
    jobs = api_server.jobs(scan_id)
    assert list(jobs) == [f"skyscan-stop-{scan_id}"]
    containers = jobs[f"skyscan-stop-{scan_id}"]["spec"]["template"]["spec"]["containers"]
    assert [command(c) for c in containers] == [
        ["python", "-m", "scanner_client", "--collector", c["collector"], "--schedd", c["schedd"],
         "stop", "--cluster-id", str(c["cluster_id"])]
        for c in clusters
    ]  # fmt: skip
    assert all(env_plan(c) == {"CONDOR_TOKEN": {"secretKeyRef": {"name": "skydriver-secrets", "key": "condor-token"}}}
               for c in containers)  # fmt: skip


async def test_a_scan_is_launched_as_one_job_holding_what_the_manifest_says(
    drivers: Drivers, api_server: ScanApiServer, k8s_scan_settings: Settings, modern_event: dict
) -> None:
    driver = await drivers.start(k8s_scan_settings)
    user = HttpClient(driver.address, token("user"))
    scan_id = await post_alert_scan(driver, modern_event)

    manifest = await wait_for_manifest(user, scan_id, lambda m: m["launch"]["status"] == "launched", timeout=TIMEOUT)
    assert manifest["launch"] == {"launcher": "kubernetes", "status": "launched", "reason": None, "attempts": 1}
    jobs = api_server.jobs(scan_id)
    assert list(jobs) == [f"skyscan-{scan_id}"]
    assert len(api_server.create_times[f"skyscan-{scan_id}"]) == 1
    job = jobs[f"skyscan-{scan_id}"]
    assert job["metadata"]["namespace"] == k8s_scan_settings.kubernetes.namespace
    server, *starters = job["spec"]["template"]["spec"]["containers"]
    assert server["image"] == f"icecube/skymap_scanner:{manifest['docker_tag']}"
    assert [c["args"][c["args"].index("--n-jobs") + 1] for c in starters] == ["1234", "56"]  # sub-2 twice: two starters

    assert manifest["scanner_server_args"] == shlex.join(command(server))
    assert manifest["tms_args"] == [shlex.join(command(s)) for s in starters]
    assert manifest["env_vars"] == {"scanner_server": env_plan(server), "tms_starters": env_plan(starters[0])}
    assert all(env_plan(s) == manifest["env_vars"]["tms_starters"] for s in starters)
    server_env = env_plan(server)
    assert server_env["SKYSCAN_SKYDRIVER_SCAN_ID"] == scan_id
    assert server_env["SKYSCAN_SKYDRIVER_ADDRESS"] == driver.address
    own_token = {"secretKeyRef": {"name": f"skyscan-token-{scan_id}", "key": "skydriver-token"}}
    assert server_env["SKYSCAN_SKYDRIVER_AUTH"] == env_plan(starters[0])["SKYSCAN_SKYDRIVER_AUTH"] == own_token
    secret = api_server.token_secret(scan_id)
    assert secret is not None and secret["metadata"]["labels"]["skydriver/scan-id"] == scan_id
    scan_token = secret["stringData"]["skydriver-token"]
    assert jwt.decode(scan_token, options={"verify_signature": False})[SCAN_CLAIM] == scan_id  # valid on this scan only
    assert scan_token not in str(job) and scan_token not in str(manifest)
    system_for_this_scan = HttpClient(driver.address, scan_token)
    assert (await system_for_this_scan.patch(f"/scan/manifest/{scan_id}", {"scan_metadata": {}})).status == 200
    for container in (server, *starters):
        for entry in container["env"]:
            if entry["name"] in SECRET_NAMES:
                assert set(entry) == {"name", "valueFrom"} and set(entry["valueFrom"]) == {"secretKeyRef"}, entry
    assert set(SECRET_NAMES) <= set(env_plan(starters[0]))


async def test_final_result_tears_the_scan_down_after_the_wait(
    drivers: Drivers, api_server: ScanApiServer, k8s_scan_settings: Settings, modern_event: dict
) -> None:
    driver = await drivers.start(k8s_scan_settings)
    user, system = HttpClient(driver.address, token("user")), HttpClient(driver.address, token("system"))
    scan_id = await post_alert_scan(driver, modern_event)
    await wait_for_manifest(user, scan_id, lambda m: m["launch"]["status"] == "launched", timeout=TIMEOUT)
    await report_condor_clusters(driver, scan_id)

    before_final = time.monotonic()
    raw = b'{"skyscan_result":' + FINAL_RESULT.read_bytes() + b',"is_final":true}'  # as the scanner sends it
    response = await system.put(f"/scan/result/{scan_id}", raw=raw)
    assert response.status == 200 and response.json()["is_final"] is True, response

    done = await wait_for_manifest(user, scan_id, lambda m: m["complete"], timeout=TIMEOUT)
    assert done["launch"] == {"launcher": "kubernetes", "status": "stopped", "reason": "finished", "attempts": 1}
    assert done["is_deleted"] is False
    assert_stopper_for(api_server, scan_id, CONDOR_CLUSTERS)
    assert api_server.token_secret(scan_id) is None  # the scan's token goes with it
    [delete] = [r for r in api_server["delete"] if r.name == f"skyscan-{scan_id}"]
    assert delete.params.get("propagationPolicy") == "Background"
    [stopper_created] = api_server.create_times[f"skyscan-stop-{scan_id}"]
    assert stopper_created - before_final >= k8s_scan_settings.wait_before_teardown  # never before the wait
    assert (await user.get(f"/scan/result/{scan_id}")).json()["is_final"] is True

    metrics = (await HttpClient(driver.address).get("/metrics")).body.decode()  # the scan's life, as Prometheus sees it
    for sample in ('skydriver_launches_total{outcome="launched"} 1.0', 'skydriver_teardowns_total{outcome="done"} 1.0',
                   "skydriver_launch_latency_seconds_count 1.0", "skydriver_teardown_latency_seconds_count 1.0",
                   'skydriver_results_total{kind="final"} 1.0'):  # fmt: skip
        assert sample in metrics, sample
    assert 'skydriver_reconcile_found_total{state="running"}' in metrics


async def test_refused_creates_are_retried_without_duplicating_the_job(
    drivers: Drivers, api_server: ScanApiServer, k8s_scan_settings: Settings, modern_event: dict
) -> None:
    api_server.refuse_creates[k8s_scan_settings.kubernetes.namespace] = 2
    driver = await drivers.start(k8s_scan_settings)
    user = HttpClient(driver.address, token("user"))
    scan_id = await post_alert_scan(driver, modern_event)

    manifest = await wait_for_manifest(user, scan_id, lambda m: m["launch"]["status"] == "launched", timeout=TIMEOUT)
    assert manifest["launch"] == {"launcher": "kubernetes", "status": "launched", "reason": None, "attempts": 3}
    assert list(api_server.jobs(scan_id)) == [f"skyscan-{scan_id}"]
    assert len(api_server.create_times[f"skyscan-{scan_id}"]) == 1
    first, second, third = api_server.create_times[f"skyscan-token-{scan_id}"]  # each attempt creates the token first
    backoff = k8s_scan_settings.launch_retry_backoff
    assert second - first >= backoff and third - second >= 2 * backoff  # backoff doubles


async def test_creates_refused_every_time_mark_the_scan_failed(
    drivers: Drivers, api_server: ScanApiServer, k8s_scan_settings: Settings, modern_event: dict
) -> None:
    api_server.refuse_creates[k8s_scan_settings.kubernetes.namespace] = 100
    driver = await drivers.start(k8s_scan_settings)
    user = HttpClient(driver.address, token("user"))
    scan_id = await post_alert_scan(driver, modern_event)

    done = await wait_for_manifest(user, scan_id, lambda m: m["complete"], timeout=TIMEOUT)
    assert done["launch"]["status"] == "failed"
    assert done["launch"]["attempts"] == 3
    assert done["launch"]["reason"].startswith("launch failed after 3 attempt(s): ")
    assert "Kubernetes API answered 503" in done["launch"]["reason"]
    assert len(api_server.create_times[f"skyscan-token-{scan_id}"]) == 3  # each attempt creates the token first
    assert api_server.jobs(scan_id) == {} and api_server.token_secret(scan_id) is None


async def test_an_unreachable_api_server_marks_the_scan_failed(
    drivers: Drivers, k8s_scan_settings: Settings, modern_event: dict
) -> None:
    driver = await drivers.start(k8s_scan_settings, api_url=f"http://127.0.0.1:{free_port()}")
    user = HttpClient(driver.address, token("user"))
    scan_id = await post_alert_scan(driver, modern_event)

    launch_ended = lambda m: m["launch"]["status"] not in ("waiting", "launching")  # noqa: E731
    failed = await wait_for_manifest(user, scan_id, launch_ended, timeout=TIMEOUT)
    assert failed["launch"]["status"] == "failed"
    assert failed["launch"]["attempts"] == 3
    assert failed["launch"]["reason"].startswith("launch failed after 3 attempt(s): ")
    assert "Kubernetes API unreachable" in failed["launch"]["reason"]


async def test_skydriver_killed_mid_launch_takes_the_launch_back_at_once_and_leaves_one_job(
    drivers: Drivers, api_server: ScanApiServer, k8s_scan_settings: Settings, modern_event: dict
) -> None:
    namespace = k8s_scan_settings.kubernetes.namespace
    answer_lost = api_server.lose_create_answer[namespace] = asyncio.Event()
    first = await drivers.start(k8s_scan_settings)
    user = HttpClient(first.address, token("user"))
    scan_id = await post_alert_scan(first, modern_event)
    try:
        in_flight = await wait_for_manifest(user, scan_id, lambda m: api_server.jobs(scan_id), timeout=TIMEOUT)
        assert in_flight["launch"]["status"] == "launching"  # the Job exists; SkyDriver never read the answer
        lease = (await first.database.backlog.collection.find_one({"scan_id": scan_id}))["lease"]
        assert lease["instance"] == k8s_scan_settings.instance
        assert lease["until"] - dt.datetime.now(dt.UTC) > dt.timedelta(seconds=TIMEOUT)  # outlives this test's wait
        await drivers.stop(first)

        await drivers.start(k8s_scan_settings)  # the same instance (port, database, data directory), booted later
        # takes back at once the launch its earlier run held, instead of waiting for the lease to run out
        launched = await wait_for_manifest(user, scan_id, lambda m: m["launch"]["status"] == "launched", timeout=TIMEOUT)
    finally:
        answer_lost.set()
    assert launched["launch"]["attempts"] == 2
    assert list(api_server.jobs(scan_id)) == [f"skyscan-{scan_id}"]
    assert len(api_server.create_times[f"skyscan-{scan_id}"]) == 2  # the second create was answered 409


async def test_skydriver_restarted_during_the_teardown_wait_still_tears_down(
    drivers: Drivers, api_server: ScanApiServer, k8s_scan_settings: Settings, modern_event: dict
) -> None:
    settings = dataclasses.replace(k8s_scan_settings, wait_before_teardown=3.0)  # room for the restart
    first = await drivers.start(settings)
    user, system = HttpClient(first.address, token("user")), HttpClient(first.address, token("system"))
    scan_id = await post_alert_scan(first, modern_event)
    await wait_for_manifest(user, scan_id, lambda m: m["launch"]["status"] == "launched", timeout=TIMEOUT)
    await report_condor_clusters(first, scan_id)
    raw = b'{"skyscan_result":' + FINAL_RESULT.read_bytes() + b',"is_final":true}'
    assert (await system.put(f"/scan/result/{scan_id}", raw=raw)).status == 200
    await drivers.stop(first)
    assert list(api_server.jobs(scan_id)) == [f"skyscan-{scan_id}"], "torn down before the restart: wait longer"

    await drivers.start(settings)
    done = await wait_for_manifest(user, scan_id, lambda m: m["complete"], timeout=TIMEOUT)
    assert done["launch"]["status"] == "stopped" and done["launch"]["reason"] == "finished"
    assert_stopper_for(api_server, scan_id, CONDOR_CLUSTERS)


async def test_a_job_deleted_behind_skydrivers_back_marks_the_scan_stopped(
    drivers: Drivers, api_server: ScanApiServer, k8s_scan_settings: Settings, modern_event: dict
) -> None:
    driver = await drivers.start(k8s_scan_settings)
    user, scan_id = await running_scan(driver, modern_event)

    batch = client.BatchV1Api(drivers.api_clients[-1])
    await asyncio.to_thread(batch.delete_namespaced_job, f"skyscan-{scan_id}", k8s_scan_settings.kubernetes.namespace)

    done = await wait_for_manifest(user, scan_id, lambda m: m["complete"], timeout=TIMEOUT)
    assert done["launch"]["status"] == "stopped"
    assert "kubernetes processes vanished" in done["launch"]["reason"]
    assert_stopper_for(api_server, scan_id, CONDOR_CLUSTERS)  # its HTCondor clusters are not left running


async def test_delete_of_a_running_scan_stops_it(
    drivers: Drivers, api_server: ScanApiServer, k8s_scan_settings: Settings, modern_event: dict
) -> None:
    driver = await drivers.start(k8s_scan_settings)
    user, scan_id = await running_scan(driver, modern_event)

    deleted = await user.delete(f"/scan/manifest/{scan_id}")
    assert deleted.status == 200 and deleted.json()["is_deleted"] is True, deleted
    done = await wait_for_manifest(user, scan_id, lambda m: m["complete"], timeout=TIMEOUT)
    assert done["is_deleted"] is True
    assert done["launch"] == {"launcher": "kubernetes", "status": "stopped", "reason": "deleted", "attempts": 1}
    assert_stopper_for(api_server, scan_id, CONDOR_CLUSTERS)

    again = await user.delete(f"/scan/manifest/{scan_id}")
    assert again.status == 200 and again.json()["is_deleted"] is True and again.json()["complete"] is True
    assert_stopper_for(api_server, scan_id, CONDOR_CLUSTERS)
    assert (await user.get(f"/scan/manifest/{scan_id}")).status == 404


async def test_every_worker_held_fails_the_scan_with_the_hold_reasons(
    drivers: Drivers, api_server: ScanApiServer, k8s_scan_settings: Settings, modern_event: dict
) -> None:
    driver = await drivers.start(k8s_scan_settings)
    user, scan_id = await running_scan(driver, modern_event)
    system = HttpClient(driver.address, token("system"))
    memory = "Job has gone over memory limit of 8192 megabytes."

    async def report(cluster: dict[str, Any], hold_reasons: dict[str, int], **states: int) -> None:
        """As a starter's watch reports its cluster's job states."""
        counts = {"idle": 0, "running": 0, "held": 0, "completed": 0, "removed": 0, **states}
        body = {"condor_cluster": {**cluster, "states": counts, "hold_reasons": hold_reasons}}
        assert (response := await system.patch(f"/scan/manifest/{scan_id}", body)).status == 200, response

    big, small = CONDOR_CLUSTERS
    await report(big, {memory: 1200, "Transfer input files failure": 30}, held=1230, removed=4)
    await report(small, {memory: 50}, held=50, running=6)
    await reconcile_once(driver.settings, driver.database, driver.launcher)
    assert (await user.get(f"/scan/{scan_id}/status")).json()["failure"] is None  # six workers still run

    await report(small, {memory: 56}, held=56)
    await reconcile_once(driver.settings, driver.database, driver.launcher)

    status = (await user.get(f"/scan/{scan_id}/status")).json()
    assert status["scan_state"] == "FAILED__WAITING_ON_SCANNER_SERVER_STARTUP" and status["is_terminal"]
    failure = status["failure"]
    assert (failure["source"], failure["code"]) == ("htcondor", "ALL_WORKERS_HELD")
    assert failure["message"] == status["reason"] == (
        "every worker of the scan's 2 HTCondor clusters is held or removed (1286 held, 4 removed); most common hold "
        f"reasons: {memory!r} (1256), 'Transfer input files failure' (30)"
    )
    done = await wait_for_manifest(user, scan_id, lambda m: m["complete"], timeout=TIMEOUT)  # torn down: the held jobs are removed
    assert done["status"]["failure"] == failure
    assert_stopper_for(api_server, scan_id, CONDOR_CLUSTERS)
