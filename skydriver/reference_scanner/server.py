"""The reference scanner server: ``python -m skydriver.reference_scanner.server`` with the Skymap Scanner's arguments.

Reads the event (``--event-file`` or SkyDriver's manifest), reports its metadata, hosts the work queue and writes
``--client-startup-json`` for workers, runs the nside progression, and reports progress and (partial, then final)
results to SkyDriver at the intervals the ``SKYSCAN_*`` environment sets. Exits 0 once the final result is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import secrets
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scanner_client.nsides import NsidesError, progression_from_argv
from scanner_client.scan_routes import ScanRoutesClient, SkyDriverCallError

from ..event_format import EventFormatError, EventInfo, load_event_file, read_event
from .likelihood import StandInReco, fallback_direction
from .progress import ProgressTracker
from .results import as_skyreader_metadata, to_skyscan_result
from .scan import Scan
from .startup import StartupInfo
from .work_queue import WorkQueue

LOGGER = logging.getLogger("skydriver.reference_scanner.server")

SUPPORTED_RECO_ALGOS = ("dummy",)
DEFAULT_RECO_SECONDS = 0.01
DEFAULT_LEASE_TIMEOUT = 300.0


@dataclasses.dataclass(frozen=True)
class Environment:
    skydriver_address: str  # SKYSCAN_SKYDRIVER_ADDRESS ("" = report nowhere; needs --event-file)
    scan_id: str  # SKYSCAN_SKYDRIVER_SCAN_ID
    token: str  # SKYSCAN_SKYDRIVER_AUTH (bearer token; "" = no header)
    progress_interval: float  # SKYSCAN_PROGRESS_INTERVAL_SEC
    result_interval: float  # SKYSCAN_RESULT_INTERVAL_SEC
    lease_timeout: float  # EWMS_PILOT_SUBPROC_TIMEOUT: a reco running longer is handed to another worker

    @classmethod
    def from_env(cls) -> Environment:
        def number(name: str, default: float) -> float:
            raw = os.environ.get(name, "").strip()
            try:
                return float(raw) if raw else default
            except ValueError:
                sys.exit(f"{name}={raw!r} is not a number")

        return cls(
            skydriver_address=os.environ.get("SKYSCAN_SKYDRIVER_ADDRESS", "").strip(),
            scan_id=os.environ.get("SKYSCAN_SKYDRIVER_SCAN_ID", "").strip(),
            token=os.environ.get("SKYSCAN_SKYDRIVER_AUTH", "").strip(),
            progress_interval=number("SKYSCAN_PROGRESS_INTERVAL_SEC", 300),
            result_interval=number("SKYSCAN_RESULT_INTERVAL_SEC", 600),
            lease_timeout=number("EWMS_PILOT_SUBPROC_TIMEOUT", DEFAULT_LEASE_TIMEOUT),
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reco-algo", required=True)
    parser.add_argument("--cache-dir", type=Path, required=True, help="where the final result file is written")
    parser.add_argument("--client-startup-json", type=Path, required=True)
    parser.add_argument("--nsides", nargs="+", required=True, metavar="NSIDE:EXT")
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--real-event", dest="is_real_event", action="store_true")
    kind.add_argument("--simulated-event", dest="is_real_event", action="store_false")
    parser.add_argument("--predictive-scanning-threshold", type=float, default=1.0)
    parser.add_argument("--event-file", type=Path, help="read the event here instead of from SkyDriver's manifest")
    parser.add_argument(
        "--reco-seconds", type=float, default=DEFAULT_RECO_SECONDS, help="time each stand-in reco takes on a worker"
    )
    args = parser.parse_args(argv)
    if args.reco_algo not in SUPPORTED_RECO_ALGOS:
        parser.exit(2, f"the reference scanner only runs --reco-algo dummy (its stand-in reco), not {args.reco_algo!r}\n")
    try:
        args.nsides = progression_from_argv(args.nsides)
    except NsidesError as e:
        parser.exit(2, f"--nsides: {e}\n")
    if not 0.1 <= args.predictive_scanning_threshold <= 1.0:
        parser.exit(2, "--predictive-scanning-threshold must be within [0.1, 1.0]\n")
    return args


class Reporter:
    """Sends progress and results to SkyDriver one at a time, from a thread so the work queue keeps serving."""

    def __init__(self, api: ScanRoutesClient | None, env: Environment, tracker: ProgressTracker, scan: Scan, event: EventInfo):
        self._api = api
        self._env = env
        self._tracker = tracker
        self._scan = scan
        self._event = event
        self._lock = asyncio.Lock()
        self._last_progress = 0.0
        self._last_result = 0.0

    async def _call(self, what: str, send: Callable[[ScanRoutesClient], None], fatal: bool = False) -> None:
        if self._api is None:
            LOGGER.info("no SkyDriver address: not sending %s", what)
            return
        try:
            await asyncio.to_thread(send, self._api)
        except SkyDriverCallError as e:
            if fatal:
                raise
            LOGGER.error("could not send %s: %s", what, e)

    async def metadata(self) -> None:
        body = {
            "event_metadata": dataclasses.asdict(self._event.metadata),
            "scan_metadata": {
                "scan_id": self._env.scan_id,
                "nside_progression": [[nside, ext] for nside, ext in self._scan.progression.items()],
                "position_variations": 1,
                "reco_algo": "dummy (reference scanner stand-in)",
                "event_metadata_sources": self._event.sources,
            },
        }
        del body["event_metadata"]["version"]  # a skyreader result-format field, not part of the manifest's metadata
        async with self._lock:
            await self._call("event metadata", lambda api: api.patch_manifest(body))

    async def progress(self, summary: str, epilogue: str = "") -> None:
        async with self._lock:
            self._last_progress = time.time()
            report = self._tracker.report(summary, epilogue)
            await self._call("progress", lambda api: api.patch_manifest({"progress": report}))

    async def partial_result(self) -> None:
        async with self._lock:
            self._last_result = time.time()
            if not self._scan.values or self._scan.finished.is_set():
                return
            result = to_skyscan_result(self._scan.values, self._event.metadata, is_complete=False).serialize()
            await self._call("partial result", lambda api: api.put_result(result, False))

    async def final_result(self, cache_dir: Path) -> None:
        result = to_skyscan_result(self._scan.values, self._event.metadata, is_complete=True)
        cache_dir.mkdir(parents=True, exist_ok=True)
        LOGGER.info("final result file: %s", result.to_json(as_skyreader_metadata(self._event.metadata), cache_dir))
        async with self._lock:
            body = result.serialize()
            await self._call("final result", lambda api: api.put_result(body, True), fatal=True)

    async def first_of_nside(self) -> None:
        await self.progress("The Skymap Scanner is busy scanning pixels.", self._epilogue())
        await self.partial_result()

    def _epilogue(self) -> str:
        return f"I will report back again in {int(self._env.progress_interval)} seconds if I have an update."

    async def report_at_intervals(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._env.progress_interval, self._env.result_interval))
            now = time.time()
            if now - self._last_progress >= self._env.progress_interval:
                await self.progress("The Skymap Scanner is busy scanning pixels.", self._epilogue())
            if now - self._last_result >= self._env.result_interval:
                await self.partial_result()


def get_event(args: argparse.Namespace, api: ScanRoutesClient | None) -> dict[str, Any]:
    if args.event_file:
        return load_event_file(args.event_file)
    if api is None:
        sys.exit("no event: give --event-file or set SKYSCAN_SKYDRIVER_ADDRESS and SKYSCAN_SKYDRIVER_SCAN_ID")
    try:
        manifest = api.get_manifest()
    except SkyDriverCallError as e:
        sys.exit(f"cannot get the event from SkyDriver's manifest: {e}")
    event = manifest.get("event_i3live_json_dict")
    if not isinstance(event, dict):
        sys.exit(f"SkyDriver's manifest for scan {api.scan_id} has no event_i3live_json_dict")
    return event


def stand_in_reco(event: EventInfo, message: dict[str, Any]) -> StandInReco:
    direction = event.direction or fallback_direction(event.metadata.run_id, event.metadata.event_id)
    data = message["value"]["data"]
    spline_llh = (data.get("reco") or {}).get("splinempe", {}).get("llh") if isinstance(data, dict) else None
    llh_at_minimum = float(spline_llh) if isinstance(spline_llh, (int, float)) else 0.0
    return StandInReco(ra=direction[0], dec=direction[1], llh_at_minimum=llh_at_minimum)


async def run(args: argparse.Namespace, env: Environment) -> None:
    start = time.time()
    api = ScanRoutesClient(env.skydriver_address, env.scan_id, env.token) if env.skydriver_address and env.scan_id else None
    message = await asyncio.to_thread(get_event, args, api)
    try:
        event = read_event(message, args.is_real_event)
    except EventFormatError as e:
        sys.exit(f"cannot scan this event: {e}")
    LOGGER.info("event %s (sources: %s)", event.metadata, event.sources)

    tracker = ProgressTracker(args.nsides, args.predictive_scanning_threshold, start)
    scan = Scan(args.nsides, args.predictive_scanning_threshold, tracker, on_first_of_nside=lambda: reporter.first_of_nside())
    reporter = Reporter(api, env, tracker, scan, event)
    queue = WorkQueue(secrets.token_urlsafe(32), env.lease_timeout, scan.take)
    scan.queue = queue
    port = await queue.start()
    startup = StartupInfo("127.0.0.1", port, queue.token, stand_in_reco(event, message), args.reco_seconds)
    startup.write(args.client_startup_json)
    LOGGER.info("work queue on 127.0.0.1:%d; startup file %s", port, args.client_startup_json)

    await reporter.metadata()
    await reporter.progress("The Skymap Scanner has started up.", "I will report back when I start getting recos.")
    background = [asyncio.create_task(queue.expire_leases_forever()), asyncio.create_task(reporter.report_at_intervals())]
    await scan.next_round()
    await scan.finished.wait()
    for task in background:
        task.cancel()
    await queue.finish()
    tracker.finished_at = time.time()
    try:
        await reporter.final_result(args.cache_dir)
    except SkyDriverCallError as e:
        sys.exit(f"the final result was not stored: {e}")
    await reporter.progress("The Skymap Scanner has finished.")
    await queue.close()
    LOGGER.info("done: %s pixels, %d handed out again after lost workers", tracker.done, queue.requeued)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    # skyreader 1.6.3 serialises with DataFrame.applymap; the deprecation warning would repeat on every result
    warnings.filterwarnings("ignore", message="DataFrame.applymap has been deprecated", category=FutureWarning)
    asyncio.run(run(args, Environment.from_env()))


if __name__ == "__main__":
    main()
