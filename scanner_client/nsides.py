"""The one rule for an nside progression: what POST /scan accepts is what the scanner server's ``--nsides`` runs.

SkyDriver validates the request's ``nsides`` object with ``progression_from_json`` and writes the server's
arguments with ``progression_to_argv``; the reference scanner reads them back with ``progression_from_argv``.
Entries are ``nside: pixel extension``: nsides are powers of two, ascending; the first nside is scanned whole
(extension 0), each later one refines ``extension`` (>= 1) pixels around the best fit so far.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

MAX_NSIDE = 8192
_DECIMAL = re.compile(r"^[0-9]+$", re.ASCII)  # "８" and "+8" are not nsides


class NsidesError(ValueError):
    """The progression is not one the scanner can run; the message says which entry and why."""


def _nside(text: str) -> int:
    if not _DECIMAL.match(text) or (nside := int(text)) < 1 or nside & (nside - 1) or nside > MAX_NSIDE:
        raise NsidesError(f"nside {text!r} must be a power of two between 1 and {MAX_NSIDE}")
    return nside


def _checked(entries: Iterable[tuple[str, int]]) -> dict[int, int]:
    progression: dict[int, int] = {}
    for text, extension in entries:
        nside = _nside(text)
        if progression and nside <= (previous := max(progression)):
            raise NsidesError(f"nsides must be ascending: {nside} comes after {previous}")
        if not progression and extension != 0:
            raise NsidesError(f"the first nside ({nside}) is scanned whole: its pixel extension must be 0, not {extension}")
        # an extension is a number of pixels: at least one, at most the whole sky at that nside
        if progression and not 1 <= extension <= 12 * nside**2:
            raise NsidesError(f"nside {nside}: the pixel extension must be between 1 and {12 * nside**2}, not {extension}")
        progression[nside] = extension
    if not progression:
        raise NsidesError("at least one nside is required")
    return progression


def progression_from_json(nsides: Mapping[str, int]) -> dict[int, int]:
    """POST's ``{"8": 0, "64": 12}`` -> ``{8: 0, 64: 12}``, or ``NsidesError``."""
    return _checked(nsides.items())


def progression_from_argv(tokens: Sequence[str]) -> dict[int, int]:
    """``--nsides 8:0 64:12`` -> ``{8: 0, 64: 12}``, or ``NsidesError``."""
    entries = []
    for token in tokens:
        nside, colon, extension = token.partition(":")
        if not colon or not _DECIMAL.match(extension):
            raise NsidesError(f"--nsides entry {token!r} must be NSIDE:EXTENSION, e.g. 8:0")
        entries.append((nside, int(extension)))
    return _checked(entries)


def progression_to_argv(progression: Mapping[int, int]) -> list[str]:
    """``{8: 0, 64: 12}`` -> ``["8:0", "64:12"]``, the scanner server's ``--nsides`` values."""
    return [f"{nside}:{extension}" for nside, extension in sorted(progression.items())]
