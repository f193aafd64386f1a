"""Several runs side by side: ``python benchmarks/summarize.py RUN.json...`` prints a Markdown table of medians.

One run on a shared 2-core machine drifts by 10-30%; the median of a few, with each figure's range, is what the
READMEs quote. How often each target was missed is listed under the table.
"""

from __future__ import annotations

import collections
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any


def row(name: str, runs: list[dict[str, Any]]) -> str:
    figures = [run["scenarios"][name] for run in runs]
    measured = [f["skydriver"] for f in figures]
    rps = [m["throughput_rps"] for m in measured]
    floor = [100 * f["fraction_of_floor"] for f in figures if f["fraction_of_floor"] is not None]
    original = [f["baseline_ratio"] for f in figures if f.get("baseline_ratio") is not None]
    label = f"`{name}`"
    if "bulk_insert_seconds" in figures[0]:
        label += f" ({statistics.median([f['bulk_insert_seconds'] for f in figures]):.0f} s to insert)"
    cells = [
        label,
        str(sum(m["requests"] for m in measured)),
        str(sum(m["errors"] for m in measured)),
        f"{statistics.median(rps):.0f} ({min(rps):.0f}-{max(rps):.0f})",
        f"{statistics.median(floor):.0f}% ({min(floor):.0f}-{max(floor):.0f}%)" if floor else "-",
        f"{statistics.median(original):.1f}" if original else "-",
        *(f"{statistics.median([m[key] for m in measured]):.1f}" for key in ("p50_ms", "p99_ms")),
        *(f"{statistics.median([m[key] for m in measured]):.2f}" for key in ("server_cpu_ms_per_req", "db_cpu_ms_per_req")),
    ]
    return "| " + " | ".join(cells) + " |"


def _which_target(miss: str) -> str:
    """``post_scan: 1.4x ... (target >= 3x)`` -> ``post_scan: target >= 3x``; other misses as they are."""
    name, _, rest = miss.partition(": ")
    target = re.search(r"\((target [^)]*)\)", rest)
    return f"{name}: {target.group(1)}" if target and " " not in name else miss


def summary(runs: list[dict[str, Any]]) -> str:
    head = ["scenario", "requests", "errors", "req/s median (range)", "of floor", "x orig", "p50 ms", "p99 ms", "server CPU ms/req", "db CPU ms/req"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" + " ---: |" * (len(head) - 1)]
    lines += [row(name, runs) for name in runs[0]["scenarios"]]
    peak_server = max(m["server"]["VmHWM"] for run in runs for m in run["memory"])
    peak_db = max(m["db"]["VmHWM"] for run in runs for m in run["memory"])
    growth = [(run["repeat"]["server_rss_after_kB"] - run["repeat"]["server_rss_before_kB"]) // 1024 for run in runs]
    lines += ["", f"{len(runs)} runs. Peak memory (VmHWM): SkyDriver {peak_server // 1024} MB, database {peak_db // 1024} MB; "
              f"SkyDriver RSS change over the repeated pass: {', '.join(f'{g:+d} MB' for g in growth)}."]  # fmt: skip
    misses = collections.Counter(_which_target(miss) for run in runs for miss in run["misses"])
    lines += [f"- missed in {count} of {len(runs)} runs: {miss}" for miss, count in sorted(misses.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary([json.loads(Path(name).read_text()) for name in sys.argv[1:]]))
