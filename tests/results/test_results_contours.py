"""contours: the hull of the samples near the lines (`local_hull_triangles`) is exactly the whole hull there, or is
not used; either way the lines and areas are those of the whole hull, which skyreader's are (test_results_summary)."""

import json
from pathlib import Path

import healpy
import numpy as np
import pytest
from scipy.spatial import ConvexHull

from skydriver.results import contours
from skydriver.results.contours import local_hull_triangles, skyreader_contours
from skydriver.results.pixels import NsidePixels, llh_pixels
from skydriver.results.summary import CONTOUR_LEVELS_2DLLH

LEVELS = list(CONTOUR_LEVELS_2DLLH.values())
WHOLE_HULL_ONLY = 10**12
ALWAYS_LOCAL = 0


def _refined(levels: list[NsidePixels], count: int, ripple: float = 0.0, period_deg: float = 0.3) -> list[NsidePixels]:
    """`levels` plus `count` nside-2048 pixels around the best fit, as a scan that refined there would send: each
    takes the llh of the finest pixel containing it (plateaus, as in the benchmark's results), plus a ripple."""
    llh = np.concatenate([level.llh for level in levels])
    best = int(np.nanargmin(llh))
    nsides = np.concatenate([np.full(level.index.size, level.nside) for level in levels])
    centre = healpy.pix2vec(int(nsides[best]), int(np.concatenate([level.index for level in levels])[best]))
    disc = healpy.query_disc(2048, centre, np.sqrt(count * healpy.nside2pixarea(2048) / np.pi))
    theta, phi = healpy.pix2ang(2048, disc)
    values = np.full(disc.size, np.nan)
    for level in levels:
        order = np.argsort(level.index)
        index = level.index[order]
        position = np.minimum(np.searchsorted(index, healpy.ang2pix(level.nside, theta, phi)), index.size - 1)
        found = index[position] == healpy.ang2pix(level.nside, theta, phi)
        values[found] = level.llh[order][position[found]]
    wave = 2 * np.pi / np.radians(period_deg)
    return [*levels, NsidePixels(2048, disc, values + ripple * np.sin(wave * theta) * np.sin(wave * phi * np.sin(theta)))]


def _production(production_file: Path) -> list[NsidePixels]:
    return llh_pixels(json.loads(production_file.read_text()))


def _whole_hull_near(levels: list[NsidePixels], ceiling: float) -> tuple[set | None, set]:
    """(the local hull's triangles, or None; the whole hull's triangles with a vertex below `ceiling`)."""
    theta, phi, values, _ = contours._samples(levels)
    vectors = np.column_stack((np.cos(phi) * np.sin(theta), np.sin(phi) * np.sin(theta), np.cos(theta)))
    whole = np.sort(ConvexHull(vectors).simplices, axis=1)
    local = local_hull_triangles(vectors, values, ceiling, ALWAYS_LOCAL)
    return (None if local is None else set(map(tuple, local.tolist())),
            set(map(tuple, whole[(values[whole] < ceiling).any(axis=1)].tolist())))


FIELDS = {
    "production": lambda levels: levels,
    "production, nsides 8 and 64": lambda levels: levels[:2],
    "nside 8 only (one sample below the levels)": lambda levels: levels[:1],
    "refined: 20k nside-2048 pixels": lambda levels: _refined(levels, 20_000),
    "refined, with ripples: saddles and islands": lambda levels: _refined(levels, 20_000, ripple=2.0),
}


@pytest.mark.parametrize("field", FIELDS)
def test_the_local_hull_is_the_whole_hull_near_the_lines(production_file: Path, field: str) -> None:
    levels = FIELDS[field](_production(production_file))
    for ceiling in (*LEVELS, 11.83):
        local, whole = _whole_hull_near(levels, ceiling)
        assert local == whole, ceiling  # and not None: on these fields the local hull is used


@pytest.mark.parametrize("field", FIELDS)
def test_lines_and_areas_are_the_whole_hulls(production_file: Path, field: str) -> None:
    levels = FIELDS[field](_production(production_file))
    local = skyreader_contours(levels, LEVELS, ALWAYS_LOCAL)
    whole = skyreader_contours(levels, LEVELS, WHOLE_HULL_ONLY)
    assert [contour.area_deg2 for contour in local] == [contour.area_deg2 for contour in whole]
    for ours, theirs in zip(local, whole, strict=True):
        assert len(ours.lines) == len(theirs.lines) > 0
        assert all(np.array_equal(a, b) for a, b in zip(ours.lines, theirs.lines, strict=True))


def test_the_ripples_make_several_lines(production_file: Path) -> None:
    """The rippled field is a hard case indeed: islands, so saddles between them."""
    lines = skyreader_contours(FIELDS["refined, with ripples: saddles and islands"](_production(production_file)), LEVELS)
    assert [len(contour.lines) for contour in lines] > [1, 1]


def test_real_results_whichever_hull(real_result: dict) -> None:
    levels = llh_pixels(real_result)
    local = skyreader_contours(levels, LEVELS, ALWAYS_LOCAL)
    whole = skyreader_contours(levels, LEVELS, WHOLE_HULL_ONLY)
    assert [c.area_deg2 for c in local] == [c.area_deg2 for c in whole]
    assert [len(c.lines) for c in local] == [len(c.lines) for c in whole]
    assert all(np.array_equal(a, b) for x, y in zip(local, whole, strict=True) for a, b in zip(x.lines, y.lines, strict=True))


def test_cocircular_samples_near_the_best_fit_take_the_whole_hull() -> None:
    """The 4 centres of a HEALPix polar ring lie on one circle: qhull splits that square either way, depending on all
    the points. With the best fit on it, the local hull cannot stand for the whole one."""
    nside = 64
    index = np.arange(12 * nside**2)
    vectors = np.column_stack(healpy.pix2vec(nside, index))
    values = np.where(index < 4, 0.0, 10.0) + np.where(index == 0, 0.0, 0.5)
    assert local_hull_triangles(vectors, values, 4.61, ALWAYS_LOCAL) is None
    assert local_hull_triangles(vectors, np.roll(values, 24576), 4.61, ALWAYS_LOCAL) is not None  # at the equator it is


def test_a_neighbourhood_too_small_for_a_hull_is_widened() -> None:
    """A sample 1e-6 rad from the best fit makes the first neighbourhood those two samples alone: no hull. Found
    by widening it, the triangles are the whole hull's."""
    nside = 64
    vectors = np.column_stack(healpy.pix2vec(nside, np.arange(12 * nside**2)))
    beside = vectors[24576] + np.array([0.0, 1e-6, 0.0])
    vectors = np.vstack([vectors, beside / np.linalg.norm(beside)])
    values = np.full(len(vectors), 10.0)
    values[[24576, -1]] = 0.0, 1.0
    whole = np.sort(ConvexHull(vectors).simplices, axis=1)
    local = local_hull_triangles(vectors, values, 4.61, ALWAYS_LOCAL)
    assert local is not None
    assert set(map(tuple, local.tolist())) == set(map(tuple, whole[(values[whole] < 4.61).any(axis=1)].tolist()))


def test_small_results_take_the_whole_hull(production_file: Path) -> None:
    theta, phi, values, _ = contours._samples(_production(production_file))
    vectors = np.column_stack((np.cos(phi) * np.sin(theta), np.sin(phi) * np.sin(theta), np.cos(theta)))
    assert local_hull_triangles(vectors, values, 4.61) is None  # 3,590 samples: the whole hull is quick
