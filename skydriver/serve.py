"""`skydriver serve` (and plain `python -m skydriver`): run SkyDriver until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from skydriver.config import Settings
from skydriver.errors import ConfigError, EmbeddedDatabaseError
from skydriver.server import start


async def serve() -> None:
    settings = Settings.from_env()
    driver = await start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await driver.stop()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve())
    except (ConfigError, EmbeddedDatabaseError) as exc:
        logging.getLogger("skydriver").error("%s", exc)
        return 2
    return 0
