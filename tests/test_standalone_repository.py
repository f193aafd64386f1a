"""The repository stands on its own: no file reaches outside its tree for data, code or settings."""

from __future__ import annotations

import subprocess
from pathlib import Path

from examples import sample_data

REPO = Path(__file__).resolve().parents[1]
# Spelled in pieces so this file does not match itself.
SIBLING_FOLDER = "../" + "shared"
SHARED_PATH_SPELLINGS = (SIBLING_FOLDER, 'parent / "' + 'shared"', '/ "' + 'shared" /')


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [REPO / name for name in listed.decode().split("\0") if name]


def test_no_file_refers_to_the_sibling_shared_folder() -> None:
    offenders = []
    for path in tracked_files():
        if path.suffix not in {".py", ".md", ".toml", ".cfg", ".txt", ".yaml", ".yml", ".sh", ""} or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if any(spelling in text for spelling in SHARED_PATH_SPELLINGS):
            offenders.append(str(path.relative_to(REPO)))
    assert not offenders, f"files reaching outside the repository: {offenders}"


def test_sample_data_paths_exist_inside_the_repository() -> None:
    paths = [value for value in vars(sample_data).values() if isinstance(value, Path)]
    assert len(paths) >= 6
    for path in paths:
        assert path.exists(), path
        assert path.is_relative_to(REPO), path
    assert len(list(sample_data.EVENTS_DIR.glob("*.json"))) == 4
    assert len(list(sample_data.RESULTS_DIR.glob("*.json"))) == 8
