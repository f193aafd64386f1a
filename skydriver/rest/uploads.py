"""How many large request bodies each role may be sending at once, so that no client can make SkyDriver hold them all.

Bodies are held in memory until they are parsed; with the token checked first, only a caller with a role can send
one, and only this many large ones at a time.
"""

from __future__ import annotations

import collections

LARGE_BODY_BYTES = 1024 * 1024  # a body over this (or of unknown length) takes one of its role's slots
RETRY_AFTER_SECONDS = 5


class UploadSlots:
    def __init__(self, per_role: int):
        self.per_role = per_role
        self._in_use: collections.Counter[str] = collections.Counter()

    def take(self, role: str) -> bool:
        """Take a slot for ``role``; False when all of its slots are in use."""
        if self._in_use[role] >= self.per_role:
            return False
        self._in_use[role] += 1
        return True

    def give_back(self, role: str) -> None:
        self._in_use[role] -= 1
        if not self._in_use[role]:
            del self._in_use[role]

    def in_use(self, role: str) -> int:
        return self._in_use[role]
