"""Stopping SkyDriver's background loops ends even when a loop absorbs a cancellation."""

from __future__ import annotations

import asyncio
import logging

import pytest

from skydriver.server import stop_tasks


async def absorbs_one_cancel(ticks: list[int]) -> None:
    """A loop whose awaited library call swallows a CancelledError once, as PyMongo's network layer can."""
    swallowed = False
    while True:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed = True
        ticks.append(1)


async def ignores_cancels(until: asyncio.Event) -> None:
    while not until.is_set():
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            pass


async def test_a_loop_that_absorbs_a_cancel_is_cancelled_again() -> None:
    ticks: list[int] = []
    task = asyncio.create_task(absorbs_one_cancel(ticks))
    await asyncio.sleep(0.1)
    await stop_tasks([task])
    assert task.cancelled()


async def test_a_loop_that_never_stops_is_reported_and_left(caplog: pytest.LogCaptureFixture) -> None:
    released = asyncio.Event()
    task = asyncio.create_task(ignores_cancels(released), name="stubborn")
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.ERROR):
        await stop_tasks([task], patience=0.3)
    assert not task.done() and "background task stubborn did not stop within 0s" in caplog.text
    released.set()
    await task
