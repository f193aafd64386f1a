"""Fixtures for launcher tests: kmock's Kubernetes API emulator over real HTTP, settings and scans."""

from __future__ import annotations

import dataclasses
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import kmock
import pytest
import pytest_asyncio
from k8s_api_emulator import FAILING_STATUSES, NAMESPACE, KubernetesApiEmulator, failing_namespace
from kubernetes import client

from skydriver.config import Settings
from skydriver.launchers.base import ScanRequest, WorkerCluster
from skydriver.launchers.kubernetes import KubernetesLauncher


@pytest_asyncio.fixture(scope="module")
async def k8s_emulator() -> AsyncIterator[KubernetesApiEmulator]:
    """One emulator per test module; every test uses fresh scan ids, so tests never see each other's Jobs."""
    async with KubernetesApiEmulator() as emulator, kmock.Server(emulator):
        for status in FAILING_STATUSES:
            emulator[kmock.namespace(failing_namespace(status))] << status
        yield emulator
        assert emulator.errors == [], "the emulator failed on a request it should have answered"


def api_client_for(url: str) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = url.rstrip("/")
    return client.ApiClient(configuration)


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on: the API server is unreachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def k8s_settings() -> Settings:
    return Settings.from_env(
        {
            "SKYDRIVER_AUTH": "off",
            "REST_HOST": "127.0.0.1",
            "SKYDRIVER_LAUNCHER": "kubernetes",
            "K8S_NAMESPACE": NAMESPACE,
            "SKYSCAN_SERVER_IMAGE": "icecube/skymap_scanner",
            "SKYSCAN_SINGULARITY_DIR": "/cvmfs/icecube.opensciencegrid.org/containers/realtime/skymap_scanner",
            "SKYDRIVER_STARTER_IMAGE": "ghcr.io/wipacrepo/skydriver:1.0.0",
            "CONDOR_TOKEN_SECRET": "condor-creds/token",
            "SKYSCAN_SKYDRIVER_AUTH_SECRET": "skydriver-creds/scanner-token",
            "SKYSCAN_BROKER_AUTH_SECRET": "broker-creds/token",
            "SKYSCAN_BROKER_ADDRESS": "broker.example.org/skyscan",
        }
    )


@pytest.fixture
def make_scan() -> Callable[..., ScanRequest]:
    """A scan with a fresh id, asking for sub-2 twice (two starters) and the local cluster once."""

    def make(**overrides: object) -> ScanRequest:
        fields: dict[str, object] = {
            "scan_id": uuid.uuid4().hex,
            "docker_tag": "3.5.2",
            "reco_algo": "millipede_wilks",
            "nsides": {8: 0, 64: 12, 512: 24},
            "is_real_event": True,
            "predictive_scanning_threshold": 1.0,
            "memory": "8GB",
            "max_reco_time": 1800,
            "clusters": (
                WorkerCluster("sub-2", "glidein-cm.icecube.wisc.edu", "sub-2.icecube.wisc.edu", 1234),
                WorkerCluster("sub-2", "glidein-cm.icecube.wisc.edu", "sub-2.icecube.wisc.edu", 56),
                WorkerCluster("local", "localhost", "localhost", 3),
            ),
            "skydriver_address": "https://skydriver.example.org",
        }
        fields.update(overrides)
        return ScanRequest(**fields)  # type: ignore[arg-type]

    return make


@pytest_asyncio.fixture
async def launcher(k8s_emulator: KubernetesApiEmulator, k8s_settings: Settings) -> AsyncIterator[KubernetesLauncher]:
    api_client = api_client_for(str(k8s_emulator.url))
    yield KubernetesLauncher(k8s_settings, api_client)
    api_client.close()


@pytest.fixture
def core(k8s_emulator: KubernetesApiEmulator) -> Iterator[client.CoreV1Api]:
    """The API as the cluster's own components use it (the kubelet reporting pods)."""
    api_client = api_client_for(str(k8s_emulator.url))
    yield client.CoreV1Api(api_client)
    api_client.close()


@pytest.fixture
def launcher_factory(k8s_settings: Settings) -> Iterator[Callable[..., KubernetesLauncher]]:
    """Launchers at other API URLs or namespaces (unreachable server, failing namespace)."""
    api_clients: list[client.ApiClient] = []

    def make(url: str, namespace: str = NAMESPACE) -> KubernetesLauncher:
        api_clients.append(api_client_for(url))
        settings = dataclasses.replace(k8s_settings, kubernetes=dataclasses.replace(k8s_settings.kubernetes, namespace=namespace))
        return KubernetesLauncher(settings, api_clients[-1])

    yield make
    for api_client in api_clients:
        api_client.close()
