"""GET /scans/list at 10k and 100k stored scans: each filter's latency and the CPU it costs SkyDriver and the database.

Run from the project root: python benchmarks/bench_scan_list.py [--sizes 10000,100000] [--repeat 30]

SkyDriver runs as users run it (``python -m skydriver``, auth off, the embedded SecantusDB as its child, see
server_process.py). One scan is POSTed and PATCHed with a progress report; copies of its stored manifest are inserted
through the driver (payloads.bulk_manifests, as run.py's find_scans does), one scan every 30 s back from now, two per
event and 2,000 per run, 10 of priority 100 and the rest 0, in these states: 1 in 4 scanning (progress reported just
now), 10 failed, 10 stalled (no progress for two hours; STALL_AFTER is one hour here), the rest finished; each with the
state key this version stores (database/state_key.py; bench_state_key.py measures keying scans stored before it), the
running ones with their last report in the progress collection as this version stores it (watched).
SkyDriver is then restarted (timed) and each request is sent ``--repeat`` times, one at a time, after one warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from floor import Floor
from load import Connection
from payloads import bulk_manifests, lookup_key, progress_body, scan_body
from server_process import Processes, SkyDriverProcess, cpu_seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: this checkout's skydriver

from skydriver.database.progress import report_doc  # noqa: E402
from skydriver.database.records import ScanRecord  # noqa: E402
from skydriver.database.state_key import FIELD, state_key  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SPACING = dt.timedelta(seconds=30)
STALL_AFTER = dt.timedelta(hours=1)
RARE = 10  # failed scans, stalled ones, and urgent ones (priority 100), among all stored
URGENT = 100
INSERT_BATCH = 1000


def state_of(n: int, size: int) -> str:
    """The state scan number ``n`` of ``size`` is stored in: a few rare ones spread evenly, 1 in 4 scanning."""
    if n % (size // RARE) == size // (2 * RARE):
        return "FAILED"
    if n % (size // RARE) == size // (3 * RARE):
        return "STALLED"
    return "IN_PROGRESS" if n % 4 == 0 else "FINISHED"


def priority_of(n: int, size: int) -> int:
    """Scan number ``n``'s priority: RARE realtime alerts (100) spread evenly, the rest 0."""
    return URGENT if n % (size // RARE) == size // (5 * RARE) else 0


def stored_as(doc: dict[str, Any], state: str, created: dt.datetime, t: dt.datetime, keyed: bool = True) -> dict[str, Any]:
    """A copy of a scanning scan's manifest as SkyDriver stores one in ``state`` (``keyed``: this version; else one
    before the state key)."""
    doc = {**doc, "created": created, "launch": {**doc["launch"]}, "times": {**(doc.get("times") or {})}}
    if state in ("IN_PROGRESS", "STALLED"):  # (as a version before the progress collection stored it; fill adds that)
        doc["times"]["last_progress"] = last_report(state, t)
    elif state == "FAILED":
        doc["failure"] = {"source": "scanner", "code": "SCANNER_EXIT", "message": "the scanner exited with 1", "exit_code": 1,
                          "log_tail": None, "at": created + dt.timedelta(hours=1)}  # fmt: skip
        doc["launch"].update(status="failed", reason="the scanner exited with 1")
        doc.update(complete=True, teardown_at=None)
    else:
        doc["times"].update(final_result=created + dt.timedelta(hours=1), ended=created + dt.timedelta(hours=1))
        doc["launch"].update(status="stopped", reason="finished")
        doc.update(complete=True, teardown_at=None)
    doc.pop(FIELD, None)
    return {**doc, FIELD: int(state_key(ScanRecord.from_doc(doc)))} if keyed else doc


def last_report(state: str, t: dt.datetime) -> dt.datetime:
    """When a running scan last reported progress: just now, or long before STALL_AFTER."""
    return t if state == "IN_PROGRESS" else t - 2 * STALL_AFTER


@dataclasses.dataclass
class Row:
    name: str
    query: dict[str, Any]
    latencies_ms: list[float]
    returned: int
    more: bool
    server_cpu_ms: float
    db_cpu_ms: float

    def line(self) -> str:
        p50 = statistics.median(self.latencies_ms)
        p99 = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[98] if len(self.latencies_ms) > 1 else p50
        more = "+" if self.more else ""
        return f"| {self.name} | {p50:.0f} / {p99:.0f} | {self.server_cpu_ms:.0f} / {self.db_cpu_ms:.0f} | {self.returned}{more} |"


async def timed(connection: Connection, pids: Processes, name: str, query: dict[str, Any], repeat: int) -> Row:
    path = "/scans/list?" + urlencode(query, doseq=True)
    answer = json.loads(await connection.request("GET", path))  # warm-up
    server, db = cpu_seconds(pids.server), cpu_seconds(pids.database)
    latencies = []
    for _ in range(repeat):
        began = time.perf_counter()
        await connection.request("GET", path)
        latencies.append((time.perf_counter() - began) * 1000)
    server_ms = (cpu_seconds(pids.server) - server) * 1000 / repeat
    db_ms = (cpu_seconds(pids.database) - db) * 1000 / repeat
    return Row(name, query, latencies, len(answer["scans"]), answer["next_cursor"] is not None, server_ms, db_ms)


async def template_scan(connection: Connection, floor: Floor) -> dict[str, Any]:
    """A scan POSTed and PATCHed with a progress report, as SkyDriver stored it."""
    scan_id = json.loads(await connection.request("POST", "/scan", scan_body()))["scan_id"]
    await connection.request("PATCH", f"/scan/manifest/{scan_id}", progress_body(1))
    return await floor.manifest_template(scan_id)


def template_report() -> dict[str, Any]:
    """The progress report of the template scan (as PATCHed)."""
    return json.loads(progress_body(1))["progress"]


async def fill(floor: Floor, template: dict[str, Any], report: dict[str, Any], size: int, t: dt.datetime) -> None:
    """``size`` scans, the last one created at ``t`` and each earlier one SPACING before; the running ones with their
    last progress ``report`` in the progress collection, as this version stores it (watched)."""
    for first in range(0, size, INSERT_BATCH):
        docs = bulk_manifests(template, first, min(INSERT_BATCH, size - first))
        docs = [{**d, "request": {**d["request"], "priority": priority_of(n, size)}} for n, d in enumerate(docs, start=first)]
        numbered = enumerate(docs, start=first)
        await floor.insert_manifests([stored_as(d, state_of(n, size), t - (size - 1 - n) * SPACING, t) for n, d in numbered])
        running = [(d["scan_id"], state_of(n, size)) for n, d in enumerate(docs, start=first)]
        reports = [{"_id": i, **report_doc(report, last_report(s, t))} for i, s in running if s in ("IN_PROGRESS", "STALLED")]
        await floor.db.progress.insert_many(reports, ordered=False)


def requests(size: int, t: dt.datetime, cursor: str) -> list[tuple[str, dict[str, Any]]]:
    old_run, _ = lookup_key(size // 10)
    run, event = lookup_key(size // 3)
    return [
        ("first page, no filter", {}),
        ("next page (cursor)", {"cursor": cursor}),
        ("state=IN_PROGRESS (1 in 4)", {"state": "IN_PROGRESS"}),
        (f"state=FAILED ({RARE} stored)", {"state": "FAILED"}),
        (f"state=STALLED ({RARE}, time-derived)", {"state": "STALLED"}),
        (f"state=STALLED&state=FAILED ({2 * RARE})", {"state": ["STALLED", "FAILED"]}),
        ("is_terminal=false", {"is_terminal": "false"}),
        ("is_terminal=true", {"is_terminal": "true"}),
        ("state=ABORTED&include_deleted=true (none)", {"state": "ABORTED", "include_deleted": "true"}),
        ("priority=5 (none)", {"priority": 5}),
        ("priority=0 (all but 10)", {"priority": 0}),
        (f"priority={URGENT} ({RARE} stored)", {"priority": URGENT}),
        (f"priority={URGENT}&state=IN_PROGRESS", {"priority": URGENT, "state": "IN_PROGRESS"}),
        ("priority=0&state=FAILED", {"priority": 0, "state": "FAILED"}),
        ("priority=0&created_after= the last 10 minutes",
         {"priority": 0, "created_after": (t - dt.timedelta(minutes=10)).isoformat()}),
        ("run_id= (an old run, 2,000 scans)", {"run_id": old_run}),
        ("run_id=&event_id= (2 scans)", {"run_id": run, "event_id": event}),
        ("created_after= the last 10 minutes", {"created_after": (t - dt.timedelta(minutes=10)).isoformat()}),
    ]


async def benchmark(sizes: list[int], repeat: int) -> None:
    os.environ["STALL_AFTER"] = str(int(STALL_AFTER.total_seconds()))
    with tempfile.TemporaryDirectory(prefix="skydriver-bench-list-") as data_dir:
        server = SkyDriverProcess(Path(data_dir))
        pids = server.start()
        floor = Floor(pids.database_port)
        try:
            template = await template_scan(Connection(*server.address), floor)
            await floor.db.manifests.delete_many({})
            await floor.db.progress.delete_many({})
            t = dt.datetime.now(dt.UTC).replace(microsecond=0)
            for size in sizes:
                began = time.perf_counter()
                await floor.db.manifests.delete_many({})  # the states' spread depends on the size: refill
                await floor.db.progress.delete_many({})
                await fill(floor, template, template_report(), size, t)
                print(f"{size} scans inserted in {time.perf_counter() - began:.1f} s", flush=True)
                await floor.close()
                server.stop()
                began = time.perf_counter()
                pids = server.start()
                print(f"SkyDriver restarted in {time.perf_counter() - began:.1f} s", flush=True)
                floor = Floor(pids.database_port)
                connection = Connection(*server.address)
                first = json.loads(await connection.request("GET", "/scans/list"))
                rows = [await timed(connection, pids, name, query, repeat) for name, query in requests(size, t, first["next_cursor"])]
                await connection.close()
                print(f"\n{size} scans stored; {repeat} requests each, one at a time (limit 100)\n")
                print("| request | p50 / p99 ms | CPU ms per request, SkyDriver / database | scans returned (+: a next page) |")
                print("| --- | ---: | ---: | ---: |")
                for row in rows:
                    print(row.line(), flush=True)
                print()
        finally:
            await floor.close()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="stored scans, comma-separated")
    parser.add_argument("--repeat", type=int, default=30, help="requests per row (after one warm-up)")
    args = parser.parse_args()
    os.chdir(PROJECT_ROOT)  # `python -m skydriver` must find this checkout's package
    asyncio.run(benchmark([int(s) for s in args.sizes.split(",")], args.repeat))


if __name__ == "__main__":
    main()
