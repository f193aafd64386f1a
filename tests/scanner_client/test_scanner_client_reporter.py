"""The manifest PATCHes, sent to a real HTTP server on loopback."""

import pytest

from scanner_client.reporter import (
    CondorCluster,
    ManifestReporter,
    ReporterConfigError,
    ReportError,
    condor_cluster_body,
)

CLUSTER = CondorCluster("glidein-cm.icecube.wisc.edu", "sub-2.icecube.wisc.edu", 4242, 3)


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


def test_patch_goes_to_the_scans_manifest_with_the_bearer_token(skydriver):
    reporter = ManifestReporter(skydriver.url + "/", "abc123", "s3cr3t")
    reporter.patch(condor_cluster_body(CLUSTER))

    [request] = skydriver.requests
    assert request.method == "PATCH"
    assert request.path == "/scan/manifest/abc123"
    assert request.headers["Authorization"] == "Bearer s3cr3t"
    assert request.body == condor_cluster_body(CLUSTER)


def test_no_token_means_no_authorization_header(skydriver):
    ManifestReporter(skydriver.url, "abc123", "").patch(condor_cluster_body(CLUSTER))

    [request] = skydriver.requests
    assert "Authorization" not in request.headers


def test_a_transient_server_error_is_retried(skydriver):
    skydriver.statuses = [503]
    ManifestReporter(skydriver.url, "abc123", backoff=0).patch(condor_cluster_body(CLUSTER))

    assert len(skydriver.requests) == 2


def test_a_refusal_raises_with_the_status(skydriver):
    skydriver.statuses = [400]
    with pytest.raises(ReportError, match="400"):
        ManifestReporter(skydriver.url, "abc123", backoff=0).patch(condor_cluster_body(CLUSTER))
    assert len(skydriver.requests) == 1  # a 4xx is not retried


def test_persistent_server_errors_raise_after_the_retries(skydriver):
    skydriver.statuses = [500, 500, 500]
    with pytest.raises(ReportError, match="500"):
        ManifestReporter(skydriver.url, "abc123", retries=2, backoff=0).patch(condor_cluster_body(CLUSTER))
    assert len(skydriver.requests) == 3


def test_an_unreachable_skydriver_raises(skydriver):
    url = skydriver.url
    skydriver.close()
    with pytest.raises(ReportError, match="PATCH"):
        ManifestReporter(url, "abc123", retries=0).patch(condor_cluster_body(CLUSTER))


def test_from_env_needs_address_and_scan_id(monkeypatch):
    monkeypatch.delenv("SKYSCAN_SKYDRIVER_ADDRESS", raising=False)
    monkeypatch.setenv("SKYSCAN_SKYDRIVER_SCAN_ID", "abc123")
    with pytest.raises(ReporterConfigError, match="SKYSCAN_SKYDRIVER_ADDRESS"):
        ManifestReporter.from_env()

    monkeypatch.setenv("SKYSCAN_SKYDRIVER_ADDRESS", "http://skydriver.example:8080")
    monkeypatch.delenv("SKYSCAN_SKYDRIVER_AUTH", raising=False)
    assert ManifestReporter.from_env().url == "http://skydriver.example:8080/scan/manifest/abc123"
