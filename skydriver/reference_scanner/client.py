"""A reference-scanner worker: ``python -m skydriver.reference_scanner.client --client-startup-json PATH``.

Connects to the server's work queue, reconstructs leased pixels with the stand-in reco until told the scan is done
(exit 0). Losing the server mid-scan is an error (exit 1): its pixels are the server's to redo.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from .startup import StartupInfo

LOGGER = logging.getLogger("skydriver.reference_scanner.client")


def _exchange(writer: BinaryIO, reader: BinaryIO, message: dict[str, Any]) -> dict[str, Any]:
    writer.write(json.dumps(message).encode() + b"\n")
    line = reader.readline()
    if not line:
        raise ConnectionError("server closed the connection")
    return json.loads(line)


def run(startup: StartupInfo) -> int:
    """Work until done; returns the number of pixels reconstructed."""
    with socket.create_connection((startup.host, startup.port), timeout=None) as sock:
        reader = sock.makefile("rb")
        writer = sock.makefile("wb", buffering=0)
        hello = _exchange(writer, reader, {"token": startup.token, "worker": f"{socket.gethostname()}:{os.getpid()}"})
        if not hello.get("ok"):
            raise ConnectionError("server refused this worker")
        n_done = 0
        while True:
            task = _exchange(writer, reader, {"op": "lease"})
            if task.get("done"):
                return n_done
            started = time.monotonic()
            llh = startup.reco.llh(task["direction"])
            time.sleep(startup.reco_seconds)
            _exchange(
                writer,
                reader,
                {
                    "op": "result",
                    "lease": task["lease"],
                    "nside": task["nside"],
                    "pixel": task["pixel"],
                    "llh": llh,
                    "E_in": math.nan,
                    "E_tot": math.nan,
                    "runtime": time.monotonic() - started,
                },
            )
            n_done += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client-startup-json", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    try:
        startup = StartupInfo.read(args.client_startup_json)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"cannot read the startup file {args.client_startup_json}: {e}")
    try:
        n_done = run(startup)
    except OSError as e:
        sys.exit(f"lost the scanner server: {e}")
    LOGGER.info("scan done; reconstructed %d pixels", n_done)


if __name__ == "__main__":
    main()
