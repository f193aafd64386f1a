"""Reads a validated `skyscan_result` into numpy arrays of pixel indices and llh, one per nside."""

import dataclasses
import operator

import numpy as np

from .format import NAN_SENTINEL, parse_nside_key


@dataclasses.dataclass(frozen=True)
class NsidePixels:
    """The scanned pixels of one nside: RING-ordered HEALPix indices and their llh (-ln L)."""

    nside: int
    index: np.ndarray
    llh: np.ndarray
    """NaN where the pixel has no usable fit (NaN, `"<skyreader.nan>"` or +inf in the result)."""


def llh_pixels(result: dict) -> list[NsidePixels]:
    """The pixels of each nside of a validated result, coarsest nside first."""
    levels = []
    for key, entry in result.items():
        nside = parse_nside_key(key)
        if nside is None:
            raise ValueError(f"{key!r} is not an nside key; validate the result first")
        data = entry["data"]
        index = np.fromiter(map(operator.itemgetter(0), data), dtype=np.int64, count=len(data))
        try:
            llh = np.fromiter(map(operator.itemgetter(1), data), dtype=np.float64, count=len(data))
        except (TypeError, ValueError):  # a "<skyreader.nan>" among the numbers
            llh = np.array(
                [np.nan if value == NAN_SENTINEL else value for value in map(operator.itemgetter(1), data)],
                dtype=np.float64,
            )
        llh[np.isinf(llh)] = np.nan
        levels.append(NsidePixels(nside=nside, index=index, llh=llh))
    return sorted(levels, key=operator.attrgetter("nside"))
