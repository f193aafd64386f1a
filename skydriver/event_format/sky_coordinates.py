"""IceCube local direction (zenith, azimuth) at a time -> equatorial (RA, Dec), South-Pole approximation.

At the Pole the local zenith is the celestial south pole, so Dec = zenith - 90 deg exactly (a particle arriving from
the zenith comes from Dec -90). IceCube's azimuth is counted counter-clockwise from grid east (the 90 deg E
meridian), and points where the particle comes from, so a direction at azimuth ``az`` lies over longitude
``90 deg - az``; its right ascension is the Greenwich mean sidereal time plus that longitude. GMST uses the IAU 1982
linear formula. Precession, nutation and aberration are neglected (sub-degree here), which is fine for a stand-in
likelihood's minimum but not for physics.
"""

from __future__ import annotations

import math

_MJD_J2000 = 51544.5
_GMST_HOURS_AT_J2000 = 18.697374558
_GMST_HOURS_PER_DAY = 24.06570982441908


def gmst_radians(mjd: float) -> float:
    hours = _GMST_HOURS_AT_J2000 + _GMST_HOURS_PER_DAY * (mjd - _MJD_J2000)
    return (hours % 24.0) / 24.0 * 2 * math.pi


def local_to_equatorial(zenith: float, azimuth: float, mjd: float) -> tuple[float, float]:
    """(zenith, azimuth) radians, MJD -> (ra, dec) radians, ra in [0, 2pi)."""
    dec = zenith - math.pi / 2
    ra = (gmst_radians(mjd) + math.pi / 2 - azimuth) % (2 * math.pi)
    return ra, dec
