"""The pure Job builders: names, labels, containers, commands and secrets, checked on their output."""

from __future__ import annotations

import re
from collections.abc import Callable

from kubernetes import client

from skydriver.config import Settings
from skydriver.launchers import kubernetes_objects
from skydriver.launchers.base import ScanRequest

SECRET_VARIABLES = {"SKYSCAN_SKYDRIVER_AUTH", "SKYSCAN_BROKER_AUTH", "CONDOR_TOKEN"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def test_job_is_named_and_labelled_by_scan_id(k8s_settings: Settings, make_scan: Callable[..., ScanRequest]) -> None:
    scan = make_scan()
    job = kubernetes_objects.scan_job(k8s_settings.kubernetes, k8s_settings.scanner, scan)

    assert job.metadata.name == f"skyscan-{scan.scan_id}" == kubernetes_objects.scan_job_name(scan.scan_id)
    assert DNS_LABEL.match(job.metadata.name)
    assert job.metadata.namespace == k8s_settings.kubernetes.namespace
    expected_labels = {
        "app.kubernetes.io/name": "skydriver",
        "skydriver/scan-id": scan.scan_id,
        "skydriver/role": "scanner",
    }
    assert job.metadata.labels == expected_labels
    assert job.spec.template.metadata.labels == expected_labels
    assert job.spec.backoff_limit == 0
    assert job.spec.ttl_seconds_after_finished > 0
    assert job.spec.template.spec.restart_policy == "Never"


def test_a_cluster_named_twice_gets_two_starters(k8s_settings: Settings, make_scan: Callable[..., ScanRequest]) -> None:
    scan = make_scan()
    containers = kubernetes_objects.scan_job(k8s_settings.kubernetes, k8s_settings.scanner, scan).spec.template.spec.containers

    names = [c.name for c in containers]
    assert names == ["skyscan-server", "tms-starter-0", "tms-starter-1", "tms-starter-2"]
    assert all(DNS_LABEL.match(name) for name in names)
    n_jobs = [c.args[c.args.index("--n-jobs") + 1] for c in containers[1:]]
    schedds = [c.args[c.args.index("--schedd") + 1] for c in containers[1:]]
    assert n_jobs == ["1234", "56", "3"]
    assert schedds == ["sub-2.icecube.wisc.edu", "sub-2.icecube.wisc.edu", "localhost"]


def test_starters_use_the_cvmfs_image_of_the_scanner_tag(
    k8s_settings: Settings, make_scan: Callable[..., ScanRequest]
) -> None:
    scan = make_scan(docker_tag="3.4.2")
    for command in kubernetes_objects.starter_commands(k8s_settings.kubernetes, scan):
        image = command[command.index("--singularity-image") + 1]
        assert image == "/cvmfs/icecube.opensciencegrid.org/containers/realtime/skymap_scanner:3.4.2"
        assert command[command.index("--client-startup-json") + 1] == "/common-space/startup.json"
        assert command[command.index("--memory") + 1] == "8GB"


def test_secrets_are_only_referenced(k8s_settings: Settings, make_scan: Callable[..., ScanRequest]) -> None:
    containers = kubernetes_objects.scan_job(k8s_settings.kubernetes, k8s_settings.scanner, make_scan()).spec.template.spec.containers

    for container in containers:
        secrets = {e.name: e for e in container.env if e.name in SECRET_VARIABLES}
        expected = {"SKYSCAN_SKYDRIVER_AUTH", "SKYSCAN_BROKER_AUTH"}
        assert set(secrets) == (expected if container.name == "skyscan-server" else expected | {"CONDOR_TOKEN"})
        for entry in secrets.values():
            assert entry.value is None
            assert entry.value_from.secret_key_ref is not None
    server_env = {e.name: e for e in containers[0].env}
    assert server_env["SKYSCAN_SKYDRIVER_AUTH"].value_from.secret_key_ref == client.V1SecretKeySelector(
        name="skydriver-creds", key="scanner-token"
    )


def test_max_reco_time_reaches_the_environment(k8s_settings: Settings, make_scan: Callable[..., ScanRequest]) -> None:
    with_timeout = kubernetes_objects.scanner_server_env(k8s_settings.kubernetes, k8s_settings.scanner, make_scan(max_reco_time=1800))
    without = kubernetes_objects.scanner_server_env(k8s_settings.kubernetes, k8s_settings.scanner, make_scan(max_reco_time=None))

    assert with_timeout["EWMS_PILOT_SUBPROC_TIMEOUT"] == "1800"
    assert "EWMS_PILOT_SUBPROC_TIMEOUT" not in without


def test_stopper_job_has_one_container_per_condor_cluster(k8s_settings: Settings) -> None:
    clusters = [
        {"collector": "glidein-cm.icecube.wisc.edu", "schedd": "sub-2.icecube.wisc.edu", "cluster_id": 101, "jobs": 5},
        {"collector": "localhost", "schedd": "localhost", "cluster_id": 7, "jobs": 2},
    ]
    job = kubernetes_objects.stopper_job(k8s_settings.kubernetes, "ab" * 16, "elsewhere", clusters)

    assert job.metadata.name == f"skyscan-stop-{'ab' * 16}"
    assert job.metadata.namespace == "elsewhere"
    assert job.metadata.labels["skydriver/role"] == "stopper"
    commands = [c.command + c.args for c in job.spec.template.spec.containers]
    assert commands == [
        ["python", "-m", "scanner_client", "--collector", "glidein-cm.icecube.wisc.edu",
         "--schedd", "sub-2.icecube.wisc.edu", "stop", "--cluster-id", "101"],
        ["python", "-m", "scanner_client", "--collector", "localhost", "--schedd", "localhost",
         "stop", "--cluster-id", "7"],
    ]  # fmt: skip


def test_scan_jobs_get_the_configured_deadline_and_stoppers_none(k8s_settings: Settings, make_scan: Callable[..., ScanRequest]) -> None:
    assert kubernetes_objects.scan_job(k8s_settings.kubernetes, k8s_settings.scanner, make_scan()).spec.active_deadline_seconds is None
    limited = Settings.from_env({"SKYDRIVER_AUTH": "off", "K8S_SCAN_DEADLINE": "86400"})
    job = kubernetes_objects.scan_job(limited.kubernetes, limited.scanner, make_scan())
    assert job.spec.active_deadline_seconds == 86400
    stopper = kubernetes_objects.stopper_job(limited.kubernetes, "ab" * 16, "skydriver", [])
    assert stopper.spec.active_deadline_seconds is None
