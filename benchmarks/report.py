"""The figures against the targets and the original SkyDriver's baseline: a printed table and a list of misses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASELINE_FILE = Path(__file__).resolve().parent / "baseline_original.json"
TEN_TIMES = ("patch_progress", "put_result", "get_result")  # the original's slowest routes: >= 10x, the rest >= 3x
MIN_FRACTION_OF_FLOOR = 0.5
MAX_P99_OVER_P50 = 10.0
MAX_SERVER_HWM_KB = 400 * 1024
MAX_RSS_GROWTH_KB = 32 * 1024
MAX_FIND_SLOWDOWN = 1.5
MAX_PER_PIXEL_GROWTH = 1.25
MAX_STREAMS_RSS_KB = 50 * 1024  # 200 open progress streams
MAX_STREAMS_SLOWDOWN = 0.20  # GET manifest beside them


def baseline() -> dict[str, Any]:
    return json.loads(BASELINE_FILE.read_text())["scenarios"] if BASELINE_FILE.exists() else {}


def baseline_key(name: str) -> str | None:
    if name.startswith("find_scans"):
        return "find_scans"
    return name if name in ("post_scan", "patch_progress", "put_result", "get_manifest", "get_result") else None


def add_baseline_ratios(scenarios: dict[str, dict[str, Any]], reference: dict[str, Any]) -> None:
    for name, figures in scenarios.items():
        key = baseline_key(name)
        if key and key in reference:
            figures["baseline_ratio"] = round(figures["skydriver"]["throughput_rps"] / reference[key]["throughput_rps"], 2)


def check_targets(result: dict[str, Any]) -> list[str]:
    """Every missed target, as a sentence; empty when all are met."""
    misses = []
    scenarios = result["scenarios"]
    for name, figures in scenarios.items():
        sd = figures["skydriver"]
        if sd["errors"] or figures["floor"]["errors"]:
            misses.append(f"{name}: {sd['errors']} errors (floor {figures['floor']['errors']}); first: {sd['first_error'] or figures['floor']['first_error']}")
        if (fraction := figures["fraction_of_floor"]) is not None and fraction < MIN_FRACTION_OF_FLOOR:
            misses.append(f"{name}: {fraction:.0%} of its floor (target >= {MIN_FRACTION_OF_FLOOR:.0%})")
        if sd["p50_ms"] and sd["p99_ms"] > MAX_P99_OVER_P50 * sd["p50_ms"]:
            misses.append(f"{name}: p99 {sd['p99_ms']} ms is more than {MAX_P99_OVER_P50:.0f}x p50 {sd['p50_ms']} ms")
        if (ratio := figures.get("baseline_ratio")) is not None:
            wanted = 10 if baseline_key(name) in TEN_TIMES else 3
            if ratio < wanted:
                misses.append(f"{name}: {ratio}x the original's throughput (target >= {wanted}x)")
    peak = max(m["server"]["VmHWM"] for m in result["memory"])
    if peak > MAX_SERVER_HWM_KB:
        misses.append(f"server peak RSS {peak // 1024} MB (target < {MAX_SERVER_HWM_KB // 1024} MB)")
    repeat = result["repeat"]
    if repeat.get("errors"):
        misses.append(f"memory repeat pass: {repeat['errors']} errors")
    if repeat and repeat["server_rss_after_kB"] - repeat["server_rss_before_kB"] > MAX_RSS_GROWTH_KB:
        misses.append(
            f"server RSS grew {(repeat['server_rss_after_kB'] - repeat['server_rss_before_kB']) // 1024} MB over "
            f"{repeat['requests']} repeated requests"
        )
    if streams := result.get("streams"):
        growth_kb = streams["server_rss_with_streams_kB"] - streams["server_rss_before_kB"]
        if growth_kb > MAX_STREAMS_RSS_KB:
            misses.append(f"{streams['streams']} event streams cost {growth_kb // 1024} MB (target < {MAX_STREAMS_RSS_KB // 1024} MB)")
        if streams["get_manifest_beside_streams"]["errors"]:
            misses.append(f"GET manifest beside event streams: {streams['get_manifest_beside_streams']['errors']} errors")
        if (slowdown := streams["get_manifest_slowdown"]) is not None and slowdown > MAX_STREAMS_SLOWDOWN:
            misses.append(f"GET manifest {slowdown:.0%} slower beside event streams (target <= {MAX_STREAMS_SLOWDOWN:.0%})")
    finds = sorted((f["scans_stored"], f["skydriver"]["p50_ms"]) for f in scenarios.values() if "scans_stored" in f)
    if len(finds) > 1 and finds[-1][1] > MAX_FIND_SLOWDOWN * finds[0][1]:
        misses.append(f"find p50 {finds[-1][1]} ms at {finds[-1][0]} scans vs {finds[0][1]} ms at {finds[0][0]} (target <= {MAX_FIND_SLOWDOWN}x)")
    growth = sorted((f["pixels"], f["skydriver"]["server_cpu_ms_per_req"] / f["pixels"]) for f in scenarios.values() if "pixels" in f)
    if len(growth) > 1 and growth[-1][1] > MAX_PER_PIXEL_GROWTH * growth[0][1]:
        misses.append(f"PUT result server CPU per pixel grows faster than linearly ({growth[0]} -> {growth[-1]})")
    return misses


def table(result: dict[str, Any]) -> str:
    head = (
        f"{'scenario':<24}{'req':>6}{'err':>5}{'req/s':>9}{'floor/s':>9}{'of floor':>9}{'x orig':>8}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'srv ms/req':>11}{'db ms/req':>10}"
    )
    lines = [head, "-" * len(head)]
    for name, f in result["scenarios"].items():
        sd, fl = f["skydriver"], f["floor"]
        ratio = f.get("baseline_ratio")
        fraction = f["fraction_of_floor"]
        lines.append(
            f"{name:<24}{sd['requests']:>6}{sd['errors']:>5}{sd['throughput_rps']:>9.1f}{fl['throughput_rps']:>9.1f}"
            f"{(f'{fraction:.0%}' if fraction is not None else '-'):>9}{(f'{ratio:.1f}' if ratio is not None else '-'):>8}"
            f"{sd['p50_ms']:>9.1f}{sd['p95_ms']:>9.1f}{sd['p99_ms']:>9.1f}{sd['server_cpu_ms_per_req']:>11.2f}"
            f"{sd['db_cpu_ms_per_req']:>10.2f}"
        )
    peak_server = max(m["server"]["VmHWM"] for m in result["memory"])
    peak_db = max(m["db"]["VmHWM"] for m in result["memory"])
    lines.append("")
    lines.append(f"peak memory (VmHWM): SkyDriver {peak_server / 1024:.0f} MB, database {peak_db / 1024:.0f} MB")
    if repeat := result["repeat"]:
        lines.append(
            f"SkyDriver RSS over a repeated pass of {repeat['requests']} requests: "
            f"{repeat['server_rss_before_kB'] / 1024:.0f} MB -> {repeat['server_rss_after_kB'] / 1024:.0f} MB"
        )
    if streams := result.get("streams"):
        beside = streams["get_manifest_beside_streams"]
        lines.append(
            f"{streams['streams']} open event streams: SkyDriver RSS {streams['server_rss_before_kB'] / 1024:.0f} -> "
            f"{streams['server_rss_with_streams_kB'] / 1024:.0f} MB ({streams['kB_per_stream']:.0f} kB each), "
            f"idle CPU {streams['server_cpu_idle_with_streams']:.1%}; GET manifest beside them "
            f"{beside['throughput_rps']:.1f} req/s vs {streams['get_manifest_alone']['throughput_rps']:.1f} alone, p99 {beside['p99_ms']:.0f} ms"
        )
    misses = result["misses"]
    lines.append("targets: all met" if not misses else "targets missed:\n  " + "\n  ".join(misses))
    return "\n".join(lines)
