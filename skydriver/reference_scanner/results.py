"""Scan results in skyreader's format (``SkyScanResult``, version-0 columns ``index llh E_in E_tot``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import skyreader
from skyreader import SkyScanResult

from ..event_format import EventMetadata

# nside -> RING pixel -> (llh, E_in, E_tot)
PixelValues = dict[int, dict[int, tuple[float, float, float]]]

RESULT_VERSION = 0


def to_skyscan_result(pixels: PixelValues, event: EventMetadata, is_complete: bool) -> SkyScanResult:
    """One ``nside-N`` array per scanned nside, sorted by pixel, each carrying the event metadata."""
    pixel_type = SkyScanResult.PIXEL_TYPES[RESULT_VERSION]
    arrays: dict[str, np.ndarray] = {}
    for nside in sorted(pixels):
        metadata = {
            "run_id": event.run_id,
            "event_id": event.event_id,
            "mjd": event.mjd,
            "event_type": event.event_type,
            "is_real_event": event.is_real_event,
            "nside": nside,
            "complete": is_complete,
            "version": RESULT_VERSION,
        }
        rows = sorted((index, *values) for index, values in pixels[nside].items())
        arrays[SkyScanResult.format_nside(nside)] = np.array(rows, dtype=np.dtype(pixel_type, metadata=metadata))
    return SkyScanResult(arrays)


def as_skyreader_metadata(event: EventMetadata) -> skyreader.EventMetadata:
    """The same metadata as skyreader's own class (its ``to_json`` names files after it)."""
    return skyreader.EventMetadata(**dataclasses.asdict(event))
