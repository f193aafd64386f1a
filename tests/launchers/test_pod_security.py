"""Every deploy manifest is a valid Kubernetes object, and every pod SkyDriver runs passes Pod Security "restricted".

The rules are the published Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards),
baseline and restricted, checked on the Deployment's pod and on the scan and stopper Jobs the launcher creates.
"""

from __future__ import annotations

import re
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client import ApiClient

from skydriver.config import Settings
from skydriver.launchers import kubernetes_objects
from skydriver.launchers.base import ScanRequest, WorkerCluster
from tests.launchers.test_k8s_manifests import documents

RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
                "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}  # fmt: skip


def unknown_fields(data: Any, type_name: str, where: str) -> list[str]:
    """Keys the official client's model for `type_name` does not know, anywhere below `data`."""
    if (inner := re.fullmatch(r"[Ll]ist\[(.+)\]", type_name)) and isinstance(data, list):
        return [u for n, item in enumerate(data) for u in unknown_fields(item, inner[1], f"{where}[{n}]")]
    if (inner := re.fullmatch(r"[Dd]ict[[(]str, (.+)[])]", type_name)) and isinstance(data, dict):
        return [u for k, item in data.items() for u in unknown_fields(item, inner[1], f"{where}.{k}")]
    model = getattr(kubernetes.client, type_name, None)
    if model is None or not isinstance(data, dict):
        return []  # a plain value (str, int, object for IntOrString...)
    by_key = {key: attribute for attribute, key in model.attribute_map.items()}
    found = [f"{where}.{key}" for key in data if key not in by_key]
    for key, value in data.items():
        if key in by_key:
            found += unknown_fields(value, model.openapi_types[by_key[key]], f"{where}.{key}")
    return found


@pytest.mark.parametrize("document", documents(), ids=lambda d: d["kind"])
def test_every_manifest_is_a_kubernetes_object_with_no_unknown_field(document: dict[str, Any]) -> None:
    if document["kind"] == "Kustomization":
        assert document["apiVersion"].startswith("kustomize.config.k8s.io/")
        return
    model_name = f"V1{document['kind']}"
    assert unknown_fields(document, model_name, document["kind"]) == []
    built = ApiClient()._ApiClient__deserialize(document, model_name)  # the client's own parser (validates required fields)
    assert built.metadata.name == document["metadata"]["name"]


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What in a pod spec (API JSON) breaks Pod Security baseline or restricted."""
    spec, problems = pod["spec"], []
    pod_context = spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            problems.append(flag)
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']}: {kinds - RESTRICTED_VOLUME_TYPES}")
    for sysctl in pod_context.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl['name']}")
    if pod_context.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    for container in [*spec["containers"], *(spec.get("initContainers") or [])]:
        name, context = container["name"], container.get("securityContext") or {}
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")) or context.get("runAsNonRoot") is False:
            problems.append(f"{name}: runAsNonRoot must be true")
        if context.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost, not {seccomp}")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities must drop ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds {capabilities['add']}")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            problems.append(f"{name}: hostPort")
        if context.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount")
    return problems


def scan_pods() -> dict[str, dict[str, Any]]:
    settings = Settings.from_env({"SKYDRIVER_AUTH": "off"})
    scan = ScanRequest(
        scan_id="ab" * 16, docker_tag="3.5.2", reco_algo="millipede_wilks", nsides={8: 0, 64: 12}, is_real_event=True,
        predictive_scanning_threshold=1.0, memory="8GB", max_reco_time=None,
        clusters=(WorkerCluster("sub-2", "glidein-cm.icecube.wisc.edu", "sub-2.icecube.wisc.edu", 10),),
        skydriver_address="http://skydriver:8080",
    )  # fmt: skip
    clusters = [{"collector": "glidein-cm.icecube.wisc.edu", "schedd": "sub-2.icecube.wisc.edu", "cluster_id": 7, "jobs": 10}]
    jobs = {
        "scan Job": kubernetes_objects.scan_job(settings.kubernetes, settings.scanner, scan),
        "stopper Job": kubernetes_objects.stopper_job(settings.kubernetes, scan.scan_id, "skydriver", clusters),
    }
    return {name: ApiClient().sanitize_for_serialization(job)["spec"]["template"] for name, job in jobs.items()}


def test_every_pod_passes_pod_security_restricted() -> None:
    deployment = next(d for d in documents() if d["kind"] == "Deployment")
    pods = {"Deployment": deployment["spec"]["template"], **scan_pods()}
    assert {name: restricted_violations(pod) for name, pod in pods.items()} == {name: [] for name in pods}


def test_containers_of_this_projects_image_have_a_read_only_root_filesystem() -> None:
    """Starters and stoppers (scanner_client) write only to their volumes; the Skymap Scanner's server, not our image,
    keeps a writable root filesystem."""
    pods = scan_pods()
    containers = [*pods["scan Job"]["spec"]["containers"], *pods["stopper Job"]["spec"]["containers"]]
    read_only = {c["name"]: c["securityContext"].get("readOnlyRootFilesystem", False) for c in containers}
    assert read_only == {c["name"]: c["name"] != kubernetes_objects.SERVER_CONTAINER for c in containers}
    for container in containers:
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert mounts >= ({"/common-space", "/tmp"} if read_only[container["name"]] else {"/common-space"}), container["name"]
    for pod in pods.values():
        assert {volume["name"] for volume in pod["spec"]["volumes"]} == {"common-space", "scratch"}


def test_the_checker_catches_what_restricted_forbids() -> None:
    pod = scan_pods()["scan Job"]
    pod["spec"]["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": True, "capabilities": {"add": ["SYS_ADMIN"]}}
    pod["spec"]["hostNetwork"] = True
    pod["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    problems = "\n".join(restricted_violations(pod))
    for rule in ("hostNetwork", "volume host", "allowPrivilegeEscalation", "capabilities must drop ALL", "adds ['SYS_ADMIN']"):
        assert rule in problems


def test_unknown_fields_are_found_at_any_depth() -> None:
    broken = {"metadata": {"name": "x", "labelz": {}}, "spec": {"template": {"spec": {"containers": [{"name": "c", "imag": "i"}]}}}}
    assert unknown_fields(broken, "V1Deployment", "Deployment") == [
        "Deployment.metadata.labelz", "Deployment.spec.template.spec.containers[0].imag"
    ]  # fmt: skip
