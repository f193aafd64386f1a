"""Pure builders of the Kubernetes objects for one scan: the Kubernetes settings + ScanRequest in, ``V1Job`` out.

Kept apart from the API calls (as KubeSpawner keeps ``objects.py``) so what a scan runs is testable without a cluster,
and so ``plan`` (the manifest's provenance) and the created Job come from the very same functions.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes import client

from ..config import KubernetesSettings, ScannerSettings
from . import scanner_command
from .base import ScanRequest

APP_NAME = "skydriver"
APP_LABEL = "app.kubernetes.io/name"
SCAN_ID_LABEL = "skydriver/scan-id"
ROLE_LABEL = "skydriver/role"
# every scan Job (and, through its template, every pod of one) carries these: one listing finds the whole fleet
SCANNER_LABELS = {APP_LABEL: APP_NAME, ROLE_LABEL: "scanner"}
SERVER_CONTAINER = "skyscan-server"
COMMON_SPACE_VOLUME = "common-space"
SCRATCH_VOLUME, SCRATCH_PATH = "scratch", "/tmp"  # scanner_client's only writes outside /common-space (its IDTOKEN file)
# finished Jobs linger a day for `kubectl logs`; SkyDriver itself deletes them on teardown
TTL_SECONDS_AFTER_FINISHED = 24 * 60 * 60
# condor_rm of an already-removed cluster is harmless, so a failed stopper pod may simply run again
STOPPER_BACKOFF_LIMIT = 3
SERVER_RESOURCES = client.V1ResourceRequirements(requests={"cpu": "1", "memory": "2Gi"}, limits={"memory": "8Gi"})
CLIENT_RESOURCES = client.V1ResourceRequirements(requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "1Gi"})

# every command is "python -m <module> ...": Kubernetes `command` holds that much, `args` the rest
MODULE_COMMAND_LENGTH = 3

EnvPlan = dict[str, str | dict[str, dict[str, str]]]  # NAME -> value, or a secretKeyRef reference
SCAN_TOKEN_KEY = "skydriver-token"  # the key of a scan's own token in its Secret


def scan_job_name(scan_id: str) -> str:
    """The scan's Job name; deterministic, so a second launch of the same scan collides (409) instead of duplicating."""
    return f"skyscan-{scan_id}"


def stopper_job_name(scan_id: str) -> str:
    """The Job that removes the scan's HTCondor clusters; deterministic for the same reason."""
    return f"skyscan-stop-{scan_id}"


def scan_token_secret_name(scan_id: str) -> str:
    """The Secret holding the scan's own SkyDriver token; deterministic, so a second launch finds it."""
    return f"skyscan-token-{scan_id}"


def scan_token_reference(scan_id: str) -> str:
    """``name/key`` of the scan's own token, as the ``*_SECRET`` settings name shared ones."""
    return f"{scan_token_secret_name(scan_id)}/{SCAN_TOKEN_KEY}"


def scan_token_secret(namespace: str, scan_id: str, token: str) -> client.V1Secret:
    """The Secret the scan's containers read their token from (by reference: the Job never holds its value)."""
    return client.V1Secret(
        api_version="v1",
        kind="Secret",
        metadata=client.V1ObjectMeta(name=scan_token_secret_name(scan_id), namespace=namespace, labels=job_labels(scan_id, "token")),
        type="Opaque",
        string_data={SCAN_TOKEN_KEY: token},
    )


def job_labels(scan_id: str, role: str) -> dict[str, str]:
    """Labels that let an operator (or ``kubectl -l``) find every object of a scan."""
    return {APP_LABEL: APP_NAME, SCAN_ID_LABEL: scan_id, ROLE_LABEL: role}


def label_selector(labels: Mapping[str, str]) -> str:
    """``labels`` as an API ``labelSelector`` (equality on each)."""
    return ",".join(f"{key}={value}" for key, value in labels.items())


def starter_container_name(index: int) -> str:
    return f"tms-starter-{index}"


def container_name(role: str) -> str:
    """The scan pod's container for a log role of ``GET /scan/ID/logs``: ``server`` or ``starter-N``."""
    return SERVER_CONTAINER if role == "server" else starter_container_name(int(role.removeprefix("starter-")))


def singularity_image(k8s: KubernetesSettings, docker_tag: str) -> str:
    """The CVMFS path of the workers' image for a scanner tag, e.g. ``.../skymap_scanner:3.5.2``."""
    return f"{k8s.singularity_dir}:{docker_tag}"


def scanner_server_env(k8s: KubernetesSettings, scanner: ScannerSettings, scan: ScanRequest, token_secret: str = "") -> EnvPlan:
    """The scanner server's environment: plain settings by value, tokens by Secret reference only (its SkyDriver
    token: ``token_secret``, the scan's own, else the shared SKYSCAN_SKYDRIVER_AUTH_SECRET)."""
    return {
        **scanner_command.scanner_env(scan, scanner),
        "SKYSCAN_BROKER_ADDRESS": k8s.broker_address,
        "SKYSCAN_SKYDRIVER_AUTH": scanner_command.secret_reference(token_secret or k8s.scanner_auth_secret),
        "SKYSCAN_BROKER_AUTH": scanner_command.secret_reference(k8s.broker_auth_secret),
    }


def starter_env(k8s: KubernetesSettings, scanner: ScannerSettings, scan: ScanRequest, token_secret: str = "") -> EnvPlan:
    """The starters' environment: what the workers need, plus the HTCondor token to submit them."""
    return {
        **scanner_server_env(k8s, scanner, scan, token_secret),
        "CONDOR_TOKEN": scanner_command.secret_reference(k8s.condor_token_secret),
    }


def starter_commands(k8s: KubernetesSettings, scan: ScanRequest) -> list[list[str]]:
    """One ``scanner_client ... start`` command per requested cluster (a cluster named twice starts twice)."""
    return [
        [
            "python", "-m", "scanner_client",
            "--collector", cluster.collector,
            "--schedd", cluster.schedd,
            "start",
            "--n-jobs", str(cluster.n_workers),
            "--memory", scan.memory,
            "--singularity-image", singularity_image(k8s, scan.docker_tag),
            "--client-startup-json", f"{scanner_command.COMMON_SPACE}/startup.json",
        ]  # fmt: skip
        for cluster in scan.clusters
    ]


def stopper_commands(condor_clusters: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """One ``scanner_client ... stop`` command per HTCondor cluster the starters reported."""
    return [
        [
            "python", "-m", "scanner_client",
            "--collector", str(cluster["collector"]),
            "--schedd", str(cluster["schedd"]),
            "stop",
            "--cluster-id", str(cluster["cluster_id"]),
        ]  # fmt: skip
        for cluster in condor_clusters
    ]


def tms_args(k8s: KubernetesSettings, scan: ScanRequest) -> list[str]:
    """The manifest's ``tms_args``: each starter's full command as one shell-quoted string."""
    return [shlex.join(command) for command in starter_commands(k8s, scan)]


def env_vars(env: EnvPlan) -> list[client.V1EnvVar]:
    """Turn an environment plan into container env entries, references staying references."""
    entries = []
    for name, value in env.items():
        if isinstance(value, str):
            entries.append(client.V1EnvVar(name=name, value=value))
        else:
            ref = value["secretKeyRef"]
            selector = client.V1SecretKeySelector(name=ref["name"], key=ref["key"])
            entries.append(client.V1EnvVar(name=name, value_from=client.V1EnvVarSource(secret_key_ref=selector)))
    return entries


# Pod Security "restricted": no root, no privilege escalation, no capabilities, the runtime's seccomp profile. The
# scanner image must run as an arbitrary non-root user (fsGroup makes /common-space writable for it).
SCAN_POD_UID = 10001
RESTRICTED_POD = client.V1PodSecurityContext(
    run_as_non_root=True, run_as_user=SCAN_POD_UID, run_as_group=SCAN_POD_UID, fs_group=SCAN_POD_UID,
    seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
)  # fmt: skip
RESTRICTED_CONTAINER = client.V1SecurityContext(
    allow_privilege_escalation=False, capabilities=client.V1Capabilities(drop=["ALL"])
)
# this project's image (starters, stoppers) writes only to its volumes: its root filesystem is read-only; the Skymap
# Scanner's image is not ours to know, so its server keeps a writable one
READ_ONLY_CONTAINER = client.V1SecurityContext(
    allow_privilege_escalation=False, capabilities=client.V1Capabilities(drop=["ALL"]), read_only_root_filesystem=True
)


def _common_space_mount() -> client.V1VolumeMount:
    return client.V1VolumeMount(name=COMMON_SPACE_VOLUME, mount_path=scanner_command.COMMON_SPACE)


def _container(
    name: str, image: str, command: list[str], env: EnvPlan, resources: client.V1ResourceRequirements, ours: bool = True
) -> client.V1Container:
    """A scan pod's container; ``ours``: it runs this project's image (``scanner_client``), read-only but for /tmp."""
    mounts = [_common_space_mount()]
    if ours:
        mounts.append(client.V1VolumeMount(name=SCRATCH_VOLUME, mount_path=SCRATCH_PATH))
    return client.V1Container(
        name=name,
        image=image,
        command=command[:MODULE_COMMAND_LENGTH],
        args=command[MODULE_COMMAND_LENGTH:],
        env=env_vars(env),
        resources=resources,
        volume_mounts=mounts,
        security_context=READ_ONLY_CONTAINER if ours else RESTRICTED_CONTAINER,
    )


def _job(
    name: str, scan_id: str, role: str, namespace: str, containers: list[client.V1Container], backoff_limit: int,
    deadline: int = 0,
) -> client.V1Job:
    labels = job_labels(scan_id, role)
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels),
        spec=client.V1JobSpec(
            backoff_limit=backoff_limit,
            active_deadline_seconds=deadline or None,
            ttl_seconds_after_finished=TTL_SECONDS_AFTER_FINISHED,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    automount_service_account_token=False,  # scan pods never talk to the Kubernetes API
                    security_context=RESTRICTED_POD,
                    containers=containers,
                    volumes=[
                        client.V1Volume(name=volume, empty_dir=client.V1EmptyDirVolumeSource())
                        for volume in (COMMON_SPACE_VOLUME, SCRATCH_VOLUME)
                    ],
                ),
            ),
        ),
    )


def scan_job(k8s: KubernetesSettings, scanner: ScannerSettings, scan: ScanRequest, token_secret: str = "") -> client.V1Job:
    """The scan's Job: the scanner server plus one starter per requested cluster, sharing ``/common-space``."""
    server_command = ["python", "-m", "skymap_scanner.server", *scanner_command.scanner_server_argv(scan)]
    server = _container(
        SERVER_CONTAINER,
        f"{k8s.scanner_image}:{scan.docker_tag}",
        server_command,
        scanner_server_env(k8s, scanner, scan, token_secret),
        SERVER_RESOURCES,
        ours=False,
    )
    starters = [
        _container(starter_container_name(i), k8s.starter_image, command, starter_env(k8s, scanner, scan, token_secret), CLIENT_RESOURCES)
        for i, command in enumerate(starter_commands(k8s, scan))
    ]
    return _job(
        scan_job_name(scan.scan_id), scan.scan_id, "scanner", k8s.namespace, [server, *starters], 0, k8s.scan_deadline
    )


def stopper_job(
    k8s: KubernetesSettings, scan_id: str, namespace: str, condor_clusters: Sequence[Mapping[str, Any]]
) -> client.V1Job:
    """The Job that runs ``scanner_client stop`` (condor_rm) once per recorded HTCondor cluster."""
    env: EnvPlan = {"CONDOR_TOKEN": scanner_command.secret_reference(k8s.condor_token_secret)}
    stoppers = [
        _container(f"tms-stopper-{i}", k8s.starter_image, command, env, CLIENT_RESOURCES)
        for i, command in enumerate(stopper_commands(condor_clusters))
    ]
    return _job(stopper_job_name(scan_id), scan_id, "stopper", namespace, stoppers, STOPPER_BACKOFF_LIMIT)
