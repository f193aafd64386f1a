"""What POST /scan accepts is what the launched programs accept: every command line SkyDriver builds (local launcher
and the Kubernetes Job's containers) goes through the consumer's own argument parser, and values those parsers refuse
are refused at POST with a 400 naming the argument."""

from __future__ import annotations

from typing import Any

import pytest

from scanner_client.__main__ import parse_args as scanner_client_args
from skydriver.launchers import kubernetes_objects
from skydriver.launchers.base import LaunchedScan, ScanRequest
from skydriver.launchers.local import LocalLauncher
from skydriver.reference_scanner.server import parse_args as scanner_server_args
from skydriver.scans import scan_request
from skydriver.server import SkyDriver
from tests.conftest import assert_refused_at_post, scan_body
from tests.http_client import HttpClient

# every command is "python -m MODULE ...": the parser gets what follows
MODULE_COMMAND = 3
REPORTED_CLUSTERS = [
    {"collector": "glidein-cm.icecube.wisc.edu", "schedd": "sub-2.icecube.wisc.edu", "cluster_id": 4242, "jobs": 3},
    {"collector": "localhost", "schedd": "localhost", "cluster_id": 1, "jobs": 2},
]
GOOD_INPUTS = [
    {},
    {"memory": "512MB", "nsides": {"1": 0, "8192": 1}},
    {"memory": " 4 gb ", "nsides": {"8": 0, "16": 3072}, "max_reco_time": 600},
    {"memory": "2GiB", "nsides": {"8": 0, "64": 12, "512": 24}, "real_or_simulated_event": "sim"},
    {"memory": "0.5TB", "cluster": [["sub-2", 1], ["sub-2", 5]], "predictive_scanning_threshold": 0.5},
    {"memory": "1TB"},
    {"memory": "1.5g"},
]


async def accepted_scan(driver: SkyDriver, user: HttpClient, event: dict[str, Any], overrides: dict[str, Any]) -> ScanRequest:
    """POST the scan, then read it back as the backlog runner hands it to a launcher (with the reference scanner's
    algorithm: its parser stands in for the Skymap Scanner's, which is not installed here)."""
    response = await user.post("/scan", scan_body(event, **{"reco_algo": "dummy", **overrides}))
    assert response.status == 200, response
    return scan_request(await driver.database.manifests.get(response.json()["scan_id"]), "http://skydriver.example")


def containers(job: Any) -> dict[str, list[str]]:
    return {c.name: [*c.command, *c.args] for c in job.spec.template.spec.containers}


@pytest.mark.parametrize("overrides", GOOD_INPUTS)
async def test_every_local_command_line_parses(driver: SkyDriver, user: HttpClient, modern_event: dict, overrides: dict) -> None:
    scan = await accepted_scan(driver, user, modern_event, overrides)
    launcher = LocalLauncher(driver.settings)
    server, starters = launcher._commands(scan)

    server_args = scanner_server_args(server[MODULE_COMMAND:])
    assert server_args.nsides == scan.nsides
    assert len(starters) == len(scan.clusters)
    for starter in starters:
        args = scanner_client_args(starter[MODULE_COMMAND:])
        assert (args.command, args.memory, args.local_client_module) == ("start", scan.memory, "skydriver.reference_scanner.client")
    for stopper in launcher.stopper_commands(LaunchedScan(scan.scan_id, {}, REPORTED_CLUSTERS)):
        assert scanner_client_args(stopper[MODULE_COMMAND:]).command == "stop"


@pytest.mark.parametrize("overrides", GOOD_INPUTS)
async def test_every_kubernetes_container_command_line_parses(
    driver: SkyDriver, user: HttpClient, modern_event: dict, overrides: dict
) -> None:
    scan = await accepted_scan(driver, user, modern_event, overrides)
    job = containers(kubernetes_objects.scan_job(driver.settings.kubernetes, driver.settings.scanner, scan))

    server = job.pop("skyscan-server")
    assert server[:MODULE_COMMAND] == ["python", "-m", "skymap_scanner.server"]
    assert scanner_server_args(server[MODULE_COMMAND:]).nsides == scan.nsides  # the reference scanner's parser
    assert len(job) == len(scan.clusters)
    for starter in job.values():
        assert starter[:MODULE_COMMAND] == ["python", "-m", "scanner_client"]
        args = scanner_client_args(starter[MODULE_COMMAND:])
        assert (args.command, args.memory, args.local_jobs) == ("start", scan.memory, None)
    stopper = kubernetes_objects.stopper_job(driver.settings.kubernetes, scan.scan_id, "skydriver", REPORTED_CLUSTERS)
    for command in containers(stopper).values():
        assert scanner_client_args(command[MODULE_COMMAND:]).command == "stop"


@pytest.mark.parametrize(
    ("overrides", "argument", "reason"),
    [
        ({"memory": "8"}, "memory", "not a positive memory size with a unit"),
        ({"memory": "8Gi"}, "memory", "not a positive memory size with a unit"),
        ({"memory": "９GB"}, "memory", "not a positive memory size with a unit"),
        ({"memory": "9" * 40 + "GB"}, "memory", "at most 1TB"),
        ({"memory": "1.1TB"}, "memory", "at most 1TB"),
        ({"nsides": {"8": 0, "16": 0}}, "nsides", "the pixel extension must be between 1 and"),
        ({"nsides": {"8": 4, "16": 4}}, "nsides", "its pixel extension must be 0"),
        ({"nsides": {"８": 0}}, "nsides", "must be a power of two"),
        ({"nsides": {"+8": 0}}, "nsides", "must be a power of two"),
        ({"nsides": {"8": 0, "16": 3073}}, "nsides", "between 1 and 3072"),
        ({"nsides": {"16384": 0}}, "nsides", "between 1 and 8192"),
    ],
)
async def test_values_the_programs_refuse_are_400_at_post(
    driver: SkyDriver, user: HttpClient, modern_event: dict, overrides: dict, argument: str, reason: str
) -> None:
    await assert_refused_at_post(driver, await user.post("/scan", scan_body(modern_event, **overrides)), argument, reason)


@pytest.mark.parametrize(
    ("parse", "argv"),
    [
        (scanner_client_args, ["--collector", "c", "--schedd", "s", "start", "--n-jobs", "1", "--memory", "8Gi",
                               "--singularity-image", "i", "--client-startup-json", "/s.json"]),
        (scanner_client_args, ["--collector", "c", "--schedd", "s", "start", "--n-jobs", "1", "--memory", "8GB",
                               "--client-startup-json", "/s.json"]),  # HTCondor needs an image
        (scanner_server_args, ["--reco-algo", "dummy", "--cache-dir", "/c", "--client-startup-json", "/c/s.json",
                               "--nsides", "8:0", "16:0", "--real-event"]),
        (scanner_server_args, ["--reco-algo", "dummy", "--cache-dir", "/c", "--client-startup-json", "/c/s.json",
                               "--nsides", "８:0", "--real-event"]),
    ],
)  # fmt: skip
def test_the_programs_refuse_the_same_values(parse: Any, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
