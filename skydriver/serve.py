"""`skydriver serve` (and plain `python -m skydriver`): run SkyDriver until SIGINT/SIGTERM.

What stops it from starting (a bad setting, a database it cannot reach or start) is one log line and an exit code,
not a traceback: 2 for the configuration, 3 for the database.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from pymongo.errors import PyMongoError

from skydriver.config import Settings
from skydriver.errors import ConfigError, EmbeddedDatabaseError
from skydriver.logs import configure_logging
from skydriver.server import start

LOGGER = logging.getLogger("skydriver")
BAD_CONFIGURATION, NO_DATABASE = 2, 3


async def serve(settings: Settings) -> None:
    driver = await start(settings)
    # what exists once started (modules, settings, the app) lives as long as the process: kept out of the cyclic
    # collector's full passes, which otherwise go over all of it each time (~0.1 s each at 1,000 running scans)
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await driver.stop()


def main() -> int:
    configure_logging("INFO", "text")  # until the settings say otherwise
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        LOGGER.error("configuration: %s", exc)
        return BAD_CONFIGURATION
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(serve(settings))
    except ConfigError as exc:
        LOGGER.error("configuration: %s", exc)
        return BAD_CONFIGURATION
    except EmbeddedDatabaseError as exc:
        LOGGER.error("embedded database: %s", exc)
        return NO_DATABASE
    except PyMongoError as exc:
        LOGGER.error("database unreachable at start (%s): %s", type(exc).__name__, str(exc)[:300])
        return NO_DATABASE
    return 0
