"""HEALPix FITS files of a result, for astronomers' tools (healpy, mhealpy, astropy, ligo.skymap, Aladin).

Two layouts, both with skyreader's header (RUNID, EVENTID, DATE-OBS, MJD-OBS, EVENT-TYPE, RA, DEC, the 50%/90%
rectangle errors and contour areas) plus the contour levels and the scan's provenance:
- multi-order (`multi_order_fits`): what skyreader writes as `*.multiorder.fits.gz`: a binary table of `UNIQ`
  (NUNIQ = 4 nside^2 + NESTED index) and `2DLLH` (2*(llh - best llh)), `ORDERING = 'NUNIQ'`, plus an `LLH` column.
  Each sky region appears once, at the finest scanned pixel over it; where finer pixels cover only part of a
  coarse pixel, the rest of it is written as the largest HEALPix cells that fit, with the coarse pixel's values
  (skyreader drops such a pixel and leaves a hole). Coarsest-nside pixels not scanned yet are NaN.
- single resolution (`flat_fits`): `2DLLH` and `LLH` columns, RING ordering, at a chosen nside; each pixel takes
  the value of the finest scanned pixels over it: the one containing it, or, where the scan is finer than the
  file, the lowest llh of those inside it. `healpy.read_map` reads it.
"""

import dataclasses
import io
from collections.abc import Sequence

import healpy
import numpy as np
from astropy.io import fits
from astropy.time import Time

from .analysis import ResultAnalysis
from .coverage import outermost_runs
from .pixels import NsidePixels
from .summary import CONTOUR_LEVELS_2DLLH


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Where a result came from, for the FITS header."""

    scan_id: str
    skydriver_version: str
    scanner_image_tag: str
    reco_algo: str
    requested_nsides: dict[str, int]


def multi_order_fits(analysis: ResultAnalysis, provenance: Provenance) -> bytes:
    """The result as a multi-order (NUNIQ) HEALPix FITS file; see the module's docstring."""
    uniq, llh = _multi_order_cells(analysis.levels)
    order = np.argsort(uniq)  # the IVOA MOC standard (and mhealpy) keep UNIQ ascending
    uniq, llh = uniq[order], llh[order]
    finest = max(level.nside for level in analysis.levels) if analysis.levels else 1
    layout = [
        ("PIXTYPE", "HEALPIX", "HEALPIX pixelisation"),
        ("ORDERING", "NUNIQ", "Pixel ordering scheme: RING, NESTED, or NUNIQ"),
        ("NSIDE", finest, "Resolution parameter of HEALPIX"),
        ("INDXSCHM", "EXPLICIT", "Indexing: IMPLICIT or EXPLICIT"),
        ("MOCORDER", int(np.log2(finest)), "Best resolution order"),
        ("COORDSYS", "C", "Celestial (equatorial)"),
    ]
    columns = [fits.Column("UNIQ", "K", array=uniq)] + _value_columns(analysis, llh)
    return _write(columns, layout + _event_cards(analysis, provenance))


def flat_fits(analysis: ResultAnalysis, provenance: Provenance, nside: int) -> bytes:
    """The result as a single-resolution RING-ordered HEALPix FITS file at `nside` (a power of two)."""
    llh = np.full(healpy.nside2npix(nside), np.nan)
    nest = np.arange(llh.size)
    for level in analysis.levels:  # coarsest first, so finer pixels (even without a fit) overwrite
        level_nest = healpy.ring2nest(level.nside, level.index)
        if level.nside <= nside:
            scanned = np.zeros(healpy.nside2npix(level.nside), dtype=bool)
            values = np.full(scanned.size, np.nan)
            scanned[level_nest], values[level_nest] = True, level.llh
            containing = nest // (nside // level.nside) ** 2
            here = scanned[containing]
            llh[here] = values[containing[here]]
        else:  # several scanned pixels in one: the lowest llh, so the best fit survives
            inside = level_nest // (level.nside // nside) ** 2
            lowest = np.full(llh.size, np.nan)
            np.fmin.at(lowest, inside, level.llh)
            llh[inside] = lowest[inside]
    llh = healpy.reorder(llh, n2r=True)
    layout = [
        ("PIXTYPE", "HEALPIX", "HEALPIX pixelisation"),
        ("ORDERING", "RING", "Pixel ordering scheme, either RING or NESTED"),
        ("COORDSYS", "C", "Celestial (equatorial)"),
        ("NSIDE", nside, "Resolution parameter of HEALPIX"),
        ("FIRSTPIX", 0, "First pixel # (0 based)"),
        ("LASTPIX", llh.size - 1, "Last pixel # (0 based)"),
        ("INDXSCHM", "IMPLICIT", "Indexing: IMPLICIT or EXPLICIT"),
        ("OBJECT", "FULLSKY", "Sky coverage, either FULLSKY or PARTIAL"),
    ]
    return _write(_value_columns(analysis, llh), layout + _event_cards(analysis, provenance))


def _multi_order_cells(levels: Sequence[NsidePixels]) -> tuple[np.ndarray, np.ndarray]:
    """(UNIQ, llh) of cells that tile the sky once: each scanned pixel minus what finer scanned pixels cover.

    As in `coverage.uncovered_areas_deg2`, a pixel is the run of finest-nside NESTED indices it contains;
    going from the finest level to the coarsest, the finer runs inside each pixel are found by binary search.
    """
    if not levels:
        return np.empty(0, dtype=np.int64), np.empty(0)
    finest = max(level.nside for level in levels)
    coarsest = levels[0]
    unscanned = np.setdiff1d(np.arange(healpy.nside2npix(coarsest.nside)), coarsest.index)
    sources = [*levels, NsidePixels(coarsest.nside, unscanned, np.full(unscanned.size, np.nan))]
    covered_starts = covered_stops = np.empty(0, dtype=np.int64)
    uniq_parts, llh_parts = [], []
    for level in sorted(sources, key=lambda level: -level.nside):
        run = (finest // level.nside) ** 2
        starts = healpy.ring2nest(level.nside, level.index).astype(np.int64) * run
        first = np.searchsorted(covered_starts, starts, side="left")
        last = np.searchsorted(covered_starts, starts + run, side="left")
        whole = first == last
        uniq_parts.append(4 * level.nside**2 + starts[whole] // run)
        llh_parts.append(level.llh[whole])
        for i in np.flatnonzero(~whole):  # partly refined: the gaps around the finer runs inside
            gap_starts = np.concatenate(([starts[i]], covered_stops[first[i]:last[i]]))
            gap_stops = np.concatenate((covered_starts[first[i]:last[i]], [starts[i] + run]))
            for gap_start, gap_stop in zip(gap_starts.tolist(), gap_stops.tolist(), strict=True):
                cells = _aligned_cells(gap_start, gap_stop, finest)
                uniq_parts.append(cells)
                llh_parts.append(np.full(cells.size, level.llh[i]))
        covered_starts, covered_stops = outermost_runs(
            np.concatenate((covered_starts, starts)), np.concatenate((covered_stops, starts + run))
        )
    return np.concatenate(uniq_parts).astype(np.int64), np.concatenate(llh_parts)


def _aligned_cells(start: int, stop: int, finest: int) -> np.ndarray:
    """The UNIQ of the fewest HEALPix cells exactly covering the finest-NESTED run [start, stop)."""
    cells = []
    while start < stop:
        size, nside = 1, finest
        while nside > 1 and start % (size * 4) == 0 and start + size * 4 <= stop:
            size, nside = size * 4, nside // 2
        cells.append(4 * nside**2 + start // size)
        start += size
    return np.array(cells, dtype=np.int64)


def _value_columns(analysis: ResultAnalysis, llh: np.ndarray) -> list[fits.Column]:
    best = analysis.summary["best_fit"]
    two_delta = 2 * (llh - best["llh"]) if best else np.full(llh.size, np.nan)
    return [fits.Column("2DLLH", "D", array=two_delta), fits.Column("LLH", "D", array=llh)]


def _event_cards(analysis: ResultAnalysis, provenance: Provenance) -> list[tuple]:
    """skyreader's `format_fits_header` cards (full precision), then SkyDriver's additions."""
    metadata, summary = analysis.metadata, analysis.summary
    cards: list[tuple] = []
    if metadata:
        cards += [
            ("RUNID", metadata["run_id"]),
            ("EVENTID", metadata["event_id"]),
            ("SENDER", "IceCube Collaboration"),
            ("DATE-OBS", Time(metadata["mjd"], format="mjd").isot, "UTC date of the observation"),
            ("MJD-OBS", metadata["mjd"], "modified Julian date of the observation"),
            ("EVENT-TYPE", metadata["event_type"], "Event Type"),
        ]
    if best := summary["best_fit"]:
        cards += [("RA", best["ra_deg"], "Degree"), ("DEC", best["dec_deg"], "Degree"), ("LLH_MIN", best["llh"], "best-fit -ln L")]
        for name, rings in summary["contours"].items():
            percent = name.rstrip("%")
            for key, value in _rectangle_errors(best, rings).items():
                cards.append((f"{key}_{percent}", value, f"{percent}% containment error {'high' if 'PLUS' in key else 'low'}"))
    for name, level in CONTOUR_LEVELS_2DLLH.items():
        percent = name.rstrip("%")
        cards += [
            (f"CONTOUR_LEVEL_{percent}", level, f"{percent}% contour: 2DLLH at most this (Wilks)"),
            (f"CONTOUR_AREA_{percent}", summary["contour_areas_deg2"][name], f"{percent}% contour area (sqdeg)"),
            (f"PIXEL_AREA_{percent}", summary["pixel_areas_deg2"][name], f"{percent}% area of whole pixels (sqdeg)"),
        ]
    cards += [
        ("NSIDES", ",".join(str(level.nside) for level in analysis.levels), "nsides in the result"),
        ("CREATOR", f"SkyDriver {provenance.skydriver_version}", "wrote this file"),
        ("SCAN_ID", provenance.scan_id, "SkyDriver scan id"),
        ("SCANNER", provenance.scanner_image_tag, "Skymap Scanner image tag"),
        ("RECOALGO", provenance.reco_algo, "reconstruction algorithm"),
        ("REQNSIDE", ",".join(f"{n}:{ext}" for n, ext in provenance.requested_nsides.items()), "requested nside:pixel extension"),
        ("COMMENTS", "50% and 90% uncertainty location => Change in 2LLH based on Wilks theorem"),
        ("NOTE", "Please ignore pixels with infinite or NaN values. They are rare cases of the minimizer failing to converge"),
    ]
    return cards


def _rectangle_errors(best: dict, rings: list[list[list[float]]]) -> dict[str, float]:
    """skyreader's rectangle around a contour level: its extent in RA and Dec from the best fit, in degrees."""
    if not rings:
        return {}
    ra, dec = np.concatenate([np.array(ring) for ring in rings]).T
    turned = (ra - best["ra_deg"] + 180) % 360 - 180
    return {
        "RA_ERR_PLUS": float(turned.max()),
        "RA_ERR_MINUS": float(abs(turned.min())),
        "DEC_ERR_PLUS": float(dec.max() - best["dec_deg"]),
        "DEC_ERR_MINUS": float(abs(dec.min() - best["dec_deg"])),
    }


def _write(columns: list[fits.Column], cards: list[tuple]) -> bytes:
    table = fits.BinTableHDU.from_columns(columns)
    for key, *value in cards:
        table.header[key if len(key) <= 8 else f"HIERARCH {key}"] = tuple(value)
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer)
    return buffer.getvalue()
