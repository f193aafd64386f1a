"""A stored result read once into what its summary, sky map and FITS file need, cached per result version.

A render process is asked for the summary, the map and the FITS file of the same result in turn; the work
(decoding, contours: ~75 ms for a 3,590-pixel result, seconds for a million pixels) is done once per result text.
The outputs themselves are kept by ``renders`` in SkyDriver's process.
"""

import dataclasses
import functools
import json
from typing import Any

from .. import json_codec
from .pixels import NsidePixels, llh_pixels
from .summary import summarize_pixels

CACHED_VERSIONS = 2
"""Distinct result texts kept analysed: each is the text (the key) plus its pixels, ~1 MB for a production result
but ~60 MB for a million pixels at nside 2048."""


@dataclasses.dataclass(frozen=True)
class ResultAnalysis:
    metadata: dict[str, Any]
    """The event's metadata as the scanner wrote it in the result (run_id, event_id, mjd, event_type...); {} for
    an empty result."""
    levels: list[NsidePixels]
    summary: dict[str, Any]
    summary_json: bytes
    """`summary` as strict JSON (it holds no NaN)."""


@functools.lru_cache(maxsize=CACHED_VERSIONS)
def analyse(result_json: bytes) -> ResultAnalysis:
    """The analysis of a stored (validated) `skyscan_result` JSON text; the same text is analysed only once.

    Blocking (numpy, scipy): call it from a worker thread, not on the event loop.
    """
    with json_codec.collector_paused():
        result = json_codec.loads_stored(result_json)
        levels = llh_pixels(result)
        metadata = dict(next(iter(result.values()))["metadata"]) if result else {}
        # the parsed rows (a million lists) are freed before the collector runs again: else its first pass after the
        # parse walks them all (0.14 s at a million pixels)
        del result
    summary = summarize_pixels(levels)
    return ResultAnalysis(metadata, levels, summary, json.dumps(summary, allow_nan=False).encode())
