"""The HTCondor submit description of the Skymap Scanner clients: pure, from settings to ``htcondor2.Submit``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import htcondor2

from .memory_size import request_memory_mb

# only execute points with the IceCube CVMFS repository and the CPU features the reconstructions are built for
REQUIREMENTS = "HAS_CVMFS_icecube_opensciencegrid_org && has_avx && has_avx2"
# the scanner clients read their broker, SkyDriver and pilot settings from these prefixes
FORWARDED_ENV = "SKYSCAN_*, EWMS_*"
# inside the singularity image: /usr/bin/env finds the image's own python, whatever its install prefix
EXECUTABLE = "/usr/bin/env"


@dataclasses.dataclass(frozen=True)
class ClientJobSpec:
    """What every client job of one cluster gets."""

    singularity_image: str | None  # None only for local processes (LocalSchedd), which run no image
    memory: str  # e.g. "8GB"
    startup_json: Path  # written by the scanner server; shipped to each job
    logs_directory: Path | None = None  # keep output/error/log (spooled) only when given


def condor_arguments(argv: Sequence[str]) -> str:
    """Quote ``argv`` in HTCondor's "new" arguments syntax, so that every element arrives as one argument.

    The whole string is double-quoted (a literal ``"`` is doubled); an element with whitespace or a
    ``'`` is single-quoted (a literal ``'`` is doubled).
    """
    quoted = []
    for arg in argv:
        arg = arg.replace('"', '""')
        if not arg or any(c.isspace() or c == "'" for c in arg):
            arg = "'" + arg.replace("'", "''") + "'"
        quoted.append(arg)
    return '"' + " ".join(quoted) + '"'


def client_argv(startup_json: Path) -> list[str]:
    """The client's command; the startup file lands in the job's scratch directory under its own name."""
    return ["python", "-m", "skymap_scanner.client", "--client-startup-json", f"./{startup_json.name}"]


def build_submit(spec: ClientJobSpec) -> htcondor2.Submit:
    """The submit description for one cluster of identical clients (the job count is given at submit time)."""
    description = {
        "executable": EXECUTABLE,
        "arguments": condor_arguments(client_argv(spec.startup_json)),
        "transfer_executable": "false",
        "requirements": REQUIREMENTS,
        "request_cpus": "1",
        "request_memory": str(request_memory_mb(spec.memory)),
        "getenv": FORWARDED_ENV,
        "should_transfer_files": "YES",
        "when_to_transfer_output": "ON_EXIT",
        "transfer_input_files": str(spec.startup_json),
    }
    if spec.singularity_image is not None:
        description["+SingularityImage"] = f'"{spec.singularity_image}"'
    if spec.logs_directory is not None:
        logs = spec.logs_directory
        description |= {
            "output": str(logs / "client-$(ClusterId).$(ProcId).out"),
            "error": str(logs / "client-$(ClusterId).$(ProcId).err"),
            "log": str(logs / "client-$(ClusterId).log"),
        }
    return htcondor2.Submit(description)


def needs_spool(spec: ClientJobSpec) -> bool:
    """Spool (keep the jobs' files on the schedd until retrieved) only when logs are wanted."""
    return spec.logs_directory is not None
