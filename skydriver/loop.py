"""How SkyDriver's background loops run: one step at a time, pausing when idle, never dying of one bad step."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

LOGGER = logging.getLogger(__name__)


async def run_steps(step: Callable[[], Awaitable[bool]], what: str, idle_sleep: float = 1.0) -> None:
    """Call ``step`` forever; it returns False when there was nothing to do, and then the loop sleeps."""
    while True:
        try:
            worked = await step()
        except Exception:
            LOGGER.exception("%s step failed; going on", what)
            worked = False
        if not worked:
            await asyncio.sleep(idle_sleep)
