"""summarize: best fit as skyreader finds it, pixel counts, and contour areas that agree with skyreader's."""

import json
import math

import healpy
import meander
import numpy as np
import pytest
from skyreader import SkyScanResult
from skyreader.utils.areas import get_contour_areas
from skyreader.utils.handle_map_data import extract_map, get_contour_levels

from skydriver.results.format import NAN_SENTINEL
from skydriver.results.summary import CONTOUR_LEVELS_2DLLH, summarize

FULL_SKY_DEG2 = 4 * np.pi * np.degrees(1) ** 2


def test_best_fit_is_skyreaders(real_result: dict) -> None:
    skyreader_result = SkyScanResult.deserialize(real_result)
    ra, dec = skyreader_result.best_dir
    best_fit = summarize(real_result)["best_fit"]
    assert best_fit["index"] == skyreader_result.best_fit["index"]
    assert best_fit["nside"] == skyreader_result.best_fit.dtype.metadata["nside"]
    assert best_fit["llh"] == skyreader_result.min_llh
    assert best_fit["ra_deg"] == pytest.approx(np.degrees(ra), abs=1e-9)
    assert best_fit["dec_deg"] == pytest.approx(np.degrees(dec), abs=1e-9)


def test_summary_is_strict_json(real_result: dict) -> None:
    json.dumps(summarize(real_result), allow_nan=False)


def test_pixel_counts_and_scanned_area(real_result: dict) -> None:
    summary = summarize(real_result)
    assert summary["pixel_counts"] == {key: len(entry["data"]) for key, entry in real_result.items()}
    assert summary["scanned_area_deg2"] == pytest.approx(FULL_SKY_DEG2)


def test_production_counts(production_result: dict) -> None:
    assert summarize(production_result)["pixel_counts"] == {"nside-8": 768, "nside-64": 896, "nside-512": 1926}


def test_contour_areas_are_positive_and_ordered(real_result: dict) -> None:
    summary = summarize(real_result)
    areas = summary["contour_areas_deg2"]
    assert summary["contour_levels_2dllh"] == {"50%": 1.39, "90%": 4.61}
    assert 0 < areas["50%"] <= areas["90%"] <= FULL_SKY_DEG2
    # at least the best-fit pixel, at its own nside
    assert areas["50%"] >= healpy.nside2pixarea(summary["best_fit"]["nside"], degrees=True) * (1 - 1e-12)


def _skyreader_contour_areas(result: dict, levels_2dllh: list[float]) -> list[float]:
    """Areas of the contours skyreader draws (meander on its grid values, as in `create_plot_zoomed`)."""
    grid_value, grid_ra, grid_dec, equatorial_map, _ = extract_map(SkyScanResult.deserialize(result), True, None)
    grid_value[np.isnan(grid_value)] = np.nanmax(equatorial_map)
    sample_points = np.array([np.pi / 2 - grid_dec, grid_ra]).T
    contours = meander.spherical_contours(sample_points, grid_value, levels_2dllh)
    return get_contour_areas(contours, grid_ra[0])


def test_contour_levels_are_skyreaders() -> None:
    levels, labels, _ = get_contour_levels(np.zeros(12), llh_map=True, systematics=False)
    assert dict(zip(labels, levels[:2], strict=False)) == CONTOUR_LEVELS_2DLLH  # skyreader returns extra levels


def test_production_contour_areas_agree_with_skyreaders_contours(production_result: dict) -> None:
    """Counting pixels vs skyreader's interpolated contour lines: equal within 5% plus one finest pixel."""
    areas = summarize(production_result)["contour_areas_deg2"]
    expected = _skyreader_contour_areas(production_result, list(CONTOUR_LEVELS_2DLLH.values()))
    finest_pixel = healpy.nside2pixarea(512, degrees=True)
    for name, skyreader_area in zip(CONTOUR_LEVELS_2DLLH, expected, strict=True):
        assert areas[name] == pytest.approx(skyreader_area, rel=0.05, abs=finest_pixel)
    assert areas["90%"] == pytest.approx(expected[1], rel=0.05)


def _best_row(result: dict) -> tuple[str, int]:
    """(nside key, row) of the smallest llh, found the slow obvious way."""
    return min(
        ((key, row) for key, entry in result.items() for row in range(len(entry["data"]))),
        key=lambda place: result[place[0]]["data"][place[1]][1],
    )


def test_equal_llh_prefers_the_finest_nside(production_result: dict) -> None:
    key, row = _best_row(production_result)
    best_llh = production_result[key]["data"][row][1]
    production_result["nside-8"]["data"][100][1] = best_llh
    best_fit = summarize(production_result)["best_fit"]
    assert (best_fit["nside"], best_fit["llh"]) == (512, best_llh)


def test_a_lower_coarse_llh_wins(production_result: dict) -> None:
    production_result["nside-8"]["data"][100][1] = 0.0
    best_fit = summarize(production_result)["best_fit"]
    assert (best_fit["nside"], best_fit["index"], best_fit["llh"]) == (8, 100, 0.0)
    theta, phi = healpy.pix2ang(8, 100)
    assert best_fit["ra_deg"] == pytest.approx(np.degrees(phi))


@pytest.mark.parametrize("no_fit", [math.nan, NAN_SENTINEL, math.inf], ids=["nan", "sentinel", "inf"])
def test_pixels_without_a_fit_are_never_best(production_result: dict, no_fit: object) -> None:
    key, row = _best_row(production_result)
    first = summarize(production_result)["best_fit"]
    production_result[key]["data"][row][1] = no_fit
    second = summarize(production_result)
    assert second["best_fit"]["llh"] > first["llh"]
    assert math.isfinite(second["best_fit"]["llh"])
    json.dumps(second, allow_nan=False)


def test_empty_result_summary() -> None:
    assert summarize({}) == {
        "best_fit": None,
        "pixel_counts": {},
        "contour_levels_2dllh": CONTOUR_LEVELS_2DLLH,
        "contour_areas_deg2": {"50%": 0.0, "90%": 0.0},
        "scanned_area_deg2": 0.0,
    }


def test_partial_nside_counts_its_own_area(production_result: dict) -> None:
    """Early in a scan only part of the first nside exists: the scanned area is just those pixels."""
    del production_result["nside-64"], production_result["nside-512"]
    production_result["nside-8"]["data"] = production_result["nside-8"]["data"][:100]
    assert summarize(production_result)["scanned_area_deg2"] == pytest.approx(
        100 * healpy.nside2pixarea(8, degrees=True)
    )
