"""summarize: best fit as skyreader finds it, pixel counts, and contour areas that agree with skyreader's."""

import json
import math
from pathlib import Path
from unittest import mock

import healpy
import numpy as np
import pytest
import skyreader.plot.plot as skyreader_plot
from skyreader import SkyScanResult
from skyreader.plot import SkyScanPlotter
from skyreader.utils.areas import get_contour_areas
from skyreader.utils.handle_map_data import get_contour_levels

from examples.sample_data import EVENTS_DIR, MODERN_EVENT
from skydriver.event_format import load_event_file, read_event
from skydriver.reference_scanner.pixels import pixel_direction, pixels_to_reconstruct
from skydriver.reference_scanner.results import PixelValues, to_skyscan_result
from skydriver.reference_scanner.server import stand_in_reco
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


def test_pixel_areas_are_positive_and_ordered(real_result: dict) -> None:
    summary = summarize(real_result)
    areas = summary["pixel_areas_deg2"]
    assert summary["contour_levels_2dllh"] == {"50%": 1.39, "90%": 4.61}
    assert 0 < areas["50%"] <= areas["90%"] <= FULL_SKY_DEG2
    # at least the best-fit pixel, at its own nside
    assert areas["50%"] >= healpy.nside2pixarea(summary["best_fit"]["nside"], degrees=True) * (1 - 1e-12)


def test_contour_levels_are_skyreaders() -> None:
    levels, labels, _ = get_contour_levels(np.zeros(12), llh_map=True, systematics=False)
    assert dict(zip(labels, levels[:2], strict=False)) == CONTOUR_LEVELS_2DLLH  # skyreader returns extra levels


class _HaveAreas(Exception):
    """Stops skyreader's `create_plot_zoomed` once it has computed its contours and areas (the plot is not needed)."""


def _skyreader_contours(result: dict) -> tuple[list[list[np.ndarray]], list[float]]:
    """The contours (theta, phi) and the areas skyreader's own `create_plot_zoomed` computes and reports: it runs
    unchanged up to its `get_contour_areas` call, whose real result is kept before the plotting is cut short."""
    computed: list = []

    def contour_areas(contours: list[list[np.ndarray]], min_ra: float) -> list[float]:
        computed.extend([[[line.copy() for line in lines] for lines in contours], get_contour_areas(contours, min_ra)])
        raise _HaveAreas

    with mock.patch.object(skyreader_plot, "get_contour_areas", contour_areas), pytest.raises(_HaveAreas):
        SkyScanPlotter(output_dir=Path("/nonexistent")).create_plot_zoomed(SkyScanResult.deserialize(result))
    contours, areas = computed
    return contours[:2], areas[:2]  # it reports 50% and 90% (get_contour_levels gives a third level it only draws)


def _without_finest_nside(result: dict) -> dict:
    del result["nside-512"]
    return result


def _no_fit_around_the_best(result: dict) -> dict:
    """Pixels with NaN llh next to the best fit: skyreader fills them with its map's largest value."""
    rows = sorted(result["nside-512"]["data"], key=lambda row: row[1])
    for row in rows[3:40:3]:
        row[1] = NAN_SENTINEL
    return result


def _pointed(result: dict) -> dict:
    """A scan of part of the sky: skyreader adds the missing coarsest pixels as samples without a value."""
    result["nside-8"]["data"] = [row for row in result["nside-8"]["data"] if 200 <= row[0] < 500]
    return result


PRODUCTION_VARIANTS = {"as scanned": lambda r: r, "nsides 8 and 64": _without_finest_nside,
                       "no fit near the best": _no_fit_around_the_best, "pointed": _pointed}


@pytest.fixture(scope="module", params=PRODUCTION_VARIANTS)
def production_variant(request: pytest.FixtureRequest, production_file: Path) -> tuple[dict, tuple]:
    """A production result (or a variant of it) with skyreader's contours, computed once per module (~4 s each)."""
    result = PRODUCTION_VARIANTS[request.param](json.loads(production_file.read_text()))
    return result, _skyreader_contours(result)


def test_production_contour_areas_are_skyreaders(production_variant: tuple[dict, tuple]) -> None:
    result, (_, expected) = production_variant
    areas = summarize(result)["contour_areas_deg2"]
    assert list(areas.values()) == pytest.approx(expected, rel=0.02)


def test_every_real_result_has_skyreaders_contour_areas(real_result: dict) -> None:
    """Every result file in examples/data: the production scan, and the nside-1 ones too, although 12 pixel centres
    make a poor contour (see `summarize`; skyreader reports these areas, then fails writing its multi-order file)."""
    _, expected = _skyreader_contours(real_result)
    assert list(summarize(real_result)["contour_areas_deg2"].values()) == pytest.approx(expected, rel=0.02)


def _reference_scan(event_file: Path, progression: dict[int, int]) -> dict:
    """What the reference scanner sends at the end of a scan of a real event: its rounds of refinement (as its
    server runs them, threshold 1.0) over its stand-in likelihood, serialised as skyreader does."""
    message = load_event_file(event_file)
    event = read_event(message, True)
    reco = stand_in_reco(event, message)
    values: PixelValues = {}
    while new := {(n, p) for n, p in pixels_to_reconstruct(
            {n: {p: v[0] for p, v in pixels.items()} for n, pixels in values.items()}, progression) if p not in values.get(n, {})}:
        for nside, pixel in new:
            values.setdefault(nside, {})[pixel] = (reco.llh(pixel_direction(nside, pixel)), math.nan, math.nan)
    return to_skyscan_result(values, event.metadata, True).serialize()


REFERENCE_SCANS = {"138632 at 8/16/32": (MODERN_EVENT, {8: 0, 16: 4, 32: 4}),  # the `make scan` settings
                   "127907 (HESE frames) at 8/64/512": (EVENTS_DIR / "hese_event_01.json", {8: 0, 64: 12, 512: 24})}


@pytest.mark.parametrize("scan", REFERENCE_SCANS)
def test_reference_scanner_contour_areas_are_skyreaders(scan: str) -> None:
    """Multi-resolution results of another shape than the production one: the reference scanner's, of real events
    (its likelihood is a stand-in). Whole pixels were far off here (3.36 / 16.8 deg² against 1.94 / 12.1 at 8/16/32)."""
    result = _reference_scan(*REFERENCE_SCANS[scan])
    expected_lines, expected = _skyreader_contours(result)
    summary = summarize(result)
    assert list(summary["contour_areas_deg2"].values()) == pytest.approx(expected, rel=0.02)
    assert [len(rings) for rings in summary["contours"].values()] == [len(lines) for lines in expected_lines]


def test_contour_outlines_are_skyreaders_lines(production_variant: tuple[dict, tuple]) -> None:
    """The same closed lines, vertex for vertex (as sets: a ring may start anywhere and run either way)."""
    result, (expected_contours, _) = production_variant
    outlines = summarize(result)["contours"]
    for name, expected_lines in zip(CONTOUR_LEVELS_2DLLH, expected_contours, strict=True):
        assert len(outlines[name]) == len(expected_lines)
        ours = np.concatenate([np.array(ring)[:-1] for ring in outlines[name]])
        theirs = np.concatenate([line[:-1] for line in expected_lines])
        theirs = np.column_stack((np.degrees(theirs[:, 1]) % 360, 90 - np.degrees(theirs[:, 0])))
        assert all(ring[0] == ring[-1] for ring in outlines[name])
        assert np.sort(ours, axis=0) == pytest.approx(np.sort(theirs, axis=0), abs=1e-5)


def test_contours_lie_inside_the_pixel_regions_they_outline(production_result: dict) -> None:
    """Every 50% line vertex is within one finest pixel of a pixel inside the 90% region."""
    summary = summarize(production_result)
    ring = np.array(summary["contours"]["50%"][0])
    inside_90 = [row[0] for row in production_result["nside-512"]["data"]
                 if 2 * (row[1] - summary["best_fit"]["llh"]) <= CONTOUR_LEVELS_2DLLH["90%"]]
    centres = np.array(healpy.pix2ang(512, inside_90, lonlat=True)).T
    nearest = [np.min(healpy.rotator.angdist(vertex, centres.T, lonlat=True)) for vertex in ring]
    assert np.degrees(max(nearest)) < np.degrees(healpy.nside2resol(512))


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


def test_equal_llh_at_one_nside_prefers_the_lowest_index(production_result: dict) -> None:
    key, row = _best_row(production_result)
    data = production_result[key]["data"]
    lower = min(r for r in range(len(data)) if data[r][0] < data[row][0])
    data[lower][1] = data[row][1]
    best_fit = summarize(production_result)["best_fit"]
    assert (best_fit["nside"], best_fit["index"]) == (int(key.split("-")[1]), data[lower][0])


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
        "pixel_areas_deg2": {"50%": 0.0, "90%": 0.0},
        "contours": {"50%": [], "90%": []},
        "scanned_area_deg2": 0.0,
    }


def test_partial_nside_counts_its_own_area(production_result: dict) -> None:
    """Early in a scan only part of the first nside exists: the scanned area is just those pixels."""
    del production_result["nside-64"], production_result["nside-512"]
    production_result["nside-8"]["data"] = production_result["nside-8"]["data"][:100]
    assert summarize(production_result)["scanned_area_deg2"] == pytest.approx(
        100 * healpy.nside2pixarea(8, degrees=True)
    )
