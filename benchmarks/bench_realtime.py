"""How soon a realtime alert (priority 100) is launched while normal scans wait behind the rate limit.

Run from the project root: python benchmarks/bench_realtime.py [--alerts 100] [--waiting 0,100,1000] [--claims 1000,10000]

SkyDriver runs in this process (``skydriver.server.start``: auth off, its own port and temporary data directory, the
embedded SecantusDB as its child) with a **recording launcher**: its ``start`` notes when it is called and returns at
once. So what is measured is SkyDriver's own latency, from the POST being sent to the launcher's ``start`` being
called and to the manifest showing ``launched`` (GET polled every 20 ms); a real launcher's own time (a Kubernetes
Job created) comes on top.

For each count of waiting scans, normal scans (priority 0, the 99 kB 2017 event) are POSTed until that many wait;
then alerts (the 480 kB 2023 event, as real alerts are) are POSTed one at a time, each once the previous one shows
launched, after a random pause of up to 2 s. LAUNCH_INTERVAL is 1 s (production: 5 s), so normal scans keep
launching between alerts and an alert often arrives while the runner claims or launches one of them: a pessimistic
setting. Last, ``--claims``: the backlog's claim queries alone, through the driver, with that many entries waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: this checkout's skydriver

from load import Connection  # noqa: E402

from examples.sample_data import EVENTS_DIR, MODERN_EVENT, alert_scan_request  # noqa: E402
from skydriver.config import Settings  # noqa: E402
from skydriver.database import open_database  # noqa: E402
from skydriver.database.backlog import LeaseOwner  # noqa: E402
from skydriver.database.manifests import now  # noqa: E402
from skydriver.server import SkyDriver, start  # noqa: E402
from tests.recording_launcher import RecordingLauncher  # noqa: E402

NORMAL_EVENT = EVENTS_DIR / "event_HESE_2017-11-28.json"
LAUNCH_INTERVAL = 1.0
POLL = 0.02  # seconds between GETs of an alert's manifest
LEASE = dt.timedelta(seconds=150)


@dataclasses.dataclass
class Timings:
    waiting: tuple[int, int]  # normal scans waiting when the alerts began and ended
    answered: list[float] = dataclasses.field(default_factory=list)  # POST sent -> its answer, seconds
    started: list[float] = dataclasses.field(default_factory=list)  # POST sent -> launcher's start called
    launched: list[float] = dataclasses.field(default_factory=list)  # POST sent -> GET manifest shows launched


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def body(event: bytes, priority: int) -> bytes:
    return json.dumps(alert_scan_request(json.loads(event), priority=priority)).encode()


async def fill_backlog(address: tuple[str, int], driver: SkyDriver, target: int) -> None:
    """POST normal scans (4 at once) until ``target`` of them wait in the backlog."""
    payload = body(NORMAL_EVENT.read_bytes(), priority=0)
    missing = target - await driver.database.backlog.count()

    async def worker(n: int) -> None:
        connection = Connection(*address)
        for _ in range(n):
            await connection.request("POST", "/scan", payload)
        await connection.close()

    if missing > 0:
        await asyncio.gather(*(worker(missing // 4 + (i < missing % 4)) for i in range(4)))


async def time_alerts(address: tuple[str, int], driver: SkyDriver, launcher: RecordingLauncher, n: int) -> Timings:
    payload = body(MODERN_EVENT.read_bytes(), priority=100)
    connection = Connection(*address)
    timings = Timings((await driver.database.backlog.count(), 0))
    for _ in range(n):
        await asyncio.sleep(random.uniform(0, 2))
        sent = time.perf_counter()
        scan_id = json.loads(await connection.request("POST", "/scan", payload))["scan_id"]
        timings.answered.append(time.perf_counter() - sent)
        while True:
            manifest = json.loads(await connection.request("GET", f"/scan/manifest/{scan_id}?include_event=false"))
            if manifest["launch"]["status"] == "launched":
                timings.launched.append(time.perf_counter() - sent)
                break
            await asyncio.sleep(POLL)
        timings.started.append(launcher.started_at[scan_id] - sent)
    await connection.close()
    timings.waiting = (timings.waiting[0], await driver.database.backlog.count())
    return timings


async def time_claims(settings: Settings, uri: str, waiting: int) -> dict[str, list[float]]:
    """The backlog's claims with ``waiting`` normal entries: an alert's, the rate-limited poll finding none, and a
    normal claim (each claimed entry keeps its lease, so every normal claim passes over the ones before it)."""
    database = await open_database(dataclasses.replace(settings, mongodb_uri=uri, mongodb_database=f"claims_{waiting}"))
    backlog, owner, times = database.backlog, LeaseOwner.booting_now("bench"), {"alert": [], "none": [], "normal": []}
    t = now()
    entries = [{"scan_id": f"normal-{i}", "priority": 0, "created": t, "next_attempt_at": t, "attempts": 0, "lease": None}
               for i in range(waiting)]  # fmt: skip
    if entries:
        await backlog.collection.insert_many(entries)
    try:
        for i in range(20):
            began = time.perf_counter()
            assert await backlog.claim(owner, LEASE, min_priority=100) is None
            times["none"].append(time.perf_counter() - began)
            await backlog.insert(f"alert-{i}", 100)
            began = time.perf_counter()
            assert (await backlog.claim(owner, LEASE, min_priority=100))["scan_id"] == f"alert-{i}"
            times["alert"].append(time.perf_counter() - began)
            await backlog.remove(f"alert-{i}")
        for _ in range(5):
            began = time.perf_counter()
            await backlog.claim(owner, LEASE)
            times["normal"].append(time.perf_counter() - began)
    finally:
        await database.db.client.drop_database(database.db.name)
        await database.close()
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=100, help="alerts POSTed per count of waiting scans")
    parser.add_argument("--waiting", default="0,100,1000", help="counts of normal scans waiting, comma-separated ('' to skip)")
    parser.add_argument("--claims", default="1000,10000", help="backlog sizes for the claim queries alone ('' to skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="skydriver-bench-realtime-") as data_dir:
        settings = Settings.from_env({
            "SKYDRIVER_AUTH": "off", "REST_HOST": "127.0.0.1", "REST_PORT": "0", "SKYDRIVER_DATA_DIR": data_dir,
            "SKYDRIVER_LAUNCHER": "none", "LAUNCH_INTERVAL": str(LAUNCH_INTERVAL), "LOG_LEVEL": "WARNING",
        })  # fmt: skip
        launcher = RecordingLauncher()
        driver = await start(settings, launcher)
        address = (settings.rest_host, driver.port)
        results: list[Timings] = []
        try:
            for target in (int(n) for n in args.waiting.split(",") if n):
                began = time.perf_counter()
                await fill_backlog(address, driver, target)
                print(f"{target} normal scans waiting ({time.perf_counter() - began:.0f} s to POST); timing {args.alerts} alerts",
                      flush=True)  # fmt: skip
                results.append(await time_alerts(address, driver, launcher, args.alerts))
            claims = {int(n): await time_claims(settings, driver.database.embedded.uri, int(n)) for n in args.claims.split(",") if n}
        finally:
            await driver.stop()

    if results:
        print(f"\nPOST -> launch of realtime alerts, {args.alerts} per row, ms (recording launcher, LAUNCH_INTERVAL {LAUNCH_INTERVAL:g} s)")
        print("| normal scans waiting | POST answered p50 / p99 | POST -> start p50 / p99 | POST -> manifest launched p50 / p99 |")
        print("| ---: | ---: | ---: | ---: |")
        for timing in results:
            cells = [f"{ms(statistics.median(v))} / {ms(percentile(v, 99))}" for v in (timing.answered, timing.started, timing.launched)]
            print(f"| {timing.waiting[0]} (at the end {timing.waiting[1]}) | " + " | ".join(cells) + " |")
    if claims:
        print("\nbacklog claims alone, ms median / max (20 alert claims and rate-limited polls, 5 normal claims)")
        print("| entries waiting | alert's claim | rate-limited poll, nothing due | normal claim |")
        print("| ---: | ---: | ---: | ---: |")
        for waiting, times in claims.items():
            cells = [f"{ms(statistics.median(times[k]))} / {ms(max(times[k]))}" for k in ("alert", "none", "normal")]
            print(f"| {waiting} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    asyncio.run(main())
