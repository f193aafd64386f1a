"""GET /metrics with many scans stored: what one Prometheus scrape costs SkyDriver and the database.

Run from the project root: python benchmarks/bench_metrics_scrape.py [--sizes 10000,100000] [--active 200] [--repeat 20]

SkyDriver runs as users run it (``python -m skydriver``, auth off, the embedded SecantusDB as its child). Copies of a
stored scan are inserted through the driver as bench_scan_list.py does: ``--active`` of them still scanning (progress
reported just now; a realistic fleet runs tens to hundreds at once), the rest ended (finished, with a few failed).
The first scrape, which also counts the ended scans (metrics.ENDED_RECOUNT), is reported apart; then ``--repeat``
scrapes one at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench_scan_list import INSERT_BATCH, SPACING, stored_as, template_scan
from floor import Floor
from load import Connection
from payloads import bulk_manifests
from server_process import SkyDriverProcess, cpu_seconds

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FAILED_EVERY = 50  # one ended scan in 50 failed


def state_of(n: int, size: int, active: int) -> str:
    if n >= size - active:
        return "IN_PROGRESS"
    return "FAILED" if n % FAILED_EVERY == 0 else "FINISHED"


async def fill(floor: Floor, template: dict, size: int, active: int, t: dt.datetime) -> None:
    for first in range(0, size, INSERT_BATCH):
        docs = bulk_manifests(template, first, min(INSERT_BATCH, size - first))
        await floor.insert_manifests(
            [stored_as(d, state_of(n, size, active), t - (size - 1 - n) * SPACING, t) for n, d in enumerate(docs, start=first)]
        )


async def benchmark(sizes: list[int], active: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="skydriver-bench-metrics-") as data_dir:
        server = SkyDriverProcess(Path(data_dir))
        pids = server.start()
        floor = Floor(pids.database_port)
        connection = Connection(*server.address)
        try:
            template = await template_scan(connection, floor)
            print("| scans stored (still scanning) | scrape p50 / p99 ms | CPU ms per scrape, SkyDriver / database "
                  "| first scrape (counting the ended scans) ms | its CPU ms, SkyDriver / database |")
            print("| ---: | ---: | ---: | ---: | ---: |")
            for size in sizes:
                await floor.db.manifests.delete_many({})
                await fill(floor, template, size, min(active, size), dt.datetime.now(dt.UTC).replace(microsecond=0))
                await connection.close()  # idle through the fill: SkyDriver closed it
                connection = Connection(*server.address)
                server_cpu, db_cpu = cpu_seconds(pids.server), cpu_seconds(pids.database)
                began = time.perf_counter()
                await connection.request("GET", "/metrics")  # the first: it also counts the ended scans (ENDED_RECOUNT)
                first_ms = (time.perf_counter() - began) * 1000
                first_cpu = ((cpu_seconds(pids.server) - server_cpu) * 1000, (cpu_seconds(pids.database) - db_cpu) * 1000)
                server_cpu, db_cpu = cpu_seconds(pids.server), cpu_seconds(pids.database)
                latencies = []
                for _ in range(repeat):
                    began = time.perf_counter()
                    await connection.request("GET", "/metrics")
                    latencies.append((time.perf_counter() - began) * 1000)
                server_ms = (cpu_seconds(pids.server) - server_cpu) * 1000 / repeat
                db_ms = (cpu_seconds(pids.database) - db_cpu) * 1000 / repeat
                p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98]
                p50 = statistics.median(latencies)
                print(f"| {size:,} ({min(active, size):,}) | {p50:.0f} / {p99:.0f} | {server_ms:.0f} / {db_ms:.0f} "
                      f"| {first_ms:.0f} | {first_cpu[0]:.0f} / {first_cpu[1]:.0f} |", flush=True)  # fmt: skip
        finally:
            await connection.close()
            await floor.close()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="stored scans, comma-separated")
    parser.add_argument("--active", type=int, default=200, help="of them, scans still scanning")
    parser.add_argument("--repeat", type=int, default=20, help="scrapes per size (after one warm-up)")
    args = parser.parse_args()
    os.chdir(PROJECT_ROOT)  # `python -m skydriver` must find this checkout's package
    asyncio.run(benchmark([int(s) for s in args.sizes.split(",")], args.active, args.repeat))


if __name__ == "__main__":
    main()
