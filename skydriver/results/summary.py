"""The few numbers people want from a sky scan: best-fit direction, pixel counts, error-region areas."""

from typing import Any

import healpy
import numpy as np

from .contours import skyreader_contours
from .coverage import uncovered_areas_deg2
from .format import nside_key
from .pixels import NsidePixels, llh_pixels

CONTOUR_LEVELS_2DLLH = {"50%": 1.39, "90%": 4.61}
"""skyreader's Wilks contour levels on 2*(llh - min llh) (`get_contour_levels`, the chi-square
quantiles for 2 degrees of freedom), which it draws and reports as the 50% and 90% regions."""


def summarize(result: dict) -> dict[str, Any]:
    """Summarise a validated `skyscan_result` as a JSON-able dict (see `summarize_pixels`)."""
    return summarize_pixels(llh_pixels(result))


def summarize_pixels(levels: list[NsidePixels]) -> dict[str, Any]:
    """Summarise the pixels of a validated `skyscan_result` as a JSON-able dict.

    - `best_fit`: the pixel with the smallest finite llh over all nsides (on equal llh the finest nside,
      then the lowest index), with its direction from `healpy.pix2ang` in RING ordering as skyreader and
      the Skymap Scanner use it: RA = phi, Dec = 90 deg - theta. None while no pixel has a finite llh.
    - `pixel_counts`: rows per `nside-N` key.
    - `contour_areas_deg2`: for each level in `contour_levels_2dllh`, the area IceCube reports (skyreader's
      `create_plot_zoomed`, as in GCN circulars): inside the line where the interpolated 2*(llh - best llh)
      crosses the level (see `contours`). On a single nside-1 result this interpolates between 12 pixel centres
      58 deg apart: it is what skyreader's algorithm gives (its plot shows it before skyreader fails writing
      its multi-order file), not a measured error region; `pixel_areas_deg2` is the honest number there.
    - `contours`: those lines, per level a list of closed [[RA, Dec], ...] rings in degrees (first point
      repeated last), for clients to draw.
    - `pixel_areas_deg2`: for each level, the area of the pixels whose 2*(llh - best llh) is at most that
      level. Each pixel counts with its own area at its own nside, minus the parts that finer scanned pixels
      cover (those count instead), so every region of the sky is counted once, at the finest resolution the
      scan has there (see `coverage.uncovered_areas_deg2`). Pixels without a finite llh are never inside.
    - `scanned_area_deg2`: the area covered by any scanned pixel (the full sky, 41252.96 deg^2, once the
      first nside is complete).
    """
    areas = uncovered_areas_deg2(levels)
    best_fit = _best_fit(levels)
    pixel_areas = {name: 0.0 for name in CONTOUR_LEVELS_2DLLH}
    if best_fit is not None:
        two_delta_llh = 2 * (np.concatenate([level.llh for level in levels]) - best_fit["llh"])
        all_areas = np.concatenate(areas)
        for name, threshold in CONTOUR_LEVELS_2DLLH.items():
            pixel_areas[name] = float(all_areas[two_delta_llh <= threshold].sum())
    contours = dict(zip(CONTOUR_LEVELS_2DLLH, skyreader_contours(levels, list(CONTOUR_LEVELS_2DLLH.values())), strict=True))
    return {
        "best_fit": best_fit,
        "pixel_counts": {nside_key(level.nside): int(level.index.size) for level in levels},
        "contour_levels_2dllh": dict(CONTOUR_LEVELS_2DLLH),
        "contour_areas_deg2": {name: contour.area_deg2 for name, contour in contours.items()},
        "pixel_areas_deg2": pixel_areas,
        "contours": {name: contour.ra_dec_deg() for name, contour in contours.items()},
        "scanned_area_deg2": float(sum(area.sum() for area in areas)),
    }


def _best_fit(levels: list[NsidePixels]) -> dict[str, Any] | None:
    llh = np.concatenate([level.llh for level in levels]) if levels else np.empty(0)
    if not np.isfinite(llh).any():
        return None
    # only the pixels with the smallest llh are sorted (a million at once took 35 ms): on equal llh, the finest nside,
    # then the lowest index (lexsort's last key is the primary one)
    candidates = np.flatnonzero(llh == np.nanmin(llh))
    nsides = np.concatenate([np.full(level.index.size, level.nside) for level in levels])[candidates]
    index = np.concatenate([level.index for level in levels])[candidates]
    best = np.lexsort((index, -nsides))[0]
    theta, phi = healpy.pix2ang(int(nsides[best]), int(index[best]))
    return {
        "nside": int(nsides[best]),
        "index": int(index[best]),
        "ra_deg": float(np.degrees(phi)),
        "dec_deg": float(90.0 - np.degrees(theta)),
        "llh": float(llh[candidates[best]]),
    }
