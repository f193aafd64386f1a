"""render_png: real PNGs of real results, full sky and zoomed, safe to render from several threads, labels legible."""

import dataclasses
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.transforms import Bbox

from examples.sample_data import RESULTS_DIR
from skydriver.results.analysis import ResultAnalysis, analyse
from skydriver.results.format import NAN_SENTINEL
from skydriver.results.skymap import DPI, FULL_SKY_FIGURE_SIZE, ZOOM_FIGURE_SIZE, draw, render_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def production_pngs(production_file: Path) -> dict[bool, bytes]:
    """The production result rendered once per mode, shared by this module's tests."""
    analysis = analyse(production_file.read_bytes())
    return {zoom: render_png(analysis, zoom=zoom) for zoom in (False, True)}


def _analysis(result: dict) -> ResultAnalysis:
    return analyse(json.dumps(result).encode())


def _decode(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_SIGNATURE)
    return imread(io.BytesIO(png), format="png")


def _pixels(figure_size: tuple[float, float]) -> tuple[int, int]:
    width, height = figure_size
    return round(height * DPI), round(width * DPI)


@pytest.mark.parametrize(
    ("zoom", "figure_size"), [(False, FULL_SKY_FIGURE_SIZE), (True, ZOOM_FIGURE_SIZE)], ids=["full-sky", "zoom"]
)
def test_production_result_renders(
    production_pngs: dict[bool, bytes], zoom: bool, figure_size: tuple[float, float]
) -> None:
    image = _decode(production_pngs[zoom])
    assert image.shape[:2] == _pixels(figure_size)
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 100  # a coloured map, not a blank canvas


def test_zoom_differs_from_full_sky(production_pngs: dict[bool, bytes]) -> None:
    assert production_pngs[True] != production_pngs[False]


def test_bare_nan_result_renders_both_modes(bare_nan_result: dict) -> None:
    for zoom, figure_size in ((False, FULL_SKY_FIGURE_SIZE), (True, ZOOM_FIGURE_SIZE)):
        assert _decode(render_png(_analysis(bare_nan_result), zoom=zoom)).shape[:2] == _pixels(figure_size)


def test_empty_result_renders_an_empty_sky() -> None:
    for zoom in (False, True):
        assert _decode(render_png(analyse(b"{}"), zoom=zoom)).shape[:2] == _pixels(FULL_SKY_FIGURE_SIZE)


def test_renders_in_threads_match_lone_renders(
    production_pngs: dict[bool, bytes], production_result: dict, version_1_result: dict
) -> None:
    """No pyplot global state: concurrent renders give byte-identical PNGs to sequential ones."""
    version_1_alone = render_png(_analysis(version_1_result), zoom=True)
    jobs = [(_analysis(production_result), True), (_analysis(version_1_result), True), (_analysis(production_result), False)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda job: render_png(job[0], zoom=job[1]), jobs))
    assert together == [production_pngs[True], version_1_alone, production_pngs[False]]


def _red_pixels(png: bytes) -> int:
    """Pixels of the 90% line's pure red, which the plasma colour map never produces."""
    rgb = _decode(png)[..., :3]
    return int(np.sum((rgb[..., 0] > 0.9) & (rgb[..., 1] < 0.1) & (rgb[..., 2] < 0.1)))


@pytest.mark.parametrize("zoom", [False, True], ids=["full-sky", "zoom"])
def test_both_modes_draw_the_summary_contour_lines(zoom: bool) -> None:
    """The lines drawn are the summary's: the picture and the numbers come from one computation."""
    analysis = analyse(next(RESULTS_DIR.glob("millipede_wilks__run00127907*.json")).read_bytes())  # a 1,034 deg² 90% region
    without_lines = dataclasses.replace(analysis, summary={**analysis.summary, "contours": {"50%": [], "90%": []}})
    legend_only = _red_pixels(render_png(without_lines, zoom=zoom))  # the legend's sample line
    assert 0 < legend_only < 100
    assert _red_pixels(render_png(analysis, zoom=zoom)) > legend_only + 300


LEGIBILITY_RESULTS = {  # the production scan; a best fit on the equator at RA 180 (on a label); a 1,034 deg² 90% region
    "production": "run00136766.evt000007637140.nsides_8_64_512.json",
    "best fit on a label": "splinempe__run00138632.evt000031747601.neutrino_1.json",
    "large regions": "millipede_wilks__run00127907.evt000020178442.HESE_1.json",
}


@pytest.fixture(scope="module", params=LEGIBILITY_RESULTS)
def drawn(request: pytest.FixtureRequest) -> dict[bool, Figure]:
    """Both figures of a result, laid out and drawn (so text extents are final)."""
    analysis = analyse((RESULTS_DIR / LEGIBILITY_RESULTS[request.param]).read_bytes())
    figures = {zoom: draw(analysis, zoom) for zoom in (False, True)}
    for figure in figures.values():
        figure.canvas.draw()
    return figures


def _degree_labels(axes: Axes) -> list[Bbox]:
    """Window extents of the graticule labels drawn as text (RA on the full sky, RA and Dec on the zoom)."""
    return [text.get_window_extent() for text in axes.texts if text.get_text().endswith("°")]


def _star(axes: Axes) -> Bbox:
    """The best-fit marker's window extent: a square of its size around its centre."""
    (star,) = [line for line in axes.lines if line.get_marker() == "*"]
    x, y = axes.transData.transform(np.column_stack(star.get_data()))[0]
    radius = star.get_markersize() / 72 * star.figure.dpi / 2
    return Bbox.from_extents(x - radius, y - radius, x + radius, y + radius)


def _apart(boxes: list[Bbox]) -> bool:
    return not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


@pytest.mark.parametrize("zoom", [False, True], ids=["full-sky", "zoom"])
def test_graticule_labels_are_inside_and_clear_of_the_best_fit(drawn: dict[bool, Figure], zoom: bool) -> None:
    axes = drawn[zoom].axes[0]
    labels = _degree_labels(axes)
    assert len(labels) >= (11 if not zoom else 4)  # every 30 deg of RA on the full sky; some RA and Dec lines zoomed
    assert _apart(labels + [_star(axes)])
    frame = axes.get_window_extent()
    assert all(frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1 for box in labels)
    if zoom:
        assert _apart(labels + [axes.get_legend().get_window_extent()])


@pytest.mark.parametrize("zoom", [False, True], ids=["full-sky", "zoom"])
def test_colour_bar_labels_do_not_collide(drawn: dict[bool, Figure], zoom: bool) -> None:
    colour_bar = drawn[zoom].axes[1]
    labels = [label.get_window_extent() for label in colour_bar.get_xticklabels() if label.get_text()]
    assert len(labels) >= 3
    assert _apart(labels)


def _legend_texts(figure: Figure) -> list[str]:
    return [text.get_text() for text in figure.axes[0].get_legend().get_texts()]


def _grey_pixels(png: bytes) -> int:
    """Pixels of matplotlib's light grey (211, 211, 211): directions not scanned yet."""
    rgb = np.round(_decode(png)[..., :3] * 255)
    return int(np.sum(np.all(rgb == 211, axis=-1)))


def test_failed_fits_are_skyreaders_red_and_unscanned_sky_grey(production_result: dict) -> None:
    production_result["nside-8"]["data"] = [row for row in production_result["nside-8"]["data"] if row[0] < 600]
    unscanned = _analysis(production_result)
    for row in sorted(production_result["nside-512"]["data"], key=lambda row: row[1])[3:40:3]:
        row[1] = NAN_SENTINEL  # no fit near the best
    failed = _analysis(production_result)
    for zoom in (False, True):
        assert "no fit (llh NaN)" not in _legend_texts(draw(unscanned, zoom))
        assert "no fit (llh NaN)" in _legend_texts(draw(failed, zoom))
    assert _grey_pixels(render_png(unscanned)) > 10_000  # the southern cap of nside-8 pixels 600-767
    assert _red_pixels(render_png(failed, zoom=True)) > _red_pixels(render_png(unscanned, zoom=True)) + 1_000
