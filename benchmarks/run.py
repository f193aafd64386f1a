"""Benchmark SkyDriver as users run it: ``python benchmarks/run.py [--quick | --smoke] [--output FILE]``.

Starts ``python -m skydriver`` (auth off, its own port and temporary data directory, embedded database), drives it
over HTTP with concurrent clients, measures each scenario's floor through the driver, prints a table, writes JSON.
Exit status 1 when any request failed; missed performance targets are reported, not fatal.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import report
from scenarios import FULL, QUICK, SCENARIOS, SMOKE, Suite
from server_process import SkyDriverProcess

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict[str, object]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "")
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(), "kernel": platform.release()}


def log(message: str) -> None:
    print(message, flush=True)


async def benchmark(mode: str, only: set[str] | None = None) -> dict[str, object]:
    counts = {"full": FULL, "quick": QUICK, "smoke": SMOKE}[mode]
    with tempfile.TemporaryDirectory(prefix="skydriver-bench-") as data_dir:
        server = SkyDriverProcess(Path(data_dir))
        began = time.perf_counter()
        pids = server.start()
        log(f"SkyDriver pid {pids.server} on port {server.port}, database pid {pids.database} ({time.perf_counter() - began:.1f} s to start)")
        suite = Suite(server.address, pids, counts, log)
        try:
            await suite.run(only)
        finally:
            server.stop()
    result: dict[str, object] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "machine": machine(),
        "seconds": round(time.perf_counter() - began, 1),
        "scenarios": suite.scenarios,
        "memory": suite.memory,
        "repeat": suite.repeat,
        "streams": suite.streams,
    }
    report.add_baseline_ratios(suite.scenarios, report.baseline())
    result["misses"] = report.check_targets(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="mode", const="quick", help="smaller counts (about a minute)")
    size.add_argument("--smoke", action="store_const", dest="mode", const="smoke", help="tiny counts: checks that it runs")
    parser.add_argument("--output", type=Path, help="JSON file to write (default: benchmarks/results/<date>-<mode>.json)")
    parser.add_argument(
        "--only", type=lambda text: set(text.split(",")), help=f"comma-separated scenarios after post_scan, of: {', '.join(SCENARIOS)}"
    )
    args = parser.parse_args()
    if args.only and (unknown := args.only - set(SCENARIOS)):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    mode = args.mode or "full"
    os.chdir(PROJECT_ROOT)  # `python -m skydriver` must find the package as users' checkouts do
    result = asyncio.run(benchmark(mode, args.only))
    output = args.output or RESULTS_DIR / f"{dt.datetime.now():%Y%m%d-%H%M%S}-{mode}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1))
    print()
    print(report.table(result))
    print(f"\nwritten: {output}")
    errors = sum(s["skydriver"]["errors"] + s["floor"]["errors"] for s in result["scenarios"].values())  # type: ignore[attr-defined]
    sys.exit(1 if errors or result["repeat"].get("errors") else 0)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
