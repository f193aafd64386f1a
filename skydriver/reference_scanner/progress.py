"""The scanner's progress report, in the Skymap Scanner's format (its server/reporter.py upstream).

Keys: ``summary``, ``epilogue``, ``tallies`` (per-nside done counts and estimates, scan percent, timeline),
``processing_stats`` (``start``, ``runtime``; once recos arrive ``rate``; then ``predictions`` while scanning, or
``end`` + ``finished`` when done), ``predictive_scanning_threshold``, ``last_updated``. Times are strings as upstream
writes them (``str(datetime)``, ``str(timedelta)``); nside keys are strings so the body is valid JSON and BSON.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import statistics
import time
from typing import Any

from .work_queue import PixelResult

TIMELINE_PERCENTAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def _when(epoch: float) -> str:
    return str(dt.datetime.fromtimestamp(int(epoch)))


def _duration(seconds: float) -> str:
    return str(dt.timedelta(seconds=int(seconds)))


@dataclasses.dataclass
class _Times:
    worker: list[float] = dataclasses.field(default_factory=list)
    roundtrip: list[float] = dataclasses.field(default_factory=list)
    starts: list[float] = dataclasses.field(default_factory=list)
    ends: list[float] = dataclasses.field(default_factory=list)

    def add(self, r: PixelResult) -> None:
        self.worker.append(r.worker_runtime)
        self.roundtrip.append(r.roundtrip_end - r.roundtrip_start)
        self.starts.append(r.roundtrip_start)
        self.ends.append(r.roundtrip_end)

    def summary(self) -> dict[str, dict[str, str]]:
        wall = max(self.ends) - min(self.starts)
        return {
            "worker time": {
                "mean": _duration(statistics.fmean(self.worker)),
                "median": _duration(statistics.median(self.worker)),
                "slowest": _duration(max(self.worker)),
                "fastest": _duration(min(self.worker)),
            },
            "round-trip time": {
                "mean": _duration(statistics.fmean(self.roundtrip)),
                "median": _duration(statistics.median(self.roundtrip)),
                "slowest": _duration(max(self.roundtrip)),
                "fastest": _duration(min(self.roundtrip)),
            },
            "wall time": {
                "start": _when(min(self.starts)),
                "end": _when(max(self.ends)),
                "runtime": _duration(wall),
                "mean reco": _duration(wall / len(self.worker)),
            },
        }


class ProgressTracker:
    """Counts what was sent and received per nside, and turns that into progress reports."""

    def __init__(self, progression: dict[int, int], predictive_scanning_threshold: float, start: float):
        self.progression = progression
        self.threshold = predictive_scanning_threshold
        self.start = start
        self.sent: dict[int, int] = {}
        self.done: dict[int, int] = {}
        self._times: dict[int, _Times] = {}
        self._all = _Times()
        self.first_reco_start_on_worker = 0.0
        self.finished_at: float | None = None

    def estimated_recos(self) -> dict[int, int]:
        """Lower-bound estimate per nside: whole first nside, then extension x sub-pixels per refined pixel."""
        nsides = list(self.progression)
        estimates = {nsides[0]: 12 * nsides[0] ** 2}
        for previous, nside in zip(nsides, nsides[1:], strict=False):
            estimates[nside] = self.progression[nside] * (nside // previous) ** 2
        return estimates

    def record_sent(self, nside: int, count: int) -> None:
        self.sent[nside] = self.sent.get(nside, 0) + count

    def record_done(self, result: PixelResult) -> bool:
        """Count a finished reco; True if it is the first of its nside (upstream reports that one at once)."""
        if not self.first_reco_start_on_worker:
            self.first_reco_start_on_worker = result.roundtrip_end - result.worker_runtime
        self.done[result.nside] = self.done.get(result.nside, 0) + 1
        self._times.setdefault(result.nside, _Times()).add(result)
        self._all.add(result)
        return self.done[result.nside] == 1

    @property
    def total_done(self) -> int:
        return sum(self.done.values())

    def predicted_total(self) -> int:
        if self.finished_at is not None:
            return sum(self.sent.values())
        estimates = self.estimated_recos()
        with_sent = sum(self.sent.get(nside, estimates[nside]) for nside in self.progression)
        return max(with_sent, sum(estimates.values()))

    def _tallies(self) -> dict[str, Any]:
        estimates = self.estimated_recos()
        by_nside: dict[str, dict[str, Any]] = {}
        for nside in self.progression:
            done, sent = self.done.get(nside, 0), self.sent.get(nside)
            percent = f"N/A ({estimates[nside]} predicted)" if not sent else f"{done}/{sent} ({done / sent:.4f})"
            by_nside[str(nside)] = {"done": done, "est. percent": percent, "est. percent (recos)": percent}
        predicted = self.predicted_total()
        ends = sorted(self._all.ends)
        timeline = {}
        for fraction in TIMELINE_PERCENTAGES:
            index = math.ceil(predicted * fraction) - 1
            if 0 <= index < len(ends):
                timeline[str(fraction)] = _duration(ends[index] - self.start)
        return {
            "nsides": by_nside,
            "total pixels": self.total_done,
            "total recos": self.total_done,
            "est. scan percent": f"{self.total_done}/{predicted} ({self.total_done / predicted:.4f})",
            "est. scan timeline": timeline,
        }

    def _processing_stats(self) -> dict[str, Any]:
        now = time.time()
        stats: dict[str, Any] = {
            "start": {"scanner start": _when(self.start)},
            "runtime": {"elapsed": _duration(now - self.start)},
        }
        if not self.total_done:
            return stats
        first_start = min(self._all.starts)
        stats["start"]["reco start (on server)"] = _when(first_start)
        stats["start"]["reco start (on first worker)"] = _when(self.first_reco_start_on_worker)
        stats["runtime"]["startup runtime"] = _duration(first_start - self.start)
        stats["runtime"]["reco runtime (on server)"] = _duration(now - first_start)
        stats["runtime"]["reco start delay (on first worker)"] = _duration(self.first_reco_start_on_worker - first_start)
        stats["rate"] = {"all recos": self._all.summary()} | {
            f"nside-{nside}": times.summary() for nside, times in sorted(self._times.items())
        }
        if self.finished_at is not None:
            stats["end"] = _when(self.finished_at)
            stats["finished"] = True
        else:
            left = self.predicted_total() - self.total_done
            seconds_per_reco = (max(self._all.ends) - first_start) / self.total_done
            time_left = seconds_per_reco * left
            stats["predictions"] = {
                "time left": _duration(time_left),
                "total runtime at finish": _duration(now - self.start + time_left),
                "total # of reconstructions": self.predicted_total(),
                "end": _when(now + time_left),
                "technique": "simple average over entire scan runtime",
            }
        return stats

    def report(self, summary: str, epilogue: str = "") -> dict[str, Any]:
        return {
            "summary": summary,
            "epilogue": epilogue,
            "tallies": self._tallies(),
            "processing_stats": self._processing_stats(),
            "predictive_scanning_threshold": self.threshold,
            "last_updated": _when(time.time()),
        }
