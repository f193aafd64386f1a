"""Which HEALPix pixels to reconstruct, following the Skymap Scanner's progression (server/pixels.py upstream).

Pixels are RING-ordered indices, as in the scanner's results. The first nside is scanned whole. For every later
nside with extension ``n``, the pixels of the previous nside lying within the disc of area ``n`` such pixels around
the global best pixel (best over all nsides so far) are refined, as are pixels whose likelihood jumps steeply to a
neighbour; refining a pixel means taking all its sub-pixels at the next nside (via NESTED ordering, 4 per factor 2).
"""

from __future__ import annotations

import math

import healpy
import numpy as np

# NSidesDict: nside -> RING pixel -> llh (only the llh matters for choosing)
PixelLLHs = dict[int, dict[int, float]]

# 2*|llh difference| to a neighbour above which both pixels are refined (upstream's value)
LLH_DIFF_TO_TRIGGER_REFINEMENT = 200000.0


def pixel_direction(nside: int, pixel: int) -> tuple[float, float, float]:
    """The unit vector of a RING pixel's centre: what a worker reconstructs the pixel at."""
    x, y, z = healpy.pix2vec(nside, pixel)
    return float(x), float(y), float(z)


def sub_pixels(from_nside: int, to_nside: int, pixel: int) -> list[int]:
    """All RING pixels at ``to_nside`` inside RING ``pixel`` at ``from_nside``."""
    factor = to_nside // from_nside
    if factor < 1 or factor * from_nside != to_nside or factor & (factor - 1):
        raise ValueError(f"cannot refine nside {from_nside} to {to_nside}")
    children = factor * factor
    first = int(healpy.ring2nest(from_nside, pixel)) * children
    return [int(p) for p in healpy.nest2ring(to_nside, np.arange(first, first + children))]


def pixels_around(nside: int, center_nside: int, center_pixel: int, n_pixels: int) -> list[int]:
    """RING pixels at ``nside`` whose centres lie within the disc holding ``n_pixels`` of them around the centre."""
    radius = math.sqrt(healpy.nside2pixarea(nside) * n_pixels / math.pi)
    center = np.array(healpy.pix2vec(center_nside, center_pixel))
    candidates = np.arange(healpy.nside2npix(nside))
    cos_angle = np.clip(center @ np.array(healpy.pix2vec(nside, candidates)), -1.0, 1.0)
    inside = np.nonzero(np.arccos(cos_angle) < radius)[0]
    return [int(p) for p in candidates[inside]]


def best_pixel(llhs: PixelLLHs) -> tuple[int, int] | None:
    """(nside, pixel) of the lowest finite llh over all nsides."""
    best: tuple[float, int, int] | None = None
    for nside, pixels in llhs.items():
        for pixel, llh in pixels.items():
            if math.isfinite(llh) and (best is None or llh < best[0]):
                best = (llh, nside, pixel)
    return None if best is None else (best[1], best[2])


def _steep_pixels(nside: int, pixels: dict[int, float]) -> set[int]:
    steep: set[int] = set()
    for pixel, llh in pixels.items():
        if not math.isfinite(llh):
            continue
        for neighbour in healpy.get_all_neighbours(nside, pixel):
            other = pixels.get(int(neighbour))
            if other is not None and 2.0 * abs(llh - other) > LLH_DIFF_TO_TRIGGER_REFINEMENT:
                steep.update((pixel, int(neighbour)))
    return steep


def pixels_to_reconstruct(llhs: PixelLLHs, progression: dict[int, int]) -> set[tuple[int, int]]:
    """Every (nside, pixel) the scan wants given the results so far (may include ones already done)."""
    nsides = list(progression)
    if not any(llhs.values()):
        return {(nsides[0], p) for p in range(healpy.nside2npix(nsides[0]))}
    wanted: set[tuple[int, int]] = set()
    best = best_pixel(llhs)
    for current, following in zip(nsides, nsides[1:], strict=False):
        done = llhs.get(current, {})
        if not done:
            continue
        refine = _steep_pixels(current, done)
        if best is not None:
            refine.update(pixels_around(current, best[0], best[1], progression[following]))
        for pixel in refine:
            wanted.update((following, sub) for sub in sub_pixels(current, following, pixel))
    return wanted
