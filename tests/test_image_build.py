"""The image is reproducible: requirements.lock pins every dependency pyproject.toml declares, with hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$")


def locked_versions() -> dict[str, str]:
    pins: dict[str, str] = {}
    lines = (REPO / "requirements.lock").read_text().splitlines()
    for number, line in enumerate(lines):
        if match := PIN.match(line):
            assert lines[number + 1].strip().startswith("--hash=sha256:"), f"{match[1]} is pinned without a hash"
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_the_lock_pins_every_declared_dependency_within_its_range() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = locked_versions()
    problems = []
    for text in declared:
        requirement = Requirement(text)
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement.name} is not in requirements.lock")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement.name}=={pinned} is outside {requirement.specifier}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_the_dockerfile_installs_the_lock_with_hashes_and_the_project_without_resolving() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert re.search(r"pip install [^\n]*--no-deps[^\n]* \.", dockerfile)


def test_the_image_is_labelled_with_the_version_pyproject_declares() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"ARG VERSION={version}\n" in dockerfile and 'org.opencontainers.image.version="${VERSION}"' in dockerfile
