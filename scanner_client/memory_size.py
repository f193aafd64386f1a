"""The one rule for a worker's memory size: ``"8GB"`` -> the whole mebibytes HTCondor's ``request_memory`` means.

SkyDriver's POST /scan validation uses this very function, so a size it accepts is one ``scanner_client`` runs.
"""

from __future__ import annotations

import math
import re

# ASCII digits only ("８GB" is not a size), an optional fraction, then a unit: K/M/G/T with B or iB or alone, or B
_SIZE = re.compile(r"^\s*(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>(?P<prefix>[KMGT])(?:iB|B)?|B)\s*$", re.IGNORECASE | re.ASCII)
# HTCondor reads K/M/G/T (with or without B) as powers of 1024, so "8GB" must mean 8192 MB here too.
_BYTES_PER_PREFIX = {None: 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
MAX_BYTES = 2**40  # 1 TB: more than any execute point offers, so a bigger request could never run
_EXAMPLES = "e.g. '8GB', '512MB', '2GiB'"


class MemorySizeError(ValueError):
    """The size is not something a worker can request."""


def request_memory_mb(size: str) -> int:
    """``"8GB"`` -> ``8192``; ``"512MiB"`` -> ``512``; a bare number, ``"8Gi"``, ``"0GB"`` or more than 1TB is refused."""
    match = _SIZE.match(size)
    if not match:
        raise MemorySizeError(f"{size!r} is not a positive memory size with a unit ({_EXAMPLES})")
    prefix = match["prefix"].upper() if match["prefix"] else None
    n_bytes = float(match["number"]) * _BYTES_PER_PREFIX[prefix]
    if not 0 < n_bytes <= MAX_BYTES:
        raise MemorySizeError(f"{size!r} is not a positive memory size of at most 1TB ({_EXAMPLES})")
    return math.ceil(n_bytes / 2**20)
