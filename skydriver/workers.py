"""CPU-heavy request work (large bodies, sky maps) in worker processes, so the event loop keeps answering.

Threads would not do: orjson, the result checks and matplotlib hold the GIL for whole calls (parsing a 16 MB body
is one orjson call of ~0.4 s on 2 shared cores), so the loop would wait for them as it did when they ran on it. A
process costs its memory (the modules it imports) and a copy of its input and output through a pipe (milliseconds for
tens of MB).

Each pool runs at most ``processes`` jobs and holds at most ``queue`` more waiting; a job beyond that is refused at
once with WorkersBusy (503 + Retry-After) rather than piling up work and memory. Processes start on first use (the
first job waits ~1-2 s while they import), by ``spawn`` (never fork a process running an event loop and the database
driver's threads), import the modules their jobs use while starting, and run at a lower priority than SkyDriver's
own process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from .errors import WorkersBusy, WorkersFailed

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_AFTER_SECONDS = 5
WORKER_NICENESS = 10  # on a busy machine the event loop's process gets the CPU first: small requests stay quick


def _start_worker(modules: tuple[str, ...]) -> None:
    os.nice(WORKER_NICENESS)
    for module in modules:
        importlib.import_module(module)


class WorkerPool:
    """A bounded pool of worker processes for one kind of job (``name`` appears in errors and logs)."""

    def __init__(self, name: str, processes: int, queue: int, preload: tuple[str, ...] = ()):
        self.name = name
        self.processes = processes
        self.queue = queue
        self.preload = preload
        self.in_flight = 0  # running or waiting
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None

    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                initargs=(self.preload,),
            )  # fmt: skip
        return self._executor

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker process (both must pickle); WorkersBusy when the pool is full."""
        if self.in_flight >= self.processes + self.queue:
            raise WorkersBusy(
                f"SkyDriver's {self.name} workers are busy ({self.processes} running, {self.queue} waiting); retry later",
                RETRY_AFTER_SECONDS,
            )
        self.in_flight += 1
        try:
            executor = self._pool()
            return await asyncio.wrap_future(executor.submit(function, *args))
        except BrokenProcessPool:
            # a worker died (killed, out of memory): every job it held failed; the next job gets new processes
            LOGGER.error("a %s worker process died; starting new ones", self.name)
            if self._executor is executor:
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise WorkersFailed(f"SkyDriver's {self.name} worker process died during this request; retry later", RETRY_AFTER_SECONDS) from None
        finally:
            self.in_flight -= 1

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
