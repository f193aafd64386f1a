"""Real skyscan results from examples/data/results, loaded fresh for each test so tests may corrupt them."""

import json
from pathlib import Path

import pytest

from examples.sample_data import BARE_NAN_RESULT, PRODUCTION_RESULT, RESULTS_DIR, VERSION_1_RESULT

RESULT_FILES = sorted(RESULTS_DIR.glob("*.json"))
PRODUCTION_FILE = PRODUCTION_RESULT
VERSION_1_FILE = VERSION_1_RESULT
BARE_NAN_FILE = BARE_NAN_RESULT


def load_result(path: Path) -> dict:
    """A result exactly as a PUT body's `skyscan_result` decodes (bare NaN becomes float nan)."""
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def production_file() -> Path:
    return PRODUCTION_FILE


@pytest.fixture
def production_result() -> dict:
    return load_result(PRODUCTION_FILE)


@pytest.fixture
def version_1_result() -> dict:
    return load_result(VERSION_1_FILE)


@pytest.fixture
def bare_nan_result() -> dict:
    return load_result(BARE_NAN_FILE)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that takes `real_result` once per real result file."""
    if "real_result" in metafunc.fixturenames:
        assert RESULT_FILES, f"no result files in {RESULTS_DIR}"
        metafunc.parametrize("real_result", RESULT_FILES, ids=[path.stem for path in RESULT_FILES], indirect=True)


@pytest.fixture
def real_result(request: pytest.FixtureRequest) -> dict:
    return load_result(request.param)
