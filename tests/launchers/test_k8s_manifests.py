"""The deployment manifests in resources/kubernetes stay in step with Settings and with what the launcher calls."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from skydriver.auth import PUBLIC
from skydriver.config import Settings, declarations
from skydriver.rest.routes import ROUTES

REPO = Path(__file__).parents[2]
MANIFESTS = REPO / "resources" / "kubernetes"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]  # declared there, once


def documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(MANIFESTS.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> object, across every manifest file."""
    return {doc["kind"]: doc for doc in documents() if doc["kind"] != "Kustomization"}


# variables the Deployment sets for the libraries SkyDriver uses, not settings of SkyDriver's own
LIBRARY_VARIABLES = {"MPLCONFIGDIR"}


def deployment_environment() -> dict[str, Any]:
    """What the SkyDriver container's environment holds: the ConfigMap's data, then its own `env` entries."""
    objects = manifests()
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert [source["configMapRef"]["name"] for source in container["envFrom"]] == [objects["ConfigMap"]["metadata"]["name"]]
    return {**objects["ConfigMap"]["data"], **{entry["name"]: entry for entry in container["env"]}}


@pytest.fixture
def deployed_settings() -> Settings:
    """Settings as the Deployment's environment produces them (secret values and field refs filled in)."""
    namespace = manifests()["Deployment"]["metadata"]["namespace"]
    environ = {}
    for name, entry in deployment_environment().items():
        if isinstance(entry, str):
            environ[name] = entry
        elif "value" in entry:
            environ[name] = entry["value"]
        elif "fieldRef" in entry["valueFrom"]:
            assert entry["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
            environ[name] = namespace
        else:
            environ[name] = "a-secret-value"
    return Settings.from_env(environ)


def test_every_deployment_variable_is_a_setting() -> None:
    declared = {field.alias for field in declarations()}
    assert [name for name in deployment_environment() if name not in declared | LIBRARY_VARIABLES] == []


def test_secrets_come_from_the_secret_not_the_configmap() -> None:
    environment = deployment_environment()
    assert not [name for name in environment if name.endswith(("PASSWORD", "_SECRET", "TOKEN")) and isinstance(environment[name], str)
                and not name.endswith("_SECRET")]  # fmt: skip
    assert environment["MONGODB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == manifests()["Secret"]["metadata"]["name"]


def test_kustomization_applies_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    expected = {path.name for path in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml", "secret.template.yaml"}
    assert set(kustomization["resources"]) == expected
    assert kustomization["namespace"] == manifests()["Deployment"]["metadata"]["namespace"]


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


def test_every_manifest_records_the_version_and_deploys_its_image() -> None:
    """Each object's provenance label and SkyDriver's image (the Deployment's and the starters') follow pyproject.toml's
    version, so `kubectl apply -k` deploys the release the manifests name."""
    objects = [doc for doc in documents() if doc["kind"] != "Kustomization"]
    assert {doc["kind"]: doc["metadata"]["labels"].get("app.kubernetes.io/version") for doc in objects} == {
        doc["kind"]: VERSION for doc in objects
    }  # fmt: skip
    pod = manifests()["Deployment"]["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/version"] == VERSION
    image = f"ghcr.io/wipacrepo/skydriver:{VERSION}"
    assert pod["spec"]["containers"][0]["image"] == manifests()["ConfigMap"]["data"]["SKYDRIVER_STARTER_IMAGE"] == image


def test_the_probes_ask_the_health_routes_without_a_token() -> None:
    container = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    probes = {kind: container[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    assert probes == {"livenessProbe": {"path": "/healthz", "port": "http"}, "readinessProbe": {"path": "/readyz", "port": "http"}}
    public = {route.path for route in ROUTES if "get" in route.operations and route.operations["get"].roles == PUBLIC}
    assert {"/healthz", "/readyz"} <= public  # the kubelet sends no token


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed: `kubectl kustomize` cannot be run")
def test_kubectl_kustomize_renders_every_object_in_the_namespace() -> None:
    """What `kubectl apply -k resources/kubernetes` would send: kustomize's own rendering of the directory."""
    rendered = subprocess.run(["kubectl", "kustomize", str(MANIFESTS)], capture_output=True, text=True, timeout=60, check=True)
    objects = list(yaml.safe_load_all(rendered.stdout))
    expected = {(d["kind"], d["metadata"]["name"]) for d in documents() if d["kind"] not in ("Kustomization", "Secret")}
    assert {(o["kind"], o["metadata"]["name"]) for o in objects} == expected
    assert {o["metadata"]["namespace"] for o in objects} == {manifests()["Deployment"]["metadata"]["namespace"]}
