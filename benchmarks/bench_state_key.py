"""The state key's costs: keying the scans stored before it (once, after an upgrade) at 10k and 100k, and what raising
it adds to one lifecycle transition.

Run from the project root: python benchmarks/bench_state_key.py [--sizes 10000,100000] [--transitions 300]

Scans are stored as bench_scan_list.py stores them (copies of a POSTed and PATCHed scan's manifest, 10 failed, 10
stalled, the rest finished or scanning), without the key, as an earlier version stored them, with either 1 in 4
scanning (bench_scan_list's mix, at 10k: the worst case, as every running scan is keyed) or 100 scanning (a fleet's). Then
``key_earlier_scans`` runs through the driver against SkyDriver's embedded database, as the background task after
start-up does: once, and again (the marker's cost, which every later start pays). A transition's cost: ``mark_failed``'s
update, with the key's ``$max`` and index and without both (the version before), then with the priority index
(GET /scans/list's priority=) and without, alternating blocks of 50 scans; then what the watch on running scans' silence
(progress.py) costs a progress report's write and an ending transition.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bench_scan_list import INSERT_BATCH, SPACING, stored_as, template_scan
from floor import Floor
from load import Connection
from payloads import bulk_manifests, progress_body
from pymongo.asynchronous.collection import AsyncCollection
from server_process import SkyDriverProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: this checkout's skydriver

from skydriver.database.connection import PRIORITY_INDEX  # noqa: E402
from skydriver.database.progress import WATCH, ProgressStore, report_doc  # noqa: E402
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


async def with_and_without(
    collection: AsyncCollection, index: list[tuple[str, int]], scan_ids: list[str]
) -> AsyncIterator[tuple[bool, str]]:
    """Each scan_id, and whether ``index`` exists as it is written: in alternating blocks of BLOCK with and without it
    (so that drift on a shared machine falls on both alike); the index exists again at the end."""
    with_index = True
    for block in range(0, len(scan_ids), BLOCK):
        with_index = block // BLOCK % 2 == 0
        if with_index:
            await collection.create_index(index)
        else:
            await collection.drop_index(index)
        for scan_id in scan_ids[block : block + BLOCK]:
            yield with_index, scan_id
    if not with_index:
        await collection.create_index(index)


async def transitions(floor: Floor, scan_ids: list[str], index: list[tuple[str, int]], what: str, key: bool) -> None:
    """One mark_failed update of a scanning scan each, with ``index`` (and the key's ``$max`` when ``key``) and without,
    alternating blocks. The selector is the scan_id alone, so the figure is the write's (the index maintenance)."""
    manifests = floor.db.manifests
    failure = {"source": "scanner", "code": "EXIT_CODE_1", "message": "exited with 1", "exit_code": 1, "log_tail": None}
    timings: dict[bool, list[float]] = {True: [], False: []}
    async for with_index, scan_id in with_and_without(manifests, index, scan_ids):
        t = dt.datetime.now(dt.UTC)
        fields = {"failure": {**failure, "at": t}, "launch.status": "failed", "launch.reason": "exited with 1", "teardown_at": t}
        update = {"$set": {**fields, "last_updated": t}, **(raise_to(StateKey.FAILED) if with_index or not key else {})}
        began = time.perf_counter()
        assert (await manifests.update_one({"scan_id": scan_id}, update)).modified_count == 1
        timings[with_index].append((time.perf_counter() - began) * 1000)
    count_of = await manifests.count_documents({})
    print(f"\nmark_failed's update on {count_of:,} stored scans, p50 / mean ms over {len(timings[True])} each:")
    for with_index in (False, True):
        p50, mean = statistics.median(timings[with_index]), statistics.fmean(timings[with_index])
        print(f"- {'with' if with_index else 'without'} {what}: {p50:.2f} / {mean:.2f}")


async def progress_writes(floor: Floor, scan_ids: list[str]) -> None:
    """The watch's costs on the progress collection (as many documents as running scans): a progress report's
    replace with the watch and its index and without both (the version before), alternating blocks; and the write
    that unwatches a scan as it ends."""
    progress = floor.db.progress
    report = json.loads(progress_body(1))["progress"]
    t = dt.datetime.now(dt.UTC)
    await progress.insert_many([{"_id": scan_id, **report_doc(report, t)} for scan_id in scan_ids], ordered=False)
    timings: dict[bool, list[float]] = {True: [], False: []}
    async for watched, scan_id in with_and_without(progress, [(WATCH, 1)], scan_ids):
        doc = report_doc(report, dt.datetime.now(dt.UTC))
        if not watched:
            doc.pop(WATCH)
        began = time.perf_counter()
        await progress.replace_one({"_id": scan_id}, doc, upsert=True)
        timings[watched].append((time.perf_counter() - began) * 1000)
    print(f"\na progress report's write on {len(scan_ids):,} progress documents, p50 / mean ms over {len(timings[True])} each:")
    for watched in (False, True):
        p50, mean = statistics.median(timings[watched]), statistics.fmean(timings[watched])
        print(f"- {'with' if watched else 'without'} the watch and its index: {p50:.2f} / {mean:.2f}")
    unwatch = []
    for scan_id in scan_ids:
        began = time.perf_counter()
        await ProgressStore(progress).unwatch(scan_id)
        unwatch.append((time.perf_counter() - began) * 1000)
    print(f"- unwatching a scan as it ends (one more write per ending transition): {statistics.median(unwatch):.2f} / "
          f"{statistics.fmean(unwatch):.2f}")  # fmt: skip


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
            running = [f"{n:032x}" for n in range(10_000) if state_of(n, 10_000, 4) == "IN_PROGRESS"]
            await transitions(floor, running[: 2 * count], KEY_INDEX, "the key", key=True)
            await transitions(floor, running[2 * count : 4 * count], PRIORITY_INDEX, "the priority index", key=False)
            await progress_writes(floor, running)
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
