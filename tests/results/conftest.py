"""Real skyscan results from ../shared/data/results, loaded fresh for each test so tests may corrupt them."""

import json
from pathlib import Path

import pytest

RESULTS_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "results"
RESULT_FILES = sorted(RESULTS_DIR.glob("*.json"))
PRODUCTION_FILE = RESULTS_DIR / "run00136766.evt000007637140.nsides_8_64_512.json"
VERSION_1_FILE = RESULTS_DIR / "millipede_wilks__run00136766.evt000007637140.neutrino_1.json"
BARE_NAN_FILE = RESULTS_DIR / "splinempe__run00136766.evt000007637140.neutrino_1.json"


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
    """Run each test that takes `real_result` once per shared result file."""
    if "real_result" in metafunc.fixturenames:
        assert RESULT_FILES, f"no result files in {RESULTS_DIR}"
        metafunc.parametrize("real_result", RESULT_FILES, ids=[path.stem for path in RESULT_FILES], indirect=True)


@pytest.fixture
def real_result(request: pytest.FixtureRequest) -> dict:
    return load_result(request.param)
