"""One scan's bookkeeping: which pixels were handed out, which are done, when to refine and when it is finished.

Rounds, as the Skymap Scanner's server does: hand out the first nside's pixels; once the done fraction of everything
handed out reaches the predictive-scanning threshold (1.0: all of it), ask ``pixels_to_reconstruct`` for what the
results now call for and hand out what is new; when nothing is new, the scan is finished (with a threshold below 1,
pixels still outstanding then are abandoned, which is what predictive scanning trades for time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .pixels import PixelLLHs, pixels_to_reconstruct
from .progress import ProgressTracker
from .results import PixelValues
from .work_queue import PixelResult, WorkQueue

LOGGER = logging.getLogger(__name__)


class Scan:
    def __init__(
        self,
        progression: dict[int, int],
        threshold: float,
        tracker: ProgressTracker,
        on_first_of_nside: Callable[[], Awaitable[None]],
    ):
        self.progression = progression
        self.threshold = threshold
        self.tracker = tracker
        self.values: PixelValues = {}
        self.finished = asyncio.Event()
        self._on_first_of_nside = on_first_of_nside
        self._sent: set[tuple[int, int]] = set()
        self._n_done = 0
        self.queue: WorkQueue | None = None

    def llhs(self) -> PixelLLHs:
        return {nside: {p: v[0] for p, v in pixels.items()} for nside, pixels in self.values.items()}

    async def next_round(self) -> None:
        """Hand out whatever the results so far call for; finish when that is nothing new."""
        assert self.queue is not None
        new = sorted(pixels_to_reconstruct(self.llhs(), self.progression) - self._sent)
        if not new:
            LOGGER.info("no more pixels to reconstruct: scan finished (%d recos)", self._n_done)
            self.finished.set()
            return
        self._sent.update(new)
        for nside in self.progression:
            count = sum(1 for n, _ in new if n == nside)
            if count:
                self.tracker.record_sent(nside, count)
        LOGGER.info("handing out %d pixels: %s", len(new), {n: c for n, c in self.tracker.sent.items()})
        await self.queue.add(new)

    async def take(self, result: PixelResult) -> None:
        """A worker's result (duplicates from redone pixels and late results after the finish are dropped)."""
        key = (result.nside, result.pixel)
        if self.finished.is_set() or key not in self._sent or result.pixel in self.values.get(result.nside, {}):
            return
        self.values.setdefault(result.nside, {})[result.pixel] = (result.llh, result.e_in, result.e_tot)
        self._n_done += 1
        if self.tracker.record_done(result):
            await self._on_first_of_nside()
        if self._n_done >= self.threshold * len(self._sent):
            await self.next_round()
