"""How SkyDriver's background loops run: one step at a time, pausing when idle or while the database is down,
never dying of one bad step."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from .database import DatabaseHealth
from .errors import DatabaseUnavailable

LOGGER = logging.getLogger(__name__)


async def run_steps(
    step: Callable[[], Awaitable[bool]], what: str, health: DatabaseHealth, idle_sleep: float = 1.0, wake: asyncio.Event | None = None
) -> None:
    """Call ``step`` forever; it returns False when there was nothing to do, and then the loop sleeps until ``wake`` is
    set (new work in this process) or ``idle_sleep`` has passed (work only the database knows of)."""
    while True:
        if not health.available:
            LOGGER.warning("%s paused: the database is unavailable", what)
            await health.wait_until_available()
            LOGGER.info("%s resumed", what)
        if wake is not None:
            wake.clear()  # work that arrives from here on is either seen by this step or ends the sleep after it
        try:
            async with health.guard():
                worked = await step()
        except DatabaseUnavailable:
            continue  # paused at the top of the loop until the database is back
        except Exception:
            LOGGER.exception("%s step failed; going on", what)
            worked = False
        if not worked:
            await _idle(idle_sleep, wake)


async def _idle(seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)
