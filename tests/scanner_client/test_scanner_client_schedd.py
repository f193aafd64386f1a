"""The real htcondor2 adapter and token setup, against the bindings themselves (no daemons run here)."""

import shutil
import socket
import stat

import classad2
import htcondor2
import pytest

from scanner_client.idtoken import install_idtoken, install_idtoken_from_env
from scanner_client.schedd import HTCondorSchedd, Job, ScheddError, job_of_ad


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on: the bindings get "connection refused" at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unreachable_schedd(closed_port):
    location = classad2.ClassAd(
        {"MyType": "Scheduler", "Name": "sub-2.icecube.wisc.edu", "MyAddress": f"<127.0.0.1:{closed_port}>",
         "CondorVersion": htcondor2.version()}
    )  # fmt: skip
    return HTCondorSchedd("glidein-cm.icecube.wisc.edu", "sub-2.icecube.wisc.edu", location)


def test_locating_through_an_unreachable_collector_names_both(closed_port):
    with pytest.raises(ScheddError) as raised:
        HTCondorSchedd.connect(f"127.0.0.1:{closed_port}", "sub-2.icecube.wisc.edu")
    message = str(raised.value)
    assert f"collector '127.0.0.1:{closed_port}'" in message
    assert "schedd 'sub-2.icecube.wisc.edu'" in message
    assert "HTCondorException" in message


def test_submit_failure_says_what_was_submitted_where(unreachable_schedd):
    with pytest.raises(ScheddError, match=r"submitting 5 jobs \(spool=False\) to schedd 'sub-2.icecube.wisc.edu'"):
        unreachable_schedd.submit(htcondor2.Submit({"executable": "/usr/bin/env"}), 5, spool=False)


def test_query_failure_names_the_cluster(unreachable_schedd):
    with pytest.raises(ScheddError, match="querying ClusterId == 4242 in schedd 'sub-2.icecube.wisc.edu'"):
        unreachable_schedd.jobs(4242, 3)


def test_a_job_ad_gives_its_status_and_the_hold_reason_only_while_held():
    """As the schedd's query and history answer: ClassAds with the projected attributes (a job ad keeps its last
    HoldReason after it is released or removed)."""
    memory = "Error from slot1_3@e042.chtc.wisc.edu: Job has gone over memory limit of 8192 megabytes."
    ads = [
        classad2.ClassAd({"ProcId": 0, "JobStatus": 5, "HoldReason": memory}),
        classad2.ClassAd({"ProcId": 1, "JobStatus": 5}),
        classad2.ClassAd({"ProcId": 2, "JobStatus": 3, "HoldReason": memory}),
        classad2.ClassAd({"ProcId": 3, "JobStatus": 2, "HoldReason": memory}),
    ]
    assert [job_of_ad(ad) for ad in ads] == [
        Job(htcondor2.JobStatus.HELD, memory), Job(htcondor2.JobStatus.HELD, ""),
        Job(htcondor2.JobStatus.REMOVED), Job(htcondor2.JobStatus.RUNNING),
    ]  # fmt: skip


def test_remove_failure_names_the_constraint(unreachable_schedd):
    with pytest.raises(ScheddError, match="removing ClusterId == 4242 from schedd"):
        unreachable_schedd.remove("ClusterId == 4242", "Removed by SkyDriver")


@pytest.fixture
def restore_condor_config(monkeypatch):
    monkeypatch.delenv("_CONDOR_SEC_TOKEN_DIRECTORY", raising=False)
    yield
    monkeypatch.undo()
    htcondor2.reload_config()


def test_the_token_is_written_private_and_the_bindings_read_its_directory(tmp_path, restore_condor_config):
    token_file = install_idtoken("eyJhbGciOiJIUzI1NiJ9.payload.signature\n", tmp_path)

    assert token_file.parent == tmp_path
    assert token_file.read_text() == "eyJhbGciOiJIUzI1NiJ9.payload.signature\n"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert htcondor2.param["SEC_TOKEN_DIRECTORY"] == str(tmp_path)


def test_an_existing_token_file_is_made_private_again(tmp_path, restore_condor_config):
    (tmp_path / "skydriver").write_text("old")
    (tmp_path / "skydriver").chmod(0o644)

    token_file = install_idtoken("new-token", tmp_path)

    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text() == "new-token\n"


def test_token_from_env_or_none(monkeypatch, restore_condor_config):
    monkeypatch.delenv("CONDOR_TOKEN", raising=False)
    assert install_idtoken_from_env() is None

    monkeypatch.setenv("CONDOR_TOKEN", "token-text")
    token_file = install_idtoken_from_env()
    assert token_file is not None and token_file.read_text() == "token-text\n"
    assert htcondor2.param["SEC_TOKEN_DIRECTORY"] == str(token_file.parent)
    shutil.rmtree(token_file.parent)
