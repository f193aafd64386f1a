"""multi_order_fits / flat_fits: files read back with astropy, mhealpy and healpy hold every stored pixel's llh."""

import io
import json
from pathlib import Path

import healpy
import mhealpy
import numpy as np
import pytest
from astropy.io import fits

from skydriver.results.analysis import analyse
from skydriver.results.coverage import uncovered_areas_deg2
from skydriver.results.pixels import llh_pixels
from skydriver.results.skymap_fits import Provenance, flat_fits, multi_order_fits

PROVENANCE = Provenance("0123456789abcdef0123456789abcdef", "9.9.9", "v3.21.2", "millipede_wilks", {"8": 0, "64": 12, "512": 24})


def _table(data: bytes) -> fits.BinTableHDU:
    with fits.open(io.BytesIO(data)) as hdus:
        hdus[1].data  # noqa: B018 - read the table before the file closes
        return hdus[1].copy()


def _stored_llh_over(result: dict, nside: np.ndarray, nest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For cells (nside, NESTED index): the llh of the finest stored pixel containing each, found with RING
    lookups of the cell's centre (not the NESTED arithmetic the writer uses); and whether any contains it."""
    llh, found = np.full(nest.size, np.nan), np.zeros(nest.size, dtype=bool)
    theta, phi = np.transpose([healpy.pix2ang(int(n), int(p), nest=True) for n, p in zip(nside, nest, strict=True)])
    for level in llh_pixels(result):  # coarsest first: finer ones overwrite
        stored = dict(zip(level.index.tolist(), level.llh.tolist(), strict=True))
        ring = healpy.ang2pix(level.nside, theta, phi)
        for cell, pixel in enumerate(ring.tolist()):
            if pixel in stored and level.nside <= nside[cell]:
                llh[cell], found[cell] = stored[pixel], True
    return llh, found


def test_multi_order_file_holds_every_stored_pixel(real_result: dict) -> None:
    analysis = analyse(json.dumps(real_result).encode())
    table = _table(multi_order_fits(analysis, PROVENANCE))
    uniq = table.data["UNIQ"]
    order = (np.log2(uniq // 4) // 2).astype(int)
    nside, nest = 2**order, uniq - 4 * (2**order) ** 2
    assert np.all(np.diff(uniq) > 0)
    # the cells tile the sky once: total area, and no cell inside another (as finest-nside NESTED runs)
    assert np.sum(1.0 / (12 * nside.astype(float) ** 2)) == pytest.approx(1.0, rel=1e-12)
    finest = nside.max()
    starts, stops = nest * (finest // nside) ** 2, (nest + 1) * (finest // nside) ** 2
    by_start = np.argsort(starts)
    assert np.all(starts[by_start][1:] >= stops[by_start][:-1])
    expected_llh, scanned = _stored_llh_over(real_result, nside, nest)
    np.testing.assert_array_equal(table.data["LLH"], expected_llh)
    assert np.isnan(table.data["LLH"][~scanned]).all()
    best = analysis.summary["best_fit"]["llh"]
    np.testing.assert_allclose(table.data["2DLLH"], 2 * (expected_llh - best), rtol=0, atol=1e-9)
    # every stored pixel that no finer one covers in part is a cell of its own
    levels = llh_pixels(real_result)
    for level, uncovered in zip(levels, uncovered_areas_deg2(levels), strict=True):
        whole = np.isclose(uncovered, healpy.nside2pixarea(level.nside, degrees=True), rtol=1e-9, atol=0)
        own = 4 * level.nside**2 + healpy.ring2nest(level.nside, level.index[whole])
        assert set(own.tolist()) <= set(uniq.tolist())


def test_multi_order_header_is_skyreaders_plus_provenance(production_file: Path) -> None:
    analysis = analyse(production_file.read_bytes())
    header = _table(multi_order_fits(analysis, PROVENANCE)).header
    assert (header["ORDERING"], header["PIXTYPE"], header["INDXSCHM"], header["MOCORDER"]) == ("NUNIQ", "HEALPIX", "EXPLICIT", 9)
    assert [header["TTYPE1"], header["TTYPE2"], header["TTYPE3"]] == ["UNIQ", "2DLLH", "LLH"]
    assert (header["RUNID"], header["EVENTID"], header["EVENT-TYPE"]) == (136766, 7637140, "neutrino")
    assert header["MJD-OBS"] == analysis.metadata["mjd"] and header["DATE-OBS"].startswith("2022-06-24T16:13")
    assert (header["RA"], header["DEC"]) == (analysis.summary["best_fit"]["ra_deg"], analysis.summary["best_fit"]["dec_deg"])
    assert header["CONTOUR_AREA_50"] == analysis.summary["contour_areas_deg2"]["50%"]
    assert header["CONTOUR_LEVEL_90"] == 4.61
    assert 0 < header["RA_ERR_MINUS_90"] and 0 < header["DEC_ERR_PLUS_90"]
    assert (header["CREATOR"], header["SCAN_ID"], header["SCANNER"], header["RECOALGO"]) == (
        "SkyDriver 9.9.9", PROVENANCE.scan_id, "v3.21.2", "millipede_wilks")
    assert (header["NSIDES"], header["REQNSIDE"]) == ("8,64,512", "8:0,64:12,512:24")


def test_mhealpy_reads_the_multi_order_file(production_file: Path, tmp_path: Path) -> None:
    """As skyreader's users load its `*.multiorder.fits.gz`."""
    path = tmp_path / "map.multiorder.fits"
    path.write_bytes(multi_order_fits(analyse(production_file.read_bytes()), PROVENANCE))
    loaded = mhealpy.HealpixMap.read_map(path)  # its defaults: UNIQ, then the first value column
    table = _table(path.read_bytes())
    assert loaded.is_moc and loaded.order == 9
    np.testing.assert_array_equal(loaded.uniq, table.data["UNIQ"])
    np.testing.assert_array_equal(loaded.data, table.data["2DLLH"])


def _expected_flat_llh(result: dict, nside: int) -> np.ndarray:
    """Per RING pixel at `nside`, found from pixel centres (not the NESTED arithmetic the writer uses): the llh of
    the finest stored pixel containing it, or the lowest llh of the finest stored pixels inside it."""
    ring = np.arange(healpy.nside2npix(nside))
    expected = np.full(ring.size, np.nan)
    for level in llh_pixels(result):
        if level.nside <= nside:
            stored = np.full(healpy.nside2npix(level.nside), np.nan)
            stored[level.index] = level.llh
            containing = healpy.ang2pix(level.nside, *healpy.pix2ang(nside, ring))
            inside = np.isin(containing, level.index)
            expected[inside] = stored[containing[inside]]
        else:
            target = healpy.ang2pix(nside, *healpy.pix2ang(level.nside, level.index))
            for pixel in np.unique(target):
                values = level.llh[target == pixel]
                expected[pixel] = np.nanmin(values) if np.isfinite(values).any() else np.nan
    return expected


@pytest.mark.parametrize("nside", [128, 16], ids=["finer than the scan", "coarser than the scan"])
def test_flat_file_reads_with_healpy(production_result: dict, tmp_path: Path, nside: int) -> None:
    del production_result["nside-512"]  # nsides 8 and 64 keep the file small
    analysis = analyse(json.dumps(production_result).encode())
    path = tmp_path / "map.fits"
    path.write_bytes(flat_fits(analysis, PROVENANCE, nside))
    two_delta, llh = healpy.read_map(path, field=(0, 1), dtype=np.float64)
    expected = _expected_flat_llh(production_result, nside)
    np.testing.assert_array_equal(llh, expected)
    np.testing.assert_allclose(two_delta, 2 * (expected - analysis.summary["best_fit"]["llh"]), rtol=0, atol=1e-9)
    assert healpy.read_map(path, h=True)[1]  # a header healpy understands


def test_empty_result_gives_empty_files() -> None:
    analysis = analyse(b"{}")
    assert len(_table(multi_order_fits(analysis, PROVENANCE)).data) == 0
    assert np.isnan(_table(flat_fits(analysis, PROVENANCE, 1)).data["LLH"]).all()
