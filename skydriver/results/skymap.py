"""Quick-look PNG sky maps of a `skyscan_result`, for a browser or a chat message.

Figures are built as `matplotlib.figure.Figure` objects drawn by the Agg canvas, never through pyplot's
global state, so renders may run in worker threads side by side. Each point of the image shows the finest
scanned pixel containing it (looked up with `healpy.ang2pix`, RING ordering, as skyreader does), so no
full-resolution HEALPix map is ever allocated.
"""

import io
from collections.abc import Sequence

import healpy
import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, ListedColormap, Normalize, PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .analysis import ResultAnalysis
from .pixels import NsidePixels

FULL_SKY_GRID = (720, 360)
"""Image cells (RA, Dec) of the Mollweide map: 0.5 deg, finer than nside-64 pixels (0.9 deg); finer
nsides show in the zoom."""
ZOOM_GRID = 400
"""Image cells per side of the zoomed map."""
ZOOM_EXTENT_LEVEL_2DLLH = 11.83
"""The zoom frames every pixel within 2*(llh - best) of this (skyreader's 3-sigma Wilks level)."""
ZOOM_HALF_WIDTH_DEG = (0.5, 30.0)
FULL_SKY_GAMMA = 0.3
"""The full-sky colour scale is a power law, so the few units near the best fit stand out from thousands."""
ZOOM_COLOR_MAX_2DLLH = 40.0
"""skyreader's colour-scale maximum for its zoomed maps."""
FULL_SKY_STAR_CLEARANCE_DEG = (14.0, 9.0)
"""An RA label on the equator closer than this to the best-fit star (in RA, in Dec) moves below the star."""
CONTOUR_COLORS = {"50%": "black", "90%": "red"}
NO_FIT_COLOR = (1.0, 0.0, 0.0)
"""skyreader's colour for pixels whose fit failed (NaN llh)."""
GRATICULE_LABEL_STYLE = {"fontsize": 8, "color": "white",
                         "bbox": {"boxstyle": "round,pad=0.15", "facecolor": "black", "alpha": 0.45, "linewidth": 0}}
COLORMAP = "plasma_r"
DPI = 100
FULL_SKY_FIGURE_SIZE = (10.0, 6.4)
"""Inches; the PNG is 1000 x 640 pixels."""
ZOOM_FIGURE_SIZE = (7.5, 7.8)
"""Inches; the PNG is 750 x 780 pixels."""


def render_png(analysis: ResultAnalysis, zoom: bool = False) -> bytes:
    """A PNG of 2*(llh - best llh) for a validated result (see `draw`)."""
    buffer = io.BytesIO()
    draw(analysis, zoom).savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def draw(analysis: ResultAnalysis, zoom: bool = False) -> Figure:
    """The figure of 2*(llh - best llh): the full sky (Mollweide, RA increasing to the left, as astronomers draw
    it) or, with `zoom`, a gnomonic view centred on the best fit; both with the summary's 50% and 90% contours.
    A result without any finite llh yet gives an empty sky with a note."""
    levels, summary = analysis.levels, analysis.summary
    best_fit = summary["best_fit"]
    zoomed = zoom and best_fit is not None
    figure = Figure(figsize=ZOOM_FIGURE_SIZE if zoomed else FULL_SKY_FIGURE_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(_title(analysis.metadata, levels), fontsize=12)
    if zoomed:
        _draw_zoom(figure, levels, summary)
    else:
        _draw_full_sky(figure, levels, summary)
    return figure


def _draw_full_sky(figure: Figure, levels: Sequence[NsidePixels], summary: dict) -> None:
    best_fit = summary["best_fit"]
    axes = figure.add_subplot(projection="mollweide")
    columns, rows = FULL_SKY_GRID
    x_edges = np.linspace(-np.pi, np.pi, columns + 1)
    y_edges = np.linspace(-np.pi / 2, np.pi / 2, rows + 1)
    x, y = np.meshgrid(_centres(x_edges), _centres(y_edges))
    theta, phi = np.pi / 2 - y, (np.pi - x) % (2 * np.pi)  # x = pi - RA puts RA 180 deg at the centre
    axes.grid(True, color="grey", alpha=0.5, linewidth=0.5)
    axes.tick_params(axis="x", labelbottom=False)  # drawn by _label_ra_lines instead
    _label_ra_lines(axes, best_fit)
    if best_fit is None:
        axes.text(0, 0, "no scanned pixels yet", ha="center", va="center", fontsize=14)
        return
    two_delta, no_fit = _sample_two_delta_llh(levels, best_fit["llh"], theta, phi)
    vmax = max(float(np.nanmax(two_delta)), 10.0)
    norm = PowerNorm(gamma=FULL_SKY_GAMMA, vmin=0.0, vmax=vmax)
    mesh = axes.pcolormesh(x_edges, y_edges, two_delta, norm=norm, cmap=_colormap(), rasterized=True)
    mesh.set_in_layout(False)  # inside the axes anyway; spares the layout pass projecting every cell
    _mark_no_fit(axes, x_edges, y_edges, no_fit)
    for name, rings in summary["contours"].items():
        for ring in rings:
            ra, dec = np.radians(np.array(ring)).T
            x_ring = (np.pi - ra + np.pi) % (2 * np.pi) - np.pi
            for piece_x, piece_dec in _split_at_edge(x_ring, dec):
                axes.plot(piece_x, piece_dec, color=CONTOUR_COLORS[name], linewidth=1.5, zorder=4)  # over the labels
    axes.plot(np.pi - np.radians(best_fit["ra_deg"]), np.radians(best_fit["dec_deg"]),
              marker="*", markersize=12, color="cyan", markeredgecolor="black", linestyle="none",
              label=_best_fit_label(best_fit), zorder=5)
    _contour_legend(axes, summary)
    axes.legend(loc="lower right", bbox_to_anchor=(1.0, -0.12), fontsize=9, framealpha=0.9)
    colorbar = figure.colorbar(mesh, ax=axes, orientation="horizontal", shrink=0.6, pad=0.08,
                               ticks=_spread_ticks(vmax, FULL_SKY_GAMMA))
    colorbar.ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 10 else f"{value:g}"))
    colorbar.ax.tick_params(labelsize=9)
    colorbar.set_label(r"$-2\,\Delta \ln L$  (colour scale compressed towards the best fit)")


def _label_ra_lines(axes: Axes, best_fit: dict | None) -> None:
    """RA labels along the equator, boxed so they read on any colour; one that would sit on the best-fit star is
    put just below it."""
    for ra in range(30, 360, 30):
        x = np.pi - np.radians(ra)
        offset = 0.0
        if best_fit is not None:
            ra_apart = abs((ra - best_fit["ra_deg"] + 180) % 360 - 180)
            if ra_apart < FULL_SKY_STAR_CLEARANCE_DEG[0] and abs(best_fit["dec_deg"]) < FULL_SKY_STAR_CLEARANCE_DEG[1]:
                offset = np.radians(best_fit["dec_deg"] - FULL_SKY_STAR_CLEARANCE_DEG[1])
        axes.text(x, offset, f"{ra}°", ha="center", va="center", **GRATICULE_LABEL_STYLE)


def _draw_zoom(figure: Figure, levels: Sequence[NsidePixels], summary: dict) -> None:
    best_fit = summary["best_fit"]
    half_width = _zoom_half_width_deg(levels, best_fit)
    edges = np.linspace(-half_width, half_width, ZOOM_GRID + 1)
    east, north = np.meshgrid(_centres(edges), _centres(edges))
    theta, phi = _gnomonic_to_sphere(best_fit["ra_deg"], best_fit["dec_deg"], east, north)
    two_delta, no_fit = _sample_two_delta_llh(levels, best_fit["llh"], theta, phi)

    axes = figure.add_subplot()
    mesh = axes.pcolormesh(edges, edges, two_delta, cmap=_colormap(), rasterized=True,
                           norm=Normalize(vmin=0.0, vmax=ZOOM_COLOR_MAX_2DLLH))
    _mark_no_fit(axes, edges, edges, no_fit)
    _draw_graticule(axes, east, north, theta, phi, best_fit["ra_deg"], half_width)
    for name, rings in summary["contours"].items():
        for ring in rings:
            ring_east, ring_north = _sphere_to_gnomonic(best_fit["ra_deg"], best_fit["dec_deg"], np.array(ring))
            axes.plot(ring_east, ring_north, color=CONTOUR_COLORS[name], linewidth=1.5, zorder=3)
    axes.plot(0, 0, marker="*", markersize=9, color="cyan", markeredgecolor="black",
              linestyle="none", label=_best_fit_label(best_fit))
    _contour_legend(axes, summary)
    axes.set_xlim(half_width, -half_width)  # east to the left, as on the sky
    axes.set_ylim(-half_width, half_width)
    axes.set_aspect("equal")
    axes.set_xlabel("east of best fit [deg, gnomonic]")
    axes.set_ylabel("north of best fit [deg, gnomonic]")
    axes.legend(loc="upper right", fontsize=9, framealpha=0.9)
    colorbar = figure.colorbar(mesh, ax=axes, orientation="horizontal", shrink=0.7, pad=0.02,
                               extend="max")
    colorbar.set_label(r"$-2\,\Delta \ln L$")


def _mark_no_fit(axes: Axes, x_edges: np.ndarray, y_edges: np.ndarray, no_fit: np.ndarray) -> None:
    """Directions whose finest scanned pixel has no fit (NaN llh) in skyreader's bright red, with a legend entry
    (its 90% line is red too); directions not scanned yet stay light grey."""
    if not no_fit.any():
        return
    cells = np.ma.masked_where(~no_fit, np.ones(no_fit.shape))
    overlay = axes.pcolormesh(x_edges, y_edges, cells, cmap=ListedColormap([NO_FIT_COLOR]), rasterized=True)
    overlay.set_in_layout(False)
    axes.plot([], [], marker="s", markersize=8, color=NO_FIT_COLOR, linestyle="none", label="no fit (llh NaN)")


def _contour_legend(axes: Axes, summary: dict) -> None:
    """Legend entries for the contour lines, with the areas the summary reports."""
    for name, area in summary["contour_areas_deg2"].items():
        axes.plot([], [], color=CONTOUR_COLORS[name], linewidth=1.5, label=f"{name}: {_format_area(area)} deg²")


def _split_at_edge(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """A line in Mollweide x (radians) cut where it leaves one side of the map and enters the other."""
    cuts = np.flatnonzero(np.abs(np.diff(x)) > np.pi) + 1
    return list(zip(np.split(x, cuts), np.split(y, cuts), strict=True))


def _spread_ticks(vmax: float, gamma: float, count: int = 5) -> list[float]:
    """Round colour-bar ticks evenly spaced along a power-law scale, so their labels never collide."""
    ticks = [0.0]
    for fraction in np.linspace(0, 1, count + 1)[1:-1]:
        value = vmax * fraction ** (1 / gamma)
        magnitude = 10 ** np.floor(np.log10(value))
        ticks.append(float(np.round(value / magnitude) * magnitude))
    return sorted(set(ticks))


def _sample_two_delta_llh(
    levels: Sequence[NsidePixels], best_llh: float, theta: np.ndarray, phi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """2*(llh - best) of the finest scanned pixel at each direction (NaN where there is none or its llh is NaN),
    and where that pixel is there but has no fit."""
    values = np.full(theta.shape, np.nan)
    no_fit = np.zeros(theta.shape, dtype=bool)
    for level in levels:  # coarsest first, so finer pixels overwrite
        order = np.argsort(level.index)
        index, llh = level.index[order], level.llh[order]
        pixel = healpy.ang2pix(level.nside, theta, phi)
        position = np.minimum(np.searchsorted(index, pixel), index.size - 1)
        scanned = index[position] == pixel
        found = llh[position[scanned]]
        values[scanned] = 2 * (found - best_llh)
        no_fit[scanned] = np.isnan(found)
    return values, no_fit


def _zoom_half_width_deg(levels: Sequence[NsidePixels], best_fit: dict) -> float:
    """Half the zoom's side: frames all pixels within `ZOOM_EXTENT_LEVEL_2DLLH` plus one pixel's size."""
    best_vector = healpy.ang2vec(np.radians(90 - best_fit["dec_deg"]), np.radians(best_fit["ra_deg"]))
    reach = 0.0
    for level in levels:
        near = level.index[2 * (level.llh - best_fit["llh"]) <= ZOOM_EXTENT_LEVEL_2DLLH]
        if near.size:
            vectors = np.atleast_2d(healpy.pix2vec(level.nside, near)).T.reshape(-1, 3)
            separation = np.degrees(np.arccos(np.clip(vectors @ best_vector, -1, 1))).max()
            pixel_size = np.degrees(healpy.nside2resol(level.nside))
            reach = max(reach, separation + pixel_size)
    low, high = ZOOM_HALF_WIDTH_DEG
    return float(np.clip(1.2 * reach, low, high))


def _tangent_basis(ra_deg: float, dec_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors at (RA, Dec): the direction itself, east and north."""
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    centre = np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    east_axis = np.array([-np.sin(ra), np.cos(ra), 0.0])
    return centre, east_axis, np.cross(centre, east_axis)


def _gnomonic_to_sphere(
    ra_deg: float, dec_deg: float, east_deg: np.ndarray, north_deg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Directions (theta, phi) of tangent-plane points around (RA, Dec), plane offsets in degrees."""
    centre, east_axis, north_axis = _tangent_basis(ra_deg, dec_deg)
    vectors = (centre + np.tan(np.radians(east_deg))[..., None] * east_axis
               + np.tan(np.radians(north_deg))[..., None] * north_axis)
    theta, phi = healpy.vec2ang(vectors.reshape(-1, 3))
    return theta.reshape(east_deg.shape), phi.reshape(east_deg.shape)


def _sphere_to_gnomonic(ra_deg: float, dec_deg: float, ra_dec_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tangent-plane offsets (degrees, as `_gnomonic_to_sphere` takes them) of [[RA, Dec], ...] points."""
    centre, east_axis, north_axis = _tangent_basis(ra_deg, dec_deg)
    ra, dec = np.radians(ra_dec_deg).T
    vectors = np.column_stack((np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)))
    along = vectors @ centre
    return np.degrees(np.arctan(vectors @ east_axis / along)), np.degrees(np.arctan(vectors @ north_axis / along))


def _draw_graticule(axes: Axes, east: np.ndarray, north: np.ndarray, theta: np.ndarray, phi: np.ndarray,
                    ra_centre_deg: float, half_width: float) -> None:
    """Lines of constant RA and Dec over the zoom, labelled just inside the frame (Dec at the left edge, RA at the
    bottom edge), away from the contours, the best fit and the legend."""
    dec = 90 - np.degrees(theta)
    ra_offset = (np.degrees(phi) - ra_centre_deg + 180) % 360 - 180  # continuous across RA 0
    for values, origin, is_ra in ((dec, 0.0, False), (ra_offset, ra_centre_deg, True)):
        low, high = float(values.min()) + origin, float(values.max()) + origin
        step = _nice_step((high - low) / 4)
        lines = axes.contour(east, north, values, levels=np.arange(np.ceil(low / step) * step, high, step) - origin,
                             colors="white", linewidths=0.6, alpha=0.6, linestyles="solid")
        for level, segments in zip(lines.levels, lines.allsegs, strict=True):
            points = np.concatenate(segments) if segments else np.empty((0, 2))
            if not points.size:
                continue
            label = f"{(level + origin) % 360:g}°" if is_ra else f"{level:g}°"
            if is_ra:  # where the line meets the bottom edge, clear of the corners
                x, y = points[np.argmin(points[:, 1])]
                if y < -0.98 * half_width and abs(x) < 0.9 * half_width:
                    axes.annotate(label, (x, -half_width), xytext=(0, 3), textcoords="offset points",
                                  ha="center", va="bottom", **GRATICULE_LABEL_STYLE)
            else:  # where the line meets the left (east) edge
                x, y = points[np.argmax(points[:, 0])]
                if x > 0.98 * half_width and abs(y) < 0.9 * half_width:
                    axes.annotate(label, (half_width, y), xytext=(3, 0), textcoords="offset points",
                                  ha="left", va="center", **GRATICULE_LABEL_STYLE)


def _nice_step(rough: float) -> float:
    magnitude = 10 ** np.floor(np.log10(rough))
    return float(magnitude * min((1, 2, 5, 10), key=lambda m: abs(m * magnitude - rough)))


def _format_area(area_deg2: float) -> str:
    return f"{area_deg2:,.0f}" if area_deg2 >= 1000 else f"{area_deg2:.3g}"


def _title(metadata: dict, levels: Sequence[NsidePixels]) -> str:
    if not metadata:
        return "skyscan result: no pixels yet"
    run, event, kind, mjd = (metadata.get(name) for name in ("run_id", "event_id", "event_type", "mjd"))
    mjd_text = f"{mjd:.5f}" if isinstance(mjd, (int, float)) else str(mjd)
    nsides = ", ".join(str(level.nside) for level in levels)
    return f"Run {run}  Event {event}  ({kind}, MJD {mjd_text})\nnsides {nsides}"


def _best_fit_label(best_fit: dict) -> str:
    return f"best fit RA {best_fit['ra_deg']:.2f}°, Dec {best_fit['dec_deg']:.2f}°"


def _colormap() -> Colormap:
    """The colour map, with directions no scanned pixel describes in light grey (`_mark_no_fit` paints failed fits)."""
    return colormaps[COLORMAP].with_extremes(bad="lightgrey")


def _centres(edges: np.ndarray) -> np.ndarray:
    return (edges[1:] + edges[:-1]) / 2
