"""Checks a `skyscan_result` before SkyDriver stores it, so every stored result reads back with skyreader.

What is accepted, and why:
- `{}` and an nside with no rows are valid: a partial result early in a scan may hold nothing yet,
  and skyreader serialises an empty `SkyScanResult` as `{}`.
- Each entry has exactly `columns`, `metadata` and `data` (skyreader's `deserialize` rejects anything else).
- `columns` is skyreader's version-0 or version-1 column list, in order; it must be the set of the
  metadata `version`, which when absent means 0 (as skyreader reads it). All nsides share one version,
  run_id, event_id and event_type (skyreader builds one dtype for the whole result).
- `index` is a Python int (not bool, not float) in [0, 12*nside^2), unique within its nside.
- `llh` is a number; NaN (bare or `"<skyreader.nan>"`) and +inf mean "no usable fit" for that pixel and
  are kept (skyreader's maps mask them), but -inf is rejected: it would become a best fit of nothing.
- The other columns (energies, X Y Z T) are numbers, NaN (bare or `"<skyreader.nan>"`) allowed.

Checks run per column over whole nsides (C-level `map`/`set` passes and numpy), not value by value in Python;
only when a check fails is the offending row looked up, to name it in the message.
"""

import itertools
import math
import operator
from typing import Any

import numpy as np

from ..errors import ResultValidationError
from ..storable import NotStorable, check_depth
from .format import (
    COLUMNS_BY_VERSION,
    DEFAULT_VERSION,
    HEALPIX_MAX_NSIDE,
    NAN_SENTINEL,
    REQUIRED_METADATA,
    parse_nside_key,
)

ENTRY_KEYS = frozenset({"columns", "metadata", "data"})
INDEX_COLUMN = 0
LLH_COLUMN = 1
SHARED_METADATA = ("version", "run_id", "event_id", "event_type")


def validate_skyscan_result(result: dict) -> None:
    """Raise `ResultValidationError` unless `result` is a well-formed serialized `SkyScanResult`."""
    if not isinstance(result, dict):
        raise ResultValidationError(f"skyscan_result must be an object, not {_type_name(result)}")
    shared: dict[str, Any] | None = None
    first_key = ""
    for key, entry in result.items():
        nside = parse_nside_key(key)
        if nside is None:
            raise ResultValidationError(
                f"{key!r}: key must be 'nside-N' with N a power of two in [1, {HEALPIX_MAX_NSIDE}]"
            )
        metadata = _validate_entry_shape(key, entry)
        version = _validate_metadata(key, nside, metadata)
        columns = _validate_columns(key, entry["columns"], version, "version" in metadata)
        entry_shared = {name: metadata.get(name, DEFAULT_VERSION) for name in SHARED_METADATA}
        if shared is None:
            shared, first_key = entry_shared, key
        else:
            for name in SHARED_METADATA:
                if entry_shared[name] != shared[name]:
                    raise ResultValidationError(
                        f"{key}: metadata {name} {entry_shared[name]!r} differs from "
                        f"{first_key}'s {shared[name]!r}"
                    )
        _validate_data(key, nside, columns, entry["data"])


def _validate_entry_shape(key: str, entry: object) -> dict:
    if not isinstance(entry, dict):
        raise ResultValidationError(f"{key}: must be an object, not {_type_name(entry)}")
    if missing := ENTRY_KEYS - entry.keys():
        raise ResultValidationError(f"{key}: missing {', '.join(sorted(missing))}")
    if extra := entry.keys() - ENTRY_KEYS:
        raise ResultValidationError(
            f"{key}: unexpected {', '.join(sorted(map(str, extra)))} (only columns, metadata, data)"
        )
    metadata = entry["metadata"]
    if not isinstance(metadata, dict):
        raise ResultValidationError(f"{key}: metadata must be an object, not {_type_name(metadata)}")
    return metadata


def _validate_metadata(key: str, nside: int, metadata: dict) -> int:
    """Check the fields skyreader reads; return the data version."""
    try:
        check_depth(metadata)  # other fields are kept as sent
    except NotStorable as exc:
        raise ResultValidationError(f"{key}: metadata {exc}") from None
    if missing := [name for name in REQUIRED_METADATA if name not in metadata]:
        raise ResultValidationError(f"{key}: metadata is missing {', '.join(missing)}")
    for name in ("nside", "run_id", "event_id"):
        if not _is_int(metadata[name]):
            raise ResultValidationError(
                f"{key}: metadata {name} must be an integer, not {metadata[name]!r}"
            )
    if metadata["nside"] != nside:
        raise ResultValidationError(
            f"{key}: metadata nside {metadata['nside']} does not match the key's nside {nside}"
        )
    if not isinstance(metadata["event_type"], str):
        raise ResultValidationError(
            f"{key}: metadata event_type must be a string, not {metadata['event_type']!r}"
        )
    if not _is_number_or_nan(metadata["mjd"]):
        raise ResultValidationError(f"{key}: metadata mjd must be a number, not {metadata['mjd']!r}")
    if "is_real_event" in metadata and not isinstance(metadata["is_real_event"], bool):
        raise ResultValidationError(
            f"{key}: metadata is_real_event must be true or false, not {metadata['is_real_event']!r}"
        )
    version = metadata.get("version", DEFAULT_VERSION)
    if not _is_int(version) or version not in COLUMNS_BY_VERSION:
        raise ResultValidationError(
            f"{key}: metadata version {version!r} is not one of {sorted(COLUMNS_BY_VERSION)}"
        )
    return version


def _validate_columns(key: str, columns: object, version: int, version_given: bool) -> tuple[str, ...]:
    expected = COLUMNS_BY_VERSION[version]
    if isinstance(columns, list) and tuple(columns) == expected:
        return expected
    version_source = "" if version_given else " (no version in metadata means 0)"
    for other_version, other_columns in COLUMNS_BY_VERSION.items():
        if isinstance(columns, list) and tuple(columns) == other_columns:
            raise ResultValidationError(
                f"{key}: columns are version {other_version} but metadata version is "
                f"{version}{version_source}"
            )
    raise ResultValidationError(
        f"{key}: columns {columns!r} are not version {version}'s {list(expected)}{version_source}"
    )


def _validate_data(key: str, nside: int, columns: tuple[str, ...], data: object) -> None:
    if not isinstance(data, list):
        raise ResultValidationError(f"{key}: data must be a list of rows, not {_type_name(data)}")
    if not data:
        return
    if set(map(type, data)) != {list}:
        row = next(i for i, r in enumerate(data) if type(r) is not list)
        raise ResultValidationError(
            f"{key}: data[{row}] must be a list, not {_type_name(data[row])}"
        )
    if set(map(len, data)) != {len(columns)}:
        row = next(i for i, r in enumerate(data) if len(r) != len(columns))
        raise ResultValidationError(
            f"{key}: data[{row}] has {len(data[row])} entries, columns {list(columns)} need {len(columns)}"
        )
    _validate_value_types(key, columns, data)
    _validate_index(key, nside, data)
    _validate_llh(key, data)


def _validate_value_types(key: str, columns: tuple[str, ...], data: list[list]) -> None:
    """Every value is an int, a float or the NaN sentinel, and every index is an int."""
    value_types = set(map(type, itertools.chain.from_iterable(data)))
    index_types = set(map(type, map(operator.itemgetter(INDEX_COLUMN), data)))
    strings_ok = str not in value_types or {
        value for value in itertools.chain.from_iterable(data) if type(value) is str
    } == {NAN_SENTINEL}
    if index_types == {int} and value_types <= {int, float, str} and strings_ok:
        return
    for row, values in enumerate(data):
        for column, value in zip(columns, values, strict=True):
            if column == "index" and type(value) is not int:
                raise ResultValidationError(
                    f"{key}: data[{row}] index {value!r} must be an integer, not {_type_name(value)}"
                )
            if not _is_number_or_nan(value):
                raise ResultValidationError(
                    f"{key}: data[{row}] {column} {value!r} must be a number "
                    f"(NaN as NaN or {NAN_SENTINEL!r})"
                )
    raise AssertionError("a type check failed without a failing value")


def _validate_index(key: str, nside: int, data: list[list]) -> None:
    npix = 12 * nside * nside
    indices = list(map(operator.itemgetter(INDEX_COLUMN), data))
    if min(indices) < 0 or max(indices) >= npix:
        row = next(i for i, value in enumerate(indices) if not 0 <= value < npix)
        raise ResultValidationError(
            f"{key}: data[{row}] pixel index {indices[row]} out of range [0, {npix})"
        )
    index = np.array(indices, dtype=np.int64)
    order = np.argsort(index, kind="stable")
    repeated = np.flatnonzero(index[order][1:] == index[order][:-1])
    if repeated.size:
        first, second = order[repeated[0]], order[repeated[0] + 1]
        raise ResultValidationError(
            f"{key}: pixel index {indices[first]} appears more than once "
            f"(data[{first}] and data[{second}])"
        )


def _validate_llh(key: str, data: list[list]) -> None:
    llh = list(map(operator.itemgetter(LLH_COLUMN), data))
    if -math.inf in llh:
        raise ResultValidationError(
            f"{key}: data[{llh.index(-math.inf)}] llh is -inf; a pixel's llh must be a number, NaN or +inf"
        )


def _is_int(value: object) -> bool:
    return type(value) is int


def _is_number_or_nan(value: object) -> bool:
    return type(value) in (int, float) or value == NAN_SENTINEL


def _type_name(value: object) -> str:
    return type(value).__name__
