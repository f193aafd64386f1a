"""The stand-in likelihood's minimum is at the event's reconstructed direction."""

from __future__ import annotations

import math

import healpy
import numpy as np
from conftest import MODERN_EVENT

from skydriver.event_format import load_event_file, read_event
from skydriver.event_format.sky_coordinates import local_to_equatorial
from skydriver.reference_scanner.likelihood import StandInReco, fallback_direction
from skydriver.reference_scanner.pixels import pixel_direction


def test_minimum_is_the_event_direction_at_nside_64() -> None:
    info = read_event(load_event_file(MODERN_EVENT), is_real_event=True)
    assert info.direction is not None
    ra, dec = info.direction
    reco = StandInReco(ra=ra, dec=dec)
    nside = 64
    llhs = [reco.llh(pixel_direction(nside, p)) for p in range(healpy.nside2npix(nside))]
    assert int(np.argmin(llhs)) == healpy.ang2pix(nside, math.pi / 2 - dec, ra)
    # 2*delta-llh ~ (psi/sigma)^2: one sigma away costs ~0.5
    away = healpy.ang2pix(nside, math.pi / 2 - dec - 5 * reco.sigma, ra)
    assert 10 < llhs[away] - min(llhs) < 15


def test_splinempe_direction_is_horizontal_as_its_zenith_says() -> None:
    """zen = 1.5716 rad is ~90 deg: the source sits on the celestial equator seen from the Pole."""
    ra, dec = local_to_equatorial(1.57163, 4.87687, 60280.71416774572)
    assert abs(math.degrees(dec)) < 0.1 and 0 <= ra < 2 * math.pi


def test_fallback_direction_is_fixed_by_the_event_and_differs_between_events() -> None:
    a = fallback_direction(127907, 20178442)
    assert a == fallback_direction(127907, 20178442)
    assert a != fallback_direction(127907, 16605651)
    assert 0 <= a[0] < 2 * math.pi and -math.pi / 2 <= a[1] <= math.pi / 2
