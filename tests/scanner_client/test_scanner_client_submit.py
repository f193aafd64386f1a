"""The submit description, built as a real htcondor2.Submit and read back the way the schedd will get it."""

from pathlib import Path

import htcondor2
import pytest

from scanner_client.memory_size import MemorySizeError, request_memory_mb
from scanner_client.submit_description import ClientJobSpec, build_submit, condor_arguments, needs_spool

IMAGE = "/cvmfs/icecube.opensciencegrid.org/containers/realtime/skymap_scanner:3.5.2"
STARTUP = Path("/common-space/startup.json")


def test_description_runs_the_client_in_the_image_on_capable_machines():
    submit = build_submit(ClientJobSpec(IMAGE, "8GB", STARTUP))

    assert isinstance(submit, htcondor2.Submit)
    assert submit["executable"] == "/usr/bin/env"
    assert submit["arguments"] == '"python -m skymap_scanner.client --client-startup-json ./startup.json"'
    assert submit["transfer_executable"] == "false"
    assert submit["MY.SingularityImage"] == f'"{IMAGE}"'
    assert submit["requirements"] == "HAS_CVMFS_icecube_opensciencegrid_org && has_avx && has_avx2"
    assert submit["request_memory"] == "8192"
    assert submit["getenv"] == "SKYSCAN_*, EWMS_*"
    assert submit["transfer_input_files"] == "/common-space/startup.json"
    assert submit["should_transfer_files"] == "YES"
    assert submit["when_to_transfer_output"] == "ON_EXIT"
    text = str(submit)
    assert f'MY.SingularityImage = "{IMAGE}"\n' in text
    assert text.rstrip().endswith("queue")


def test_no_logs_directory_means_no_log_files_and_no_spooling():
    spec = ClientJobSpec(IMAGE, "8GB", STARTUP)
    submit = build_submit(spec)

    assert {"output", "error", "log"}.isdisjoint(submit.keys())
    assert not needs_spool(spec)


def test_logs_directory_names_per_job_files_and_spools(tmp_path):
    spec = ClientJobSpec(IMAGE, "8GB", STARTUP, logs_directory=tmp_path)
    submit = build_submit(spec)

    assert submit["output"] == f"{tmp_path}/client-$(ClusterId).$(ProcId).out"
    assert submit["error"] == f"{tmp_path}/client-$(ClusterId).$(ProcId).err"
    assert submit["log"] == f"{tmp_path}/client-$(ClusterId).log"
    assert needs_spool(spec)


def test_client_reads_the_startup_file_by_the_name_it_is_shipped_under():
    submit = build_submit(ClientJobSpec(IMAGE, "8GB", Path("/shared/scan-7/client-startup.json")))

    assert submit["transfer_input_files"] == "/shared/scan-7/client-startup.json"
    assert "--client-startup-json ./client-startup.json" in submit["arguments"]


@pytest.mark.parametrize(
    "size, megabytes",
    [("8GB", 8192), ("8gb", 8192), ("8 GB", 8192), ("2GiB", 2048), ("512MB", 512), ("512M", 512),
     ("1.5G", 1536), ("1T", 1024 * 1024), ("4096KB", 4), ("1KB", 1), ("3000000000B", 2862)],
)  # fmt: skip
def test_memory_sizes_become_whole_mebibytes(size, megabytes):
    assert request_memory_mb(size) == megabytes
    assert build_submit(ClientJobSpec(IMAGE, size, STARTUP))["request_memory"] == str(megabytes)


@pytest.mark.parametrize("size", ["8", "", "GB", "-1GB", "0GB", "0.0M", "8XB", "8GBB", "eight GB", "8 G B"])
def test_bad_memory_sizes_are_refused(size):
    with pytest.raises(MemorySizeError, match="memory"):
        build_submit(ClientJobSpec(IMAGE, size, STARTUP))


@pytest.mark.parametrize(
    "argv, quoted",
    [
        (["python", "-m", "x"], '"python -m x"'),
        (["--name", "two words"], "\"--name 'two words'\""),
        (["it's"], "\"'it''s'\""),
        (['say "hi"'], '"\'say ""hi""\'"'),
        (['"q"'], '"""q"""'),
        ([""], "\"''\""),
    ],
)
def test_arguments_are_quoted_in_htcondor_new_syntax(argv, quoted):
    assert condor_arguments(argv) == quoted
