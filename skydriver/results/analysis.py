"""A stored result read once into what its summary, sky map and FITS file need, cached per result version.

A render process is asked for the summary, the map and the FITS file of the same result in turn; the work
(decoding, contours: ~75 ms for a 3,590-pixel result, ~0.7 s for a million pixels) is done once per result version,
and a large result's text is not even read again (``analysed``). The outputs themselves are kept by ``renders`` in
SkyDriver's process.
"""

import collections
import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

from .. import json_codec
from .pixels import NsidePixels, llh_pixels
from .summary import summarize_pixels

CACHED_VERSIONS = 2
"""Distinct result versions kept analysed: each is its pixels, ~1 MB for a production result but ~16 MB for a million
pixels at nside 2048 (the text is not kept)."""


@dataclasses.dataclass(frozen=True)
class ResultAnalysis:
    metadata: dict[str, Any]
    """The event's metadata as the scanner wrote it in the result (run_id, event_id, mjd, event_type...); {} for
    an empty result."""
    levels: list[NsidePixels]
    summary: dict[str, Any]
    summary_json: bytes
    """`summary` as strict JSON (it holds no NaN)."""


_kept: collections.OrderedDict[bytes, ResultAnalysis] = collections.OrderedDict()
_kept_lock = threading.Lock()


def analyse(result_json: bytes) -> ResultAnalysis:
    """The analysis of a stored (validated) `skyscan_result` JSON text; the same text is analysed only once.

    Blocking (numpy, scipy): call it from a worker process or thread, not on the event loop.
    """
    return analysed(b"text:" + hashlib.sha1(result_json).digest(), lambda: result_json)


def analysed(version: bytes, read: Callable[[], bytes]) -> ResultAnalysis:
    """The analysis of the result text `version` names for good (a digest, a GridFS file's id: see ``renders``), kept
    for the last `CACHED_VERSIONS`; `read()` gives the text, called only when the analysis is not kept."""
    with _kept_lock:
        if (kept := _kept.get(version)) is not None:
            _kept.move_to_end(version)
            return kept
    analysis = _analyse(read())
    with _kept_lock:
        _kept[version] = analysis
        while len(_kept) > CACHED_VERSIONS:
            _kept.popitem(last=False)
    return analysis


def forget_all() -> None:
    """Drop every kept analysis (benchmarks time them afresh)."""
    with _kept_lock:
        _kept.clear()


def _analyse(result_json: bytes) -> ResultAnalysis:
    with json_codec.collector_paused():
        result = json_codec.loads_stored(result_json)
        levels = llh_pixels(result)
        metadata = dict(next(iter(result.values()))["metadata"]) if result else {}
        # the parsed rows (a million lists) are freed before the collector runs again: else its first pass after the
        # parse walks them all (0.14 s at a million pixels)
        del result
    summary = summarize_pixels(levels)
    return ResultAnalysis(metadata, levels, summary, json.dumps(summary, allow_nan=False).encode())
