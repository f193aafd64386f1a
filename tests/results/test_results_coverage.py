"""uncovered_areas_deg2: each sky region counts once, at the finest scanned pixel over it (real HEALPix geometry)."""

import healpy
import numpy as np
import pytest

from skydriver.results.coverage import uncovered_areas_deg2
from skydriver.results.pixels import NsidePixels, llh_pixels

FULL_SKY_DEG2 = 4 * np.pi * np.degrees(1) ** 2


def _level(nside: int, ring_indices: list[int] | np.ndarray) -> NsidePixels:
    index = np.asarray(ring_indices, dtype=np.int64)
    return NsidePixels(nside=nside, index=index, llh=np.zeros(index.size))


def _children_ring(nside: int, ring_index: int, finer_nside: int) -> np.ndarray:
    """RING indices at `finer_nside` of the pixels inside one pixel, via NESTED ordering."""
    factor = (finer_nside // nside) ** 2
    first = healpy.ring2nest(nside, ring_index) * factor
    return healpy.nest2ring(finer_nside, np.arange(first, first + factor))


def test_one_finer_pixel_takes_its_quarter_from_the_parent() -> None:
    parent = 5
    child = _children_ring(1, parent, 2)[0]
    coarse, fine = uncovered_areas_deg2([_level(1, range(12)), _level(2, [child])])
    pixel_area = healpy.nside2pixarea(1, degrees=True)
    assert coarse[parent] == pytest.approx(0.75 * pixel_area)
    assert np.delete(coarse, parent) == pytest.approx(np.full(11, pixel_area))
    assert fine == pytest.approx([pixel_area / 4])


def test_a_fully_refined_pixel_keeps_no_area_even_across_skipped_nsides() -> None:
    parent = 7
    children_at_8 = _children_ring(2, parent, 8)
    coarse, fine = uncovered_areas_deg2([_level(2, [parent, 0]), _level(8, children_at_8)])
    assert coarse[0] == 0.0
    assert coarse[1] == pytest.approx(healpy.nside2pixarea(2, degrees=True))
    assert fine.sum() == pytest.approx(healpy.nside2pixarea(2, degrees=True))


def test_three_levels_count_the_middle_pixel_minus_the_finest() -> None:
    top = 3
    middle = _children_ring(1, top, 4)[:2]
    finest = np.concatenate([_children_ring(4, middle[0], 16)[:3], _children_ring(1, top, 16)[-1:]])
    top_area, middle_area, finest_area = uncovered_areas_deg2(
        [_level(1, [top]), _level(4, middle), _level(16, finest)]
    )
    area_16 = healpy.nside2pixarea(16, degrees=True)
    assert finest_area == pytest.approx(np.full(4, area_16))
    assert middle_area == pytest.approx([13 * area_16, 16 * area_16])
    assert top_area == pytest.approx([(256 - 16 - 16 - 1) * area_16])


def test_production_scan_covers_the_sky_exactly_once(production_result: dict) -> None:
    levels = llh_pixels(production_result)
    areas = uncovered_areas_deg2(levels)
    assert sum(area.sum() for area in areas) == pytest.approx(FULL_SKY_DEG2, rel=1e-12)
    assert np.all(np.concatenate(areas) >= 0)
    # the nside-512 pixels are the finest: nothing covers them
    assert areas[-1] == pytest.approx(np.full(1926, healpy.nside2pixarea(512, degrees=True)))


def test_no_levels_have_no_area() -> None:
    assert uncovered_areas_deg2([]) == []


def _painted_areas(levels: list[NsidePixels]) -> list[np.ndarray]:
    """The same areas by brute force: every finest-nside NESTED cell counted for the finest level's pixel over it."""
    finest = max(level.nside for level in levels)
    owner = np.full(healpy.nside2npix(finest), -1, dtype=np.int64)  # the position of the cell's pixel, levels flattened
    offsets = np.cumsum([0] + [level.index.size for level in levels])
    for position in sorted(range(len(levels)), key=lambda i: levels[i].nside):  # coarsest first: finer ones paint over
        level, run = levels[position], (finest // levels[position].nside) ** 2
        for k, nest in enumerate(healpy.ring2nest(level.nside, level.index)):
            owner[nest * run:(nest + 1) * run] = offsets[position] + k
    counts = np.bincount(owner[owner >= 0], minlength=offsets[-1])
    area = healpy.nside2pixarea(finest, degrees=True)
    return [counts[offsets[i]:offsets[i + 1]] * area for i in range(len(levels))]


@pytest.mark.parametrize("seed", range(5))
def test_random_refinements_match_painting_the_finest_map(seed: int) -> None:
    """Finer pixels picked at random, many of them neighbours in NESTED order across coarser pixels' edges (merged
    into one run that straddles them) and some of them under no scanned coarser pixel at all."""
    rng = np.random.default_rng(seed)
    nsides = [2, 4, 16, 32]
    levels = [_level(nsides[0], rng.choice(48, 40, replace=False))]
    for nside in nsides[1:]:
        npix = healpy.nside2npix(nside)
        nest_start = rng.integers(0, npix // 2)
        block = np.arange(nest_start, nest_start + rng.integers(3, npix // 4))  # contiguous in NESTED order
        scattered = rng.choice(npix, min(30, npix // 4), replace=False)
        levels.append(_level(nside, healpy.nest2ring(nside, np.union1d(block, scattered))))
    for found, painted in zip(uncovered_areas_deg2(levels), _painted_areas(levels), strict=True):
        assert np.array_equal(found, painted)
