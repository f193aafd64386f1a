"""The one client of the scanner-facing routes, against a loopback SkyDriver that validates like the real one."""

import json

import pytest

from examples.sample_data import PRODUCTION_RESULT
from scanner_client.reporter import CondorCluster, condor_cluster_body
from scanner_client.scan_routes import ScanAddressMissing, ScanRoutesClient, SkyDriverRefused, SkyDriverUnreachable
from tests.scanner_routes_recorder import SCAN_ID, ValidatingSkyDriver

CLUSTER = CondorCluster("glidein-cm.icecube.wisc.edu", "sub-2.icecube.wisc.edu", 4242, 3)


@pytest.fixture
def guarded():
    server = ValidatingSkyDriver(event={"value": {"data": {}}}, token="s3cr3t")
    yield server
    server.close()


def test_body_names_the_cluster_and_optionally_its_states():
    assert condor_cluster_body(CLUSTER) == {
        "condor_cluster": {
            "collector": "glidein-cm.icecube.wisc.edu",
            "schedd": "sub-2.icecube.wisc.edu",
            "cluster_id": 4242,
            "jobs": 3,
        }
    }
    states = {"idle": 1, "running": 2, "held": 0, "completed": 0, "removed": 0}
    assert condor_cluster_body(CLUSTER, states)["condor_cluster"]["states"] == states


def test_patch_goes_to_the_scans_manifest_with_the_bearer_token(guarded):
    ScanRoutesClient(guarded.address + "/", SCAN_ID, "s3cr3t").patch_manifest(condor_cluster_body(CLUSTER))

    [request] = guarded.requests
    assert (request.method, request.path) == ("PATCH", f"/scan/manifest/{SCAN_ID}")
    assert request.body == condor_cluster_body(CLUSTER)


def test_get_manifest_and_put_result_reach_their_routes(guarded):
    client = ScanRoutesClient(guarded.address, SCAN_ID, "s3cr3t")
    result = json.loads(PRODUCTION_RESULT.read_text())

    assert client.get_manifest()["event_i3live_json_dict"] == {"value": {"data": {}}}
    client.put_result(result, is_final=True)

    assert guarded.refusals == []
    assert [(r.method, r.path) for r in guarded.requests] == [
        ("GET", f"/scan/manifest/{SCAN_ID}"), ("PUT", f"/scan/result/{SCAN_ID}")
    ]  # fmt: skip
    assert guarded.requests[1].body == {"skyscan_result": result, "is_final": True}


def test_a_body_skydriver_would_refuse_is_refused_at_once(guarded):
    client = ScanRoutesClient(guarded.address, SCAN_ID, "s3cr3t")

    with pytest.raises(SkyDriverRefused, match="400") as refused:
        client.patch_manifest({"condor_cluster": {"collector": "c", "schedd": "s", "cluster_id": "4242", "jobs": 3}})

    assert refused.value.status == 400
    [(method, _, reason)] = guarded.refusals
    assert method == "PATCH" and "cluster_id" in reason


def test_a_wrong_token_is_refused(guarded):
    with pytest.raises(SkyDriverRefused, match="401"):
        ScanRoutesClient(guarded.address, SCAN_ID, "").patch_manifest(condor_cluster_body(CLUSTER))


def test_a_transient_server_error_is_retried(skydriver):
    skydriver.statuses = [503]
    ScanRoutesClient(skydriver.address, SCAN_ID, first_wait=0).patch_manifest(condor_cluster_body(CLUSTER))

    assert len(skydriver.requests) == 2


def test_a_refusal_is_not_retried(skydriver):
    skydriver.statuses = [403]
    with pytest.raises(SkyDriverRefused, match="403"):
        ScanRoutesClient(skydriver.address, SCAN_ID, first_wait=0).patch_manifest(condor_cluster_body(CLUSTER))
    assert len(skydriver.requests) == 1


def test_persistent_server_errors_raise_after_the_attempts(skydriver):
    skydriver.statuses = [500, 500, 500]
    with pytest.raises(SkyDriverUnreachable, match="500"):
        ScanRoutesClient(skydriver.address, SCAN_ID, attempts=3, first_wait=0).patch_manifest(condor_cluster_body(CLUSTER))
    assert len(skydriver.requests) == 3


def test_an_unreachable_skydriver_raises(skydriver):
    address = skydriver.address
    skydriver.close()
    with pytest.raises(SkyDriverUnreachable, match="PATCH"):
        ScanRoutesClient(address, SCAN_ID, attempts=1).patch_manifest(condor_cluster_body(CLUSTER))


def test_from_env_needs_address_and_scan_id():
    with pytest.raises(ScanAddressMissing, match="SKYSCAN_SKYDRIVER_ADDRESS"):
        ScanRoutesClient.from_env({"SKYSCAN_SKYDRIVER_SCAN_ID": SCAN_ID})
    client = ScanRoutesClient.from_env({"SKYSCAN_SKYDRIVER_ADDRESS": "http://skydriver.example:8080/", "SKYSCAN_SKYDRIVER_SCAN_ID": SCAN_ID})
    assert (client.address, client.scan_id) == ("http://skydriver.example:8080", SCAN_ID)
