"""Which part of the sky each pixel of a multi-resolution scan alone describes.

A scan refines: coarse pixels cover the whole sky, finer nsides re-scan small regions. A sky region is
described by the finest pixel that covers it, so a coarse pixel only stands for the part of its area
that no finer pixel of the result covers.
"""

from collections.abc import Sequence

import healpy
import numpy as np

from .pixels import NsidePixels


def uncovered_areas_deg2(levels: Sequence[NsidePixels]) -> list[np.ndarray]:
    """Per level, each pixel's area (deg^2) that no finer scanned pixel covers.

    Method: in NESTED ordering a pixel at nside n is the contiguous run of `(N/n)^2` pixel indices at the
    finest nside N, starting at `nest * (N/n)^2`. Going from the finest level to the coarsest, a pixel's
    uncovered area is its run length minus the finer runs inside it (found with a binary search over the
    sorted, disjoint runs covered so far), times the pixel area at nside N. HEALPix pixels at one nside
    all have the same area, so this is exact geometry, not an approximation.
    """
    if not levels:
        return []
    finest = max(level.nside for level in levels)
    finest_pixel_area = healpy.nside2pixarea(finest, degrees=True)
    covered_starts = np.empty(0, dtype=np.int64)
    covered_stops = np.empty(0, dtype=np.int64)
    areas: dict[int, np.ndarray] = {}
    for position in sorted(range(len(levels)), key=lambda i: -levels[i].nside):
        level = levels[position]
        run_length = (finest // level.nside) ** 2
        starts = healpy.ring2nest(level.nside, level.index).astype(np.int64) * run_length
        stops = starts + run_length
        covered_before = np.concatenate(([0], np.cumsum(covered_stops - covered_starts)))
        first_inside = np.searchsorted(covered_starts, starts, side="left")
        first_after = np.searchsorted(covered_starts, stops, side="left")
        covered = covered_before[first_after] - covered_before[first_inside]
        areas[position] = (run_length - covered) * finest_pixel_area
        covered_starts, covered_stops = outermost_runs(
            np.concatenate((covered_starts, starts)), np.concatenate((covered_stops, stops))
        )
    return [areas[position] for position in range(len(levels))]


def outermost_runs(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop [start, stop) runs nested inside others (HEALPix pixels' runs never partly overlap); the rest sorted."""
    order = np.lexsort((starts - stops, starts))
    starts, stops = starts[order], stops[order]
    reach_before = np.maximum.accumulate(np.concatenate(([-1], stops[:-1])))
    outermost = stops > reach_before
    return starts[outermost], stops[outermost]
