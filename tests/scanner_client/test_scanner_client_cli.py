"""The command line, end to end: a fake schedd (no HTCondor daemons here) and a real HTTP SkyDriver."""

import pytest
from htcondor2 import JobStatus

from scanner_client.__main__ import build_parser, main
from scanner_client.commands import STOP_REASON, UNREPORTED_REASON
from tests.scanner_routes_recorder import SCAN_ID

COLLECTOR = "glidein-cm.icecube.wisc.edu"
SCHEDD = "sub-2.icecube.wisc.edu"
IMAGE = "/cvmfs/icecube.opensciencegrid.org/containers/realtime/skymap_scanner:3.5.2"


def start_argv(startup_json, *extra):
    return [
        "--collector", COLLECTOR, "--schedd", SCHEDD, "start",
        "--n-jobs", "3", "--memory", "8GB", "--singularity-image", IMAGE,
        "--client-startup-json", str(startup_json), "--report-interval", "0.001", *extra,
    ]  # fmt: skip


@pytest.fixture
def skydriver_env(monkeypatch, skydriver):
    monkeypatch.setenv("SKYSCAN_SKYDRIVER_ADDRESS", skydriver.address)
    monkeypatch.setenv("SKYSCAN_SKYDRIVER_SCAN_ID", SCAN_ID)
    monkeypatch.setenv("SKYSCAN_SKYDRIVER_AUTH", "scanner-token")
    return skydriver


def connect_to(fake):
    def connect(collector, schedd):
        assert (collector, schedd) == (fake.collector, fake.schedd)
        return fake

    return connect


def test_start_arguments_parse_with_defaults_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCANNER_CLIENT_STARTUP_TIMEOUT_SEC", "90")
    monkeypatch.delenv("SCANNER_CLIENT_REPORT_INTERVAL_SEC", raising=False)
    args = build_parser().parse_args(
        ["--collector", COLLECTOR, "--schedd", SCHEDD, "start", "--n-jobs", "12", "--memory", "8GB",
         "--singularity-image", IMAGE, "--client-startup-json", "/common-space/startup.json",
         "--logs-directory", str(tmp_path)]
    )  # fmt: skip
    assert (args.command, args.collector, args.schedd, args.n_jobs) == ("start", COLLECTOR, SCHEDD, 12)
    assert (args.memory, args.singularity_image) == ("8GB", IMAGE)
    assert str(args.client_startup_json) == "/common-space/startup.json"
    assert args.logs_directory == tmp_path
    assert (args.startup_timeout, args.report_interval) == (90.0, 60.0)


def test_stop_arguments_parse():
    args = build_parser().parse_args(["--collector", COLLECTOR, "--schedd", SCHEDD, "stop", "--cluster-id", "4242"])
    assert (args.command, args.cluster_id) == ("stop", 4242)


@pytest.mark.parametrize(
    "bad",
    [["--memory", "8"], ["--n-jobs", "0"], ["--n-jobs", "many"], ["--report-interval", "0"],
     ["--startup-timeout", "-5"]],
)  # fmt: skip
def test_bad_start_arguments_are_refused_by_the_parser(bad, capsys):
    argv = ["--collector", COLLECTOR, "--schedd", SCHEDD, "start", "--n-jobs", "3", "--memory", "8GB",
            "--singularity-image", IMAGE, "--client-startup-json", "/s.json"]  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv + bad)
    assert exited.value.code == 2
    assert bad[0] in capsys.readouterr().err


def test_start_submits_reports_the_cluster_then_its_states_until_done(fake_schedd, skydriver_env, startup_json):
    fake_schedd.status_rounds = [[JobStatus.IDLE] * 3, [JobStatus.RUNNING] * 3, [JobStatus.COMPLETED] * 3]

    assert main(start_argv(startup_json), connect=connect_to(fake_schedd)) == 0

    [(description, count, spool)] = fake_schedd.submitted
    assert (count, spool) == (3, False)
    assert description["transfer_input_files"] == str(startup_json)
    assert description["MY.SingularityImage"] == f'"{IMAGE}"'
    assert description["request_memory"] == "8192"

    requests = skydriver_env.requests
    assert {r.path for r in requests} == {f"/scan/manifest/{SCAN_ID}"}
    assert {r.headers["Authorization"] for r in requests} == {"Bearer scanner-token"}
    cluster = {"collector": COLLECTOR, "schedd": SCHEDD, "cluster_id": 4242, "jobs": 3}
    zero = dict.fromkeys(["idle", "running", "held", "completed", "removed"], 0)
    assert skydriver_env.refusals == []
    assert skydriver_env.bodies() == [
        {"condor_cluster": cluster},
        {"condor_cluster": cluster | {"states": zero | {"idle": 3}, "hold_reasons": {}}},
        {"condor_cluster": cluster | {"states": zero | {"running": 3}, "hold_reasons": {}}},
        {"condor_cluster": cluster | {"states": zero | {"completed": 3}, "hold_reasons": {}}},
    ]


def test_start_with_a_logs_directory_spools(fake_schedd, skydriver_env, startup_json, tmp_path):
    fake_schedd.status_rounds = [[JobStatus.COMPLETED] * 3]

    assert main(start_argv(startup_json, "--logs-directory", str(tmp_path)), connect=connect_to(fake_schedd)) == 0

    [(description, _, spool)] = fake_schedd.submitted
    assert spool is True
    assert description["log"] == f"{tmp_path}/client-$(ClusterId).log"


def test_start_without_a_startup_file_fails_before_submitting(fake_schedd, skydriver_env, tmp_path, caplog):
    missing = tmp_path / "startup.json"

    status = main(start_argv(missing, "--startup-timeout", "0.05"), connect=connect_to(fake_schedd))

    assert status == 1
    assert fake_schedd.submitted == []
    assert skydriver_env.requests == []
    assert f"no complete startup file at {missing}" in caplog.text


def test_a_cluster_skydriver_refuses_to_record_is_removed_again(fake_schedd, skydriver_env, startup_json):
    skydriver_env.statuses = [403]

    assert main(start_argv(startup_json), connect=connect_to(fake_schedd)) == 1

    assert len(fake_schedd.submitted) == 1
    assert fake_schedd.removed == [("ClusterId == 4242", UNREPORTED_REASON)]


def test_start_needs_to_know_where_skydriver_is(fake_schedd, monkeypatch, startup_json, caplog):
    monkeypatch.delenv("SKYSCAN_SKYDRIVER_ADDRESS", raising=False)
    monkeypatch.setenv("SKYSCAN_SKYDRIVER_SCAN_ID", SCAN_ID)

    assert main(start_argv(startup_json), connect=connect_to(fake_schedd)) == 1
    assert fake_schedd.submitted == []
    assert "SKYSCAN_SKYDRIVER_ADDRESS" in caplog.text


def test_stop_removes_exactly_the_cluster_naming_skydriver(fake_schedd):
    argv = ["--collector", COLLECTOR, "--schedd", SCHEDD, "stop", "--cluster-id", "4242"]

    assert main(argv, connect=connect_to(fake_schedd)) == 0

    assert fake_schedd.removed == [("ClusterId == 4242", STOP_REASON)]
    assert "SkyDriver" in STOP_REASON
