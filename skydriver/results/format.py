"""The serialized `skyscan_result` format, as skyreader's `SkyScanResult.serialize()` writes it.

A result maps `nside-N` keys to `{"columns": [...], "metadata": {...}, "data": [[...], ...]}`;
each data row is one HEALPix pixel in RING ordering (skyreader calls `healpy.pix2ang(nside, index)`
with healpy's default `nest=False`).
"""

import re

NAN_SENTINEL = "<skyreader.nan>"
"""How skyreader writes NaN in JSON; the Skymap Scanner's own encoder sends a bare `NaN` instead."""

COLUMNS_BY_VERSION: dict[int, tuple[str, ...]] = {
    0: ("index", "llh", "E_in", "E_tot"),
    1: ("index", "llh", "E_in", "E_tot", "X", "Y", "Z", "T"),
}
"""skyreader's versioned pixel columns, in the exact order it requires."""

DEFAULT_VERSION = 0
"""The version skyreader assumes when the metadata has none."""

REQUIRED_METADATA = ("nside", "run_id", "event_id", "mjd", "event_type")
"""skyreader's `SkyScanResult.MINIMAL_METADATA_FIELDS`."""

HEALPIX_MAX_NSIDE = 2**29
"""The largest nside HEALPix (and healpy) supports: what a result may hold. A scan may only request up to the scanner's
own limit, ``scanner_client.nsides.MAX_NSIDE``, a different fact."""

_NSIDE_KEY = re.compile(r"nside-([1-9][0-9]*)")


def nside_key(nside: int) -> str:
    """The result key for an nside."""
    return f"nside-{nside}"


def parse_nside_key(key: object) -> int | None:
    """The nside of a well-formed `nside-N` key (N a power of two up to `HEALPIX_MAX_NSIDE`), else None."""
    if not isinstance(key, str) or not (match := _NSIDE_KEY.fullmatch(key)):
        return None
    nside = int(match.group(1))
    if nside > HEALPIX_MAX_NSIDE or nside & (nside - 1):
        return None
    return nside
