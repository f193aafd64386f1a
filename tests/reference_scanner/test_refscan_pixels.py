"""The nside progression picks the sub-pixels of the pixels around the best one, with healpy's geometry."""

from __future__ import annotations

import math

import healpy
import numpy as np

from skydriver.reference_scanner.likelihood import StandInReco
from skydriver.reference_scanner.pixels import pixel_direction, pixels_to_reconstruct, sub_pixels


def test_sub_pixels_cover_exactly_the_parent() -> None:
    for pixel in (0, 100, 767):
        children = sub_pixels(8, 32, pixel)
        assert len(children) == 16
        theta, phi = healpy.pix2ang(32, children)
        assert set(healpy.ang2pix(8, theta, phi)) == {pixel}


def test_first_round_is_the_whole_first_nside() -> None:
    assert pixels_to_reconstruct({}, {8: 0, 16: 4}) == {(8, p) for p in range(768)}


def test_refinement_is_around_the_best_pixel() -> None:
    reco = StandInReco(ra=1.0, dec=-0.4)
    llhs = {8: {p: reco.llh(pixel_direction(8, p)) for p in range(768)}}
    best = min(llhs[8], key=llhs[8].get)
    wanted = pixels_to_reconstruct(llhs, {8: 0, 16: 4})
    parents = {healpy.ang2pix(8, *healpy.pix2ang(16, p)) for n, p in wanted}
    assert {n for n, _ in wanted} == {16}
    assert best in parents
    assert 2 <= len(parents) <= 8  # about 4 pixels' area, whole pixels by their centres
    # every refined parent is among the pixels nearest the best one
    best_vec = np.array(healpy.pix2vec(8, best))
    radius = math.sqrt(4 * healpy.nside2pixarea(8) / math.pi)
    for parent in parents:
        assert math.acos(min(1.0, float(best_vec @ np.array(healpy.pix2vec(8, parent))))) < radius
    assert len(wanted) == 4 * len(parents)


def test_whole_progression_converges_on_the_minimum() -> None:
    reco = StandInReco(ra=4.0, dec=0.7)
    progression = {8: 0, 16: 4, 32: 4}
    llhs: dict[int, dict[int, float]] = {}
    sent: set[tuple[int, int]] = set()
    while new := pixels_to_reconstruct(llhs, progression) - sent:
        sent |= new
        for nside, pixel in new:
            llhs.setdefault(nside, {})[pixel] = reco.llh(pixel_direction(nside, pixel))
    assert set(llhs) == {8, 16, 32}
    assert len(llhs[8]) == 768 and 0 < len(llhs[32]) < 100
    # the refined region holds the best pixel of the whole nside-32 sky
    best32 = min(llhs[32], key=llhs[32].get)
    assert best32 == int(np.argmin([reco.llh(pixel_direction(32, p)) for p in range(healpy.nside2npix(32))]))
    assert healpy.rotator.angdist(healpy.pix2ang(32, best32), (math.pi / 2 - 0.7, 4.0)) < healpy.nside2resol(32)

