"""validate_skyscan_result: every real result passes; each corrupted copy fails naming the problem and where."""

import copy
import math
from collections.abc import Callable

import pytest
from skyreader import SkyScanResult

from skydriver.results import ResultValidationError, validate_skyscan_result
from skydriver.results.format import NAN_SENTINEL


def test_real_results_are_valid(real_result: dict) -> None:
    validate_skyscan_result(real_result)


def test_skyreaders_own_serialization_is_valid(real_result: dict) -> None:
    """skyreader writes NaN as its sentinel string; SkyDriver must take that as well as bare NaN."""
    reserialized = SkyScanResult.deserialize(real_result).serialize()
    validate_skyscan_result(reserialized)


def test_empty_result_and_empty_nside_are_valid(production_result: dict) -> None:
    validate_skyscan_result({})
    production_result["nside-512"]["data"] = []
    validate_skyscan_result(production_result)


@pytest.mark.parametrize("value", [math.nan, NAN_SENTINEL, math.inf], ids=["nan", "sentinel", "inf"])
def test_llh_without_a_usable_fit_is_valid(production_result: dict, value: object) -> None:
    production_result["nside-64"]["data"][3][1] = value
    validate_skyscan_result(production_result)


def test_nan_energies_and_positions_are_valid(version_1_result: dict) -> None:
    version_1_result["nside-1"]["data"][0][2:] = [NAN_SENTINEL, math.nan, NAN_SENTINEL, 1, math.nan, 0.5]
    validate_skyscan_result(version_1_result)


def test_extra_metadata_is_valid(production_result: dict) -> None:
    production_result["nside-8"]["metadata"]["scanner_version"] = "v3.21.2"
    validate_skyscan_result(production_result)


def _set(path: tuple, value: object) -> Callable[[dict], None]:
    def mutate(result: dict) -> None:
        target = result
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def _delete(path: tuple) -> Callable[[dict], None]:
    def mutate(result: dict) -> None:
        target = result
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return mutate


def _rename_key(old: str, new: str) -> Callable[[dict], None]:
    def mutate(result: dict) -> None:
        result[new] = result.pop(old)

    return mutate


def _duplicate_first_index(result: dict) -> None:
    result["nside-64"]["data"][7][0] = result["nside-64"]["data"][0][0]


PRODUCTION_CORRUPTIONS: dict[str, tuple[Callable[[dict], None], str]] = {
    "key not nside": (_rename_key("nside-8", "nside8"), "'nside8': key must be 'nside-N'"),
    "nside zero": (_rename_key("nside-8", "nside-0"), "'nside-0': key must be 'nside-N'"),
    "nside not power of two": (_rename_key("nside-8", "nside-12"), "'nside-12': key must be 'nside-N'"),
    "nside leading zero": (_rename_key("nside-8", "nside-08"), "'nside-08': key must be 'nside-N'"),
    "nside beyond healpix": (_rename_key("nside-8", "nside-1073741824"), "key must be 'nside-N'"),
    "entry not object": (_set(("nside-8",), [1, 2]), "nside-8: must be an object, not list"),
    "missing data": (_delete(("nside-64", "data")), "nside-64: missing data"),
    "extra entry key": (_set(("nside-64", "extra"), 1), "nside-64: unexpected extra"),
    "metadata not object": (_set(("nside-8", "metadata"), None), "nside-8: metadata must be an object"),
    "metadata lacks run_id": (_delete(("nside-8", "metadata", "run_id")), "nside-8: metadata is missing run_id"),
    "metadata nside differs": (
        _set(("nside-64", "metadata", "nside"), 8),
        "nside-64: metadata nside 8 does not match the key's nside 64",
    ),
    "metadata nside a string": (
        _set(("nside-64", "metadata", "nside"), "64"),
        "nside-64: metadata nside must be an integer, not '64'",
    ),
    "metadata run_id a bool": (
        _set(("nside-8", "metadata", "run_id"), True),
        "nside-8: metadata run_id must be an integer, not True",
    ),
    "metadata event_type not str": (
        _set(("nside-8", "metadata", "event_type"), 3),
        "nside-8: metadata event_type must be a string",
    ),
    "metadata mjd not number": (
        _set(("nside-8", "metadata", "mjd"), "today"),
        "nside-8: metadata mjd must be a number, not 'today'",
    ),
    "metadata is_real_event not bool": (
        _set(("nside-8", "metadata", "is_real_event"), "yes"),
        "nside-8: metadata is_real_event must be true or false",
    ),
    "unknown version": (
        _set(("nside-8", "metadata", "version"), 2),
        "nside-8: metadata version 2 is not one of [0, 1]",
    ),
    "version 1 with version 0 columns": (
        _set(("nside-8", "metadata", "version"), 1),
        "nside-8: columns are version 0 but metadata version is 1",
    ),
    "columns reordered": (
        _set(("nside-64", "columns"), ["index", "E_in", "llh", "E_tot"]),
        "nside-64: columns ['index', 'E_in', 'llh', 'E_tot'] are not version 0's ['index', 'llh', 'E_in', 'E_tot']",
    ),
    "run_id differs between nsides": (
        _set(("nside-512", "metadata", "run_id"), 1),
        "nside-512: metadata run_id 1 differs from nside-8's 136766",
    ),
    "data not list": (_set(("nside-8", "data"), {"0": [0, 1.0, 2.0, 3.0]}), "nside-8: data must be a list of rows"),
    "row not list": (_set(("nside-8", "data", 2), {"index": 2}), "nside-8: data[2] must be a list, not dict"),
    "row too short": (
        _set(("nside-64", "data", 5), [35100, 1.0, 2.0]),
        "nside-64: data[5] has 3 entries, columns ['index', 'llh', 'E_in', 'E_tot'] need 4",
    ),
    "index a float": (_set(("nside-8", "data", 3, 0), 3.0), "nside-8: data[3] index 3.0 must be an integer, not float"),
    "index a bool": (_set(("nside-8", "data", 1, 0), True), "nside-8: data[1] index True must be an integer, not bool"),
    "index a string": (_set(("nside-8", "data", 1, 0), "1"), "nside-8: data[1] index '1' must be an integer, not str"),
    "index a nan": (_set(("nside-8", "data", 1, 0), math.nan), "nside-8: data[1] index nan must be an integer"),
    "index too large": (
        _set(("nside-64", "data", 10, 0), 49152),
        "nside-64: data[10] pixel index 49152 out of range [0, 49152)",
    ),
    "index negative": (_set(("nside-8", "data", 0, 0), -1), "nside-8: data[0] pixel index -1 out of range [0, 768)"),
    "index beyond int64": (
        _set(("nside-512", "data", 4, 0), 2**70),
        f"nside-512: data[4] pixel index {2**70} out of range [0, 3145728)",
    ),
    "index repeated": (
        _duplicate_first_index,
        "nside-64: pixel index 35100 appears more than once (data[0] and data[7])",
    ),
    "llh a string": (_set(("nside-8", "data", 4, 1), "abc"), "nside-8: data[4] llh 'abc' must be a number"),
    "llh null": (_set(("nside-8", "data", 4, 1), None), "nside-8: data[4] llh None must be a number"),
    "llh -inf": (_set(("nside-512", "data", 9, 1), -math.inf), "nside-512: data[9] llh is -inf"),
    "energy a bool": (_set(("nside-8", "data", 6, 2), False), "nside-8: data[6] E_in False must be a number"),
    "energy a wrong nan string": (_set(("nside-8", "data", 6, 3), "nan"), "nside-8: data[6] E_tot 'nan' must be a number"),
    "energy a list": (_set(("nside-8", "data", 6, 3), [1.0]), "nside-8: data[6] E_tot [1.0] must be a number"),
}


@pytest.mark.parametrize("name", PRODUCTION_CORRUPTIONS)
def test_corrupted_production_result_fails_with_its_reason(production_result: dict, name: str) -> None:
    mutate, message = PRODUCTION_CORRUPTIONS[name]
    corrupted = copy.deepcopy(production_result)
    mutate(corrupted)
    with pytest.raises(ResultValidationError) as raised:
        validate_skyscan_result(corrupted)
    assert message in str(raised.value)


def test_version_1_columns_without_version_fail(version_1_result: dict) -> None:
    """skyreader reads a missing version as 0, so version-1 columns need the version stated."""
    del version_1_result["nside-1"]["metadata"]["version"]
    with pytest.raises(ResultValidationError, match=r"nside-1: columns are version 1 but metadata version is 0 \(no"):
        validate_skyscan_result(version_1_result)


def test_version_1_row_with_version_0_width_fails(version_1_result: dict) -> None:
    version_1_result["nside-1"]["data"][11] = version_1_result["nside-1"]["data"][11][:4]
    with pytest.raises(ResultValidationError, match=r"nside-1: data\[11\] has 4 entries, .* need 8"):
        validate_skyscan_result(version_1_result)


def test_position_column_must_be_a_number(version_1_result: dict) -> None:
    version_1_result["nside-1"]["data"][2][7] = "12:00"
    with pytest.raises(ResultValidationError, match=r"nside-1: data\[2\] T '12:00' must be a number"):
        validate_skyscan_result(version_1_result)


def test_version_differs_between_nsides(version_1_result: dict, production_result: dict) -> None:
    mixed = {"nside-1": version_1_result["nside-1"], "nside-8": production_result["nside-8"]}
    mixed["nside-8"]["metadata"].update(run_id=136766, event_id=7637140)
    with pytest.raises(ResultValidationError, match="nside-8: metadata version 0 differs from nside-1's 1"):
        validate_skyscan_result(mixed)


@pytest.mark.parametrize("not_a_result", [[], "nside-8", None, 3])
def test_result_must_be_an_object(not_a_result: object) -> None:
    with pytest.raises(ResultValidationError, match="skyscan_result must be an object"):
        validate_skyscan_result(not_a_result)  # type: ignore[arg-type]


def test_validation_error_is_a_value_error() -> None:
    assert issubclass(ResultValidationError, ValueError)
