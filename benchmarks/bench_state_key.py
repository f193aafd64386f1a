"""The state key's costs: keying the scans stored before it (once, after an upgrade) at 10k and 100k, and what raising
it adds to one lifecycle transition.

Run from the project root: python benchmarks/bench_state_key.py [--sizes 10000,100000] [--transitions 300]

Scans are stored as bench_scan_list.py stores them (copies of a POSTed and PATCHed scan's manifest, 10 failed, 10
stalled, the rest finished or scanning), without the key, as an earlier version stored them, with either 1 in 4
scanning (bench_scan_list's mix, at 10k: the worst case, as every running scan is keyed) or 100 scanning (a fleet's). Then
``key_earlier_scans`` runs through the driver against SkyDriver's embedded database, as the background task after
start-up does: once, and again (the marker's cost, which every later start pays). A transition's cost: ``mark_failed``'s
update, with the key's ``$max`` and index and without both (the version before), alternating blocks of 50 scans.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_scan_list import INSERT_BATCH, SPACING, stored_as, template_scan
from floor import Floor
from load import Connection
from payloads import bulk_manifests
from server_process import SkyDriverProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: this checkout's skydriver

from skydriver.database.state_key import FIELD, StateKey, key_earlier_scans, raise_to  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
KEY_INDEX = [(FIELD, 1), ("created", -1), ("scan_id", -1)]
BLOCK = 50


def state_of(n: int, size: int, running_every: int) -> str:
    """bench_scan_list's spread of states, with one scan in ``running_every`` scanning."""
    if n % (size // 10) == size // 20:
        return "FAILED"
    if n % (size // 10) == size // 30:
        return "STALLED"
    return "IN_PROGRESS" if n % running_every == 0 else "FINISHED"


async def fill_unkeyed(floor: Floor, template: dict, size: int, running_every: int, t: dt.datetime) -> None:
    await floor.db.manifests.delete_many({})
    await floor.db.migrations.delete_many({})
    for first in range(0, size, INSERT_BATCH):
        docs = bulk_manifests(template, first, min(INSERT_BATCH, size - first))
        created = [t - (size - 1 - n) * SPACING for n in range(first, first + len(docs))]
        states = [state_of(n, size, running_every) for n in range(first, first + len(docs))]
        await floor.insert_manifests([stored_as(d, s, c, t, keyed=False) for d, s, c in zip(docs, states, created, strict=True)])


async def keying(floor: Floor, template: dict, size: int, running_every: int) -> None:
    await fill_unkeyed(floor, template, size, running_every, dt.datetime.now(dt.UTC).replace(microsecond=0))
    began = time.perf_counter()
    keyed = await key_earlier_scans(floor.db)
    first = time.perf_counter() - began
    began = time.perf_counter()
    assert await key_earlier_scans(floor.db) is None
    again = (time.perf_counter() - began) * 1000
    print(f"| {size:,} | 1 in {running_every:,} | {keyed:,} | {first:.1f} s | {again:.1f} ms |", flush=True)


async def transitions(floor: Floor, size: int, count: int) -> None:
    """One mark_failed update of a scanning scan, with the key (index and $max) and without, alternating blocks. The
    selector is the scan_id alone, so the figure is the write's (the index maintenance)."""
    manifests = floor.db.manifests
    scan_ids = [f"{n:032x}" for n in range(size) if state_of(n, size, 4) == "IN_PROGRESS"][: 2 * count]
    failure = {"source": "scanner", "code": "EXIT_CODE_1", "message": "exited with 1", "exit_code": 1, "log_tail": None}
    timings: dict[bool, list[float]] = {True: [], False: []}
    for block in range(0, len(scan_ids), BLOCK):
        with_key = block // BLOCK % 2 == 0
        if with_key:
            await manifests.create_index(KEY_INDEX)
        else:
            await manifests.drop_index(KEY_INDEX)
        for scan_id in scan_ids[block : block + BLOCK]:
            t = dt.datetime.now(dt.UTC)
            fields = {"failure": {**failure, "at": t}, "launch.status": "failed", "launch.reason": "exited with 1", "teardown_at": t}
            update = {"$set": {**fields, "last_updated": t}, **(raise_to(StateKey.FAILED) if with_key else {})}
            began = time.perf_counter()
            assert (await manifests.update_one({"scan_id": scan_id}, update)).modified_count == 1
            timings[with_key].append((time.perf_counter() - began) * 1000)
    if not with_key:
        await manifests.create_index(KEY_INDEX)
    count_of = await manifests.count_documents({})
    print(f"\nmark_failed's update on {count_of:,} stored scans, p50 / mean ms over {len(timings[True])} each:")
    for with_key in (False, True):
        p50, mean = statistics.median(timings[with_key]), statistics.fmean(timings[with_key])
        print(f"- {'with' if with_key else 'without'} the key: {p50:.2f} / {mean:.2f}")


async def benchmark(sizes: list[int], count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="skydriver-bench-key-") as data_dir:
        server = SkyDriverProcess(Path(data_dir))
        pids = server.start()
        floor = Floor(pids.database_port)
        try:
            template = await template_scan(Connection(*server.address), floor)
            print("| scans stored | scanning | keyed | keying (once, in the background) | the check at a later start |")
            print("| ---: | ---: | ---: | ---: | ---: |")
            for size in sorted(sizes, reverse=True):  # the last one: 10k with 1 in 4 scanning, for the transitions
                await keying(floor, template, size, size // 100)
            await keying(floor, template, 10_000, 4)
            await transitions(floor, 10_000, count)
        finally:
            await floor.close()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="stored scans, comma-separated")
    parser.add_argument("--transitions", type=int, default=300, help="updates timed each way")
    args = parser.parse_args()
    os.chdir(PROJECT_ROOT)
    asyncio.run(benchmark([int(s) for s in args.sizes.split(",")], args.transitions))


if __name__ == "__main__":
    main()
