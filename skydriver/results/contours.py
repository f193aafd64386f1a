"""The 50%/90% contours of a scan the way skyreader draws them and computes the areas IceCube reports.

skyreader's `create_plot_zoomed` (the numbers in GCN circulars) takes every scanned pixel centre of every nside,
coarse pixels under finer ones included, as a sample of 2*(llh - best llh); adds the coarsest nside's unscanned
pixels as samples without a value; triangulates the samples on the sphere (their convex hull, via meander);
draws the iso-lines by linear interpolation along the triangle edges; and measures each closed line's area with
the shoelace formula in (cos theta, phi) coordinates, an equal-area projection in which it takes the line as
straight. This module does the same steps, vectorised: meander walks every triangle in Python (1.2 s for the
3,590-pixel production result, plus 2.8 s in skyreader's `extract_map`), here they take ~20 ms.

Where skyreader's choices are odd they are kept, so the numbers match: areas of separate lines at one level add
up (an island inside a hole counts, the hole does not subtract); samples without a value take the largest
2*(llh - best) of the finest map (skyreader's `nanmax(equatorial_map)`), so the lines run near them.
One difference: a +inf llh counts as a sample without a value here (skyreader keeps it as +inf, putting the line
on the neighbouring pixel's centre); scanners send NaN, and the validator keeps +inf only as "no usable fit".
"""

import dataclasses
from collections.abc import Sequence

import healpy
import numpy as np
from scipy.spatial import ConvexHull, QhullError, cKDTree

from .coverage import uncovered_areas_deg2
from .pixels import NsidePixels

SQUARE_DEGREES_PER_STERADIAN = np.degrees(1.0) ** 2
LOCAL_HULL_MIN_SAMPLES = 20_000
"""Below this many samples the whole hull is quick (~50 ms per 10k samples); above, the local one is tried first."""
LOCAL_HULL_MAX_FRACTION = 0.25
"""The local hull is given up (for the whole one) once its neighbourhood holds this fraction of the samples."""
DELAUNAY_MARGIN = 1e-10
"""How far below a triangle's plane every other sample must lie for the triangle to count as certainly one of the
whole hull's. Neighbouring nside-2048 centres lie ~1e-7 below; cocircular ones (common among HEALPix centres, and
split arbitrarily by qhull) lie within ~1e-16."""


@dataclasses.dataclass(frozen=True)
class Contour:
    """The closed lines of one level: each an (N, 2) array of (theta, phi) radians, the first vertex repeated last."""

    lines: list[np.ndarray]
    area_deg2: float

    def ra_dec_deg(self) -> list[list[list[float]]]:
        """The lines as [[RA, Dec], ...] in degrees (RA in [0, 360)), rounded to 1e-6 deg (0.004 arcsec)."""
        return [
            np.round(np.column_stack((np.degrees(line[:, 1]) % 360.0, 90.0 - np.degrees(line[:, 0]))), 6).tolist()
            for line in self.lines
        ]


def skyreader_contours(levels: Sequence[NsidePixels], thresholds_2dllh: Sequence[float],
                       local_hull_min_samples: int = LOCAL_HULL_MIN_SAMPLES) -> list[Contour]:
    """For each threshold on 2*(llh - best llh), the contour skyreader draws and the area it reports.

    Empty contours (no lines, area 0) while no pixel has a finite llh. From `local_hull_min_samples` samples on, the
    triangles are taken from the hull of the samples near the lines when that is exactly the whole hull's there
    (`local_hull_triangles`): 70 ms instead of 12-25 s for a million samples; the lines are the same.
    """
    samples = _samples(levels)
    if samples is None:
        return [Contour([], 0.0) for _ in thresholds_2dllh]
    theta, phi, values, best_ra = samples
    vectors = np.column_stack((np.cos(phi) * np.sin(theta), np.sin(phi) * np.sin(theta), np.cos(theta)))
    triangles = local_hull_triangles(vectors, values, max(thresholds_2dllh), local_hull_min_samples)
    if triangles is None:
        triangles = np.sort(ConvexHull(vectors).simplices, axis=1)
    contours = []
    for threshold in thresholds_2dllh:
        lines = [_interpolate(vectors, values, edges, threshold) for edges in _crossing_loops(triangles, values, threshold)]
        area = sum(_shoelace_area(line, best_ra) for line in lines) * SQUARE_DEGREES_PER_STERADIAN
        contours.append(Contour(lines, float(area)))
    return contours


def local_hull_triangles(vectors: np.ndarray, values: np.ndarray, ceiling: float,
                         min_samples: int = LOCAL_HULL_MIN_SAMPLES) -> np.ndarray | None:
    """Every triangle of the convex hull of all `vectors` that has a vertex whose value is below `ceiling`, found from
    the hull of the samples near those vertices only; None when that cannot be shown to be exact (then the caller
    takes the whole hull). Sorted vertex indices per row, in no particular row order.

    Every triangle an iso-line below `ceiling` crosses has such a vertex, and only they matter. A triangle of the
    local hull is one of the whole hull's when no sample lies on or above its plane (its circumcircle on the sphere)
    but its own vertices: checked against the local samples, with `DELAUNAY_MARGIN`, for triangles whose circumcircle
    lies inside the neighbourhood (so no other sample could be in it). If every local triangle around each low
    vertex passes, they close a fan around it, which is then the whole hull's fan. Cocircular samples near the low
    vertices fail the check, as qhull's split of them depends on all the points: then the whole hull is needed.
    """
    if values.size < min_samples:
        return None
    low = np.flatnonzero(values < ceiling)
    centre = vectors[low].sum(axis=0)
    if low.size == 0 or not (norm := np.linalg.norm(centre)) > 0:
        return None
    centre /= norm
    spread = float(np.arccos(np.clip((vectors[low] @ centre).min(), -1.0, 1.0)))
    along_centre = vectors @ centre
    low_tree = cKDTree(vectors[low])
    lowest = low[np.argmin(values[low])]
    along_lowest = np.delete(vectors @ vectors[lowest], lowest)
    reach = 4 * np.sqrt(max(2 - 2 * along_lowest.max(initial=-1.0), 0.0))  # a chord; doubled until the fans pass
    while 0 < reach < 2:
        # the neighbourhood (samples within `reach` of a low one) lies in this cap around the low samples' centre
        in_cap = np.flatnonzero(along_centre >= np.cos(min(spread + 2 * np.arcsin(reach / 2), np.pi)))
        if in_cap.size > LOCAL_HULL_MAX_FRACTION * values.size:
            return None
        distance, _ = low_tree.query(vectors[in_cap], distance_upper_bound=reach)
        local = in_cap[np.isfinite(distance)]
        fans = _certified_fans(vectors[local], np.isin(local, low), reach)
        if fans is None or isinstance(fans, np.ndarray):
            return None if fans is None else np.sort(local[fans], axis=1)
        reach *= 2
    return None


def _certified_fans(points: np.ndarray, is_low: np.ndarray, reach: float) -> np.ndarray | bool | None:
    """The hull of `points`' triangles around the low ones, if each is certainly a triangle of the whole hull (see
    `local_hull_triangles`); False if some circumcircle reaches past the neighbourhood (`reach` from a low vertex);
    None if some point lies within `DELAUNAY_MARGIN` of a triangle's plane, or a low point is no vertex."""
    try:
        hull = ConvexHull(points)
    except QhullError:  # too few points, or too flat a patch of sphere for qhull: a wider neighbourhood may do
        return False
    if not np.isin(np.flatnonzero(is_low), hull.vertices).all():
        return None
    around = is_low[hull.simplices].any(axis=1)
    normals, heights = hull.equations[around, :3], -hull.equations[around, 3] - DELAUNAY_MARGIN  # planes lowered
    if (heights <= 0).any():
        return False
    # every point above a lowered plane is within twice its cap's angular radius of each vertex
    if (2 * np.sin(np.arccos(heights)) > reach).any():
        return False
    above = cKDTree(points).query_ball_point(normals, np.sqrt(2 - 2 * heights), return_length=True)
    return hull.simplices[around] if (above == 3).all() else None


def _samples(levels: Sequence[NsidePixels]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """(theta, phi, 2*(llh - best), RA of the best sample) in skyreader's order, NaN values filled as it does."""
    llh = np.concatenate([level.llh for level in levels]) if levels else np.empty(0)
    if not np.isfinite(llh).any():
        return None
    coarsest = levels[0]
    unscanned = np.setdiff1d(np.arange(12 * coarsest.nside**2), coarsest.index)
    nsides = [coarsest.nside] + [level.nside for level in levels]
    indices = [coarsest.index, unscanned] + [level.index for level in levels[1:]]
    llh = np.concatenate([coarsest.llh, np.full(unscanned.size, np.nan)] + [level.llh for level in levels[1:]])
    angles = [healpy.pix2ang(nside, index) for nside, index in zip(nsides, indices, strict=True)]
    theta = np.concatenate([a[0] for a in angles])
    phi = np.concatenate([a[1] for a in angles])
    # skyreader stores Dec = pi/2 - theta and converts back: the same round trip gives the same floats
    theta = np.pi / 2 - (np.pi / 2 - theta)
    values = 2 * (llh - np.nanmin(llh))
    order = np.argsort(values)  # skyreader sorts its samples so; qhull's split of flat facets depends on it
    theta, phi, values = theta[order], phi[order], values[order]
    if np.isnan(values).any():
        values[np.isnan(values)] = _finest_map_maximum(levels)
    return theta, phi, values, float(phi[0])


def _finest_map_maximum(levels: Sequence[NsidePixels]) -> float:
    """The largest 2*(llh - min llh) over the finest-resolution map skyreader builds (`equatorial_map`):
    each sky region takes the finest pixel with a finite llh over it."""
    finite = [NsidePixels(level.nside, level.index[ok], level.llh[ok]) for level in levels if (ok := np.isfinite(level.llh)).any()]
    seen = np.concatenate([level.llh[area > 0] for level, area in zip(finite, uncovered_areas_deg2(finite), strict=True)])
    return float(2 * (seen.max() - seen.min()))


def _crossing_loops(triangles: np.ndarray, values: np.ndarray, threshold: float) -> list[np.ndarray]:
    """The closed chains of triangle edges the iso-line crosses, each an (N, 2) array of sample indices, the same
    whatever the order of `triangles`.

    An edge is crossed when one end is >= threshold and the other is not (meander's rule). In a triangle the line
    crosses, it enters by one crossed edge and leaves by the other, so on a closed triangulated sphere each crossed
    edge belongs to exactly two crossed triangles and the edges chain into loops.
    """
    above = values[triangles] >= threshold
    count = above.sum(axis=1)
    crossed = (count == 1) | (count == 2)
    if not crossed.any():
        return []
    triangles, above, count = triangles[crossed], above[crossed], count[crossed]
    lone = np.where(count == 1, np.argmax(above, axis=1), np.argmin(above, axis=1))
    rows = np.arange(triangles.shape[0])
    apex = triangles[rows, lone]
    others = triangles[rows[:, None], (lone[:, None] + np.array([1, 2])) % 3]
    n = values.size
    first = np.minimum(apex, others[:, 0]) * n + np.maximum(apex, others[:, 0])
    second = np.minimum(apex, others[:, 1]) * n + np.maximum(apex, others[:, 1])
    neighbours: dict[int, list[int]] = {}
    for a, b in zip(first.tolist(), second.tolist(), strict=True):
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    loops = []
    for start in sorted(neighbours):  # from its smallest edge to the smaller neighbour: independent of the order
        if start not in neighbours:
            continue
        current, previous, chain = min(neighbours[start]), start, [start]
        while current != start:
            chain.append(current)
            a, b = neighbours[current]
            previous, current = current, b if a == previous else a
        chain.append(start)
        for edge in chain:
            neighbours.pop(edge, None)
        loops.append(np.column_stack(np.divmod(np.array(chain), n)))
    return loops


def _interpolate(vectors: np.ndarray, values: np.ndarray, edges: np.ndarray, threshold: float) -> np.ndarray:
    """Where the line crosses each edge: linear in the value, along the chord, projected back onto the sphere
    (meander's `_spherical_geodesic`); as (theta, phi)."""
    low_first = values[edges[:, 0]] <= values[edges[:, 1]]
    low = np.where(low_first, edges[:, 0], edges[:, 1])
    high = np.where(low_first, edges[:, 1], edges[:, 0])
    fraction = (threshold - values[low]) / (values[high] - values[low])
    points = vectors[low] * (1 - fraction)[:, None] + vectors[high] * fraction[:, None]
    points /= np.linalg.norm(points, axis=1)[:, None]
    return np.column_stack((np.arccos(points[:, 2]), np.arctan2(points[:, 1], points[:, 0])))


def _shoelace_area(line: np.ndarray, best_ra: float) -> float:
    """The area (sr) inside a closed line, taken as straight in (cos theta, phi), phi turned so the best fit is
    at pi (skyreader's `get_contour_areas` and `calculate_area`)."""
    x = np.cos(line[:, 0])
    y = (line[:, 1] + np.pi - best_ra) % (2 * np.pi)
    return abs(0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1])))
