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
    uncovered area is its run length minus how much of it the finer levels cover (from the sorted, merged runs they
    cover so far, by binary search), times the pixel area at nside N. HEALPix pixels at one nside all have the same
    area, so this is exact geometry, not an approximation. Adjacent runs are merged as they are found: a million
    finest pixels in a disc become ~2,000 runs, so the coarser levels search those, not a million.
    """
    if not levels:
        return []
    finest = max(level.nside for level in levels)
    finest_pixel_area = healpy.nside2pixarea(finest, degrees=True)
    covered_starts = covered_stops = np.empty(0, dtype=np.int64)
    areas: dict[int, np.ndarray] = {}
    for position in sorted(range(len(levels)), key=lambda i: -levels[i].nside):
        level = levels[position]
        run_length = (finest // level.nside) ** 2
        starts = healpy.ring2nest(level.nside, level.index).astype(np.int64) * run_length
        covered = _covered_below(covered_starts, covered_stops, starts + run_length) - _covered_below(
            covered_starts, covered_stops, starts
        )
        areas[position] = (run_length - covered) * finest_pixel_area
        covered_starts, covered_stops = _merged_runs(covered_starts, covered_stops, np.sort(starts), run_length)
    return [areas[position] for position in range(len(levels))]


def _covered_below(starts: np.ndarray, stops: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """For each bound, how many indices below it the sorted, disjoint runs [start, stop) hold."""
    if starts.size == 0:
        return np.zeros(bounds.size, dtype=np.int64)
    before = np.searchsorted(starts, bounds, side="right")  # the runs starting at or below the bound
    held = np.concatenate(([0], np.cumsum(stops - starts)))[before]
    # only the last of them may reach past the bound
    return held - np.maximum(np.concatenate(([0], stops))[before] - bounds, 0)


def _merged_runs(starts: np.ndarray, stops: np.ndarray, new_starts: np.ndarray, new_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The sorted, disjoint runs [start, stop) covering the runs given and the new ones (sorted, `new_length` each),
    adjacent and overlapping ones merged into one."""
    all_starts = np.concatenate((starts, new_starts))
    all_stops = np.concatenate((stops, new_starts + new_length))
    order = np.argsort(all_starts, kind="stable")  # two sorted runs: merged in linear time
    all_starts, all_stops = all_starts[order], all_stops[order]
    reach = np.maximum.accumulate(all_stops)
    first = np.concatenate(([True], all_starts[1:] > reach[:-1]))  # a gap before it: it starts a merged run
    last = np.concatenate((first[1:], [True]))
    return all_starts[first], reach[last]


def outermost_runs(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop [start, stop) runs nested inside others (HEALPix pixels' runs never partly overlap); the rest sorted."""
    order = np.lexsort((starts - stops, starts))
    starts, stops = starts[order], stops[order]
    reach_before = np.maximum.accumulate(np.concatenate(([-1], stops[:-1])))
    outermost = stops > reach_before
    return starts[outermost], stops[outermost]
