"""The deployment manifests in resources/kubernetes stay in step with Settings and with what the launcher calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from skydriver.config import Settings, declarations

MANIFESTS = Path(__file__).parents[2] / "resources" / "kubernetes"


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> object, across every manifest file."""
    return {doc["kind"]: doc for path in MANIFESTS.glob("*.yaml") for doc in yaml.safe_load_all(path.read_text())}


@pytest.fixture
def deployed_settings() -> Settings:
    """Settings as the Deployment's environment produces them (secret values and field refs filled in)."""
    deployment = manifests()["Deployment"]
    environ = {}
    for entry in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "value" in entry:
            environ[entry["name"]] = entry["value"]
        elif "fieldRef" in entry["valueFrom"]:
            assert entry["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
            environ[entry["name"]] = deployment["metadata"]["namespace"]
        else:
            environ[entry["name"]] = "a-secret-value"
    return Settings.from_env(environ)


def test_every_deployment_variable_is_a_setting() -> None:
    declared = {field.alias for field in declarations()}
    container = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]

    assert [e["name"] for e in container["env"] if e["name"] not in declared] == []


def test_deployment_runs_the_kubernetes_launcher_in_its_namespace(deployed_settings: Settings) -> None:
    objects = manifests()
    assert deployed_settings.launcher == "kubernetes"
    assert deployed_settings.kubernetes.namespace == objects["Deployment"]["metadata"]["namespace"]
    assert deployed_settings.auth_enabled
    assert deployed_settings.mongodb_uri.startswith("mongodb://skydriver:a-secret-value@")
    image = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert deployed_settings.kubernetes.starter_image == image  # one image holds both skydriver and scanner_client


def test_scan_secrets_are_in_the_secret_template(deployed_settings: Settings) -> None:
    secret = manifests()["Secret"]
    assert secret["metadata"]["namespace"] == deployed_settings.kubernetes.namespace  # scan pods resolve refs locally
    for reference in (
        deployed_settings.kubernetes.condor_token_secret,
        deployed_settings.kubernetes.scanner_auth_secret,
        deployed_settings.kubernetes.broker_auth_secret,
    ):
        name, key = reference.split("/", 1)
        assert name == secret["metadata"]["name"]
        assert key in secret["stringData"]


def test_role_allows_what_the_launcher_calls() -> None:
    objects = manifests()
    deployment, role, binding = objects["Deployment"], objects["Role"], objects["RoleBinding"]
    namespace = deployment["metadata"]["namespace"]

    job_rules = [r for r in role["rules"] if "batch" in r["apiGroups"] and "jobs" in r["resources"]]
    assert {"create", "get", "delete"} <= {verb for rule in job_rules for verb in rule["verbs"]}
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == namespace
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": deployment["spec"]["template"]["spec"]["serviceAccountName"],
         "namespace": namespace}
    ]  # fmt: skip
    assert objects["ServiceAccount"]["metadata"]["name"] == deployment["spec"]["template"]["spec"]["serviceAccountName"]


def test_service_reaches_the_deployment() -> None:
    objects = manifests()
    pod = objects["Deployment"]["spec"]["template"]
    service = objects["Service"]

    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    port_names = {p["name"] for c in pod["spec"]["containers"] for p in c["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
