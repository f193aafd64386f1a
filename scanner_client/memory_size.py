"""Turn a human memory size ("8GB") into the whole mebibytes HTCondor's ``request_memory`` means."""

from __future__ import annotations

import math
import re

_SIZE = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>(?P<prefix>[KMGT])(?:iB|B)?|B)\s*$", re.IGNORECASE)
# HTCondor reads K/M/G/T (with or without B) as powers of 1024, so "8GB" must mean 8192 MB here too.
_BYTES_PER_PREFIX = {None: 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class MemorySizeError(ValueError):
    """The size is not something a worker can request."""


def request_memory_mb(size: str) -> int:
    """``"8GB"`` -> ``8192``; ``"512MiB"`` -> ``512``; a bare number or ``"0GB"`` is refused."""
    match = _SIZE.match(size)
    if not match:
        raise MemorySizeError(f"memory {size!r} is not a size with a unit, e.g. '8GB', '512MB', '2GiB'")
    prefix = match["prefix"].upper() if match["prefix"] else None
    n_bytes = float(match["number"]) * _BYTES_PER_PREFIX[prefix]
    if n_bytes <= 0:
        raise MemorySizeError(f"memory {size!r} must be more than zero")
    return math.ceil(n_bytes / 2**20)
