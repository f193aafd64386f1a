"""The stand-in reconstruction: a smooth, deterministic likelihood whose minimum is the event's own direction.

The Skymap Scanner's ``dummy`` reco returns random numbers; this one is deterministic so results can be checked.
For a pixel at angular distance ``psi`` from the event direction,

    llh = llh_at_minimum + (1 - cos psi) / sigma**2       (a von Mises-Fisher negative log-likelihood),

so 2*delta-llh ~ (psi/sigma)**2 near the minimum, like a real track with resolution ``sigma``. The direction is the
event's splinempe fit when the message carries one; otherwise (frame-only messages) a fallback direction fixed by
the run and event ids (uniform on the sphere via SHA-256), so every event still has one well-defined minimum. There
is no energy estimate: ``E_in``/``E_tot`` are NaN, as in the scanner's splinempe results.

Workers get each pixel's direction from the server, as the Skymap Scanner's clients get it in the pixel's frame, so
this module needs no HEALPix: a worker starts without importing healpy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence

DEFAULT_SIGMA_RADIANS = math.radians(1.0)


@dataclasses.dataclass(frozen=True)
class StandInReco:
    ra: float  # radians
    dec: float  # radians
    sigma: float = DEFAULT_SIGMA_RADIANS
    llh_at_minimum: float = 0.0

    def to_json(self) -> dict[str, float]:
        return dataclasses.asdict(self)

    def llh(self, direction: Sequence[float]) -> float:
        """The llh of a pixel whose centre is the unit vector ``direction`` (``pixels.pixel_direction``)."""
        center = (math.cos(self.dec) * math.cos(self.ra), math.cos(self.dec) * math.sin(self.ra), math.sin(self.dec))
        cos_psi = min(1.0, max(-1.0, sum(a * b for a, b in zip(center, direction, strict=True))))
        return self.llh_at_minimum + (1.0 - cos_psi) / self.sigma**2


def fallback_direction(run_id: int, event_id: int) -> tuple[float, float]:
    """A direction (ra, dec) fixed by the event's identity, uniform over the sphere across events."""
    digest = hashlib.sha256(f"{run_id}:{event_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    v = int.from_bytes(digest[8:16], "big") / 2**64
    return 2 * math.pi * u, math.asin(2 * v - 1)
