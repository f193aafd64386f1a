"""A stored result read once into what its summary, sky map and FITS file need, cached per result version.

Plotting clients poll the summary and the map while a scan runs; the result changes only with each PUT, so the
work (decoding, contours: ~75 ms for a 3,590-pixel result) is done once per distinct result text.
"""

import dataclasses
import functools
import json
from typing import Any

from .pixels import NsidePixels, llh_pixels
from .summary import summarize_pixels

CACHED_VERSIONS = 16
"""Distinct result texts kept analysed (each ~1 MB: the text as the key plus its pixels)."""


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
    result = json.loads(result_json)  # the standard decoder reads bare NaN, as the scanner may send it
    levels = llh_pixels(result)
    summary = summarize_pixels(levels)
    metadata = dict(next(iter(result.values()))["metadata"]) if result else {}
    return ResultAnalysis(metadata, levels, summary, json.dumps(summary, allow_nan=False).encode())
