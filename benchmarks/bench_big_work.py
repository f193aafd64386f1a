"""Big work beside small requests, and nside-2048 results end to end: ``python benchmarks/bench_big_work.py``.

1. A small GET (a manifest without its event) timed alone, then while 6 PUTs of a 16 MB result and 8 sky-map
   renders of 600k-pixel results run at once: does big work keep the event loop from answering?
2. Results of 100k and 1M pixels at nside 2048 (the production result's coarse levels plus a disc of fine pixels
   around its best fit, ``payloads.disc_result``): PUT, GET, summary and PNG timed one at a time, with the peak
   resident memory of SkyDriver and of its worker processes during each.

SkyDriver runs as ``benchmarks/run.py`` starts it (``python -m skydriver``, auth off, embedded database), with
``SKYDRIVER_LARGE_UPLOADS_PER_ROLE=8`` so that the six big PUTs are not refused for taking too many upload slots; a
new one for each part, so that memory figures start from a fresh process. ``--profile DIR`` runs SkyDriver under
cProfile and writes DIR/<part>.prof when it stops (the worker processes are not profiled).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import Connection, HttpError  # noqa: E402
from payloads import disc_result, result_body, scan_body  # noqa: E402
from server_process import SkyDriverProcess, _children, _cmdline, memory_kb  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SCAN_ID = re.compile(rb'"scan_id":"([0-9a-f]{32})"')
BIG_PUT_PIXELS = 400_000  # ~16 MB at nside 2048 (values to 3 decimals)
RENDER_PIXELS = 600_000  # ~24 MB
GOALS = {"small GET p99 under load": "< 100 ms", "PUT": "<= 3 s", "summary": "<= 2 s", "PNG": "<= 5 s",
         "SkyDriver peak RSS": "<= 400 MB", "GET RSS growth": "< 2x the body"}  # fmt: skip


def log(message: str) -> None:
    print(message, flush=True)


def percentile(values: list[float], p: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(p) - 1]


class Memory:
    """Peak resident memory of SkyDriver and of its worker processes (its children other than the database)."""

    def __init__(self, server: int, database: int):
        self.server, self.database = server, database

    def workers(self) -> list[int]:
        return [pid for pid in _children(self.server) if pid != self.database and "python" in _cmdline(pid)[0]]

    def reset(self) -> None:
        """Start a new peak: writing 5 to clear_refs resets VmHWM to the current RSS (Linux, as root or owner)."""
        for pid in (self.server, *self.workers()):
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peaks_mb(self) -> tuple[float, float]:
        """(SkyDriver's peak, the largest worker's peak) since the last reset, MB."""
        workers = [memory_kb(pid).get("VmHWM", 0) for pid in self.workers()]
        return memory_kb(self.server)["VmHWM"] / 1024, max(workers, default=0) / 1024

    def rss_mb(self) -> float:
        return memory_kb(self.server)["VmRSS"] / 1024

    def cpu_seconds(self) -> tuple[float, float, float]:
        """(SkyDriver's, its workers' together, the database's) CPU time so far: unlike wall time, what a step costs whatever else
        shares the machine (workers run at nice 10, so on a busy machine their wall time stretches most)."""
        def of(pid: int) -> float:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return 0.0
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        return of(self.server), sum(map(of, self.workers())), of(self.database)


async def request(conn: Connection, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """(status, body); a 503 (queue full) is an answer here, not a failure."""
    try:
        return 200, await conn.request(method, path, body)
    except HttpError as exc:
        status = int(str(exc).split(": ", 1)[1].split(" ", 1)[0])
        if status != 503:
            raise
        return 503, b""


async def timed(call: Awaitable[Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = await call
    return time.perf_counter() - began, value


class Bench:
    def __init__(self, server: SkyDriverProcess, memory: Memory, quick: bool, rows: list[tuple[str, str, str]]):
        self.host, self.port = server.address
        self.server = server
        self.memory = memory
        self.quick = quick
        self.rows = rows

    def connection(self) -> Connection:
        return Connection(self.host, self.port)

    async def new_scans(self, count: int) -> list[str]:
        conn, body, ids = self.connection(), scan_body(), []
        for _ in range(count):
            match = SCAN_ID.search(await conn.request("POST", "/scan", body), 0, 200)
            assert match
            ids.append(match.group(1).decode())
        await conn.close()
        return ids

    async def small_gets(self, scan_id: str, stop: asyncio.Event | None, count: int) -> list[float]:
        """Sequential small GETs: ``count`` of them, or until ``stop`` is set."""
        conn, latencies = self.connection(), []
        path = f"/scan/manifest/{scan_id}?include_event=false"
        while (stop is None and len(latencies) < count) or (stop is not None and not stop.is_set()):
            seconds, _ = await timed(conn.request("GET", path))
            latencies.append(seconds * 1000)
            await asyncio.sleep(0.005)  # a poller, not a flood
        await conn.close()
        return latencies

    async def under_load(self) -> None:
        ids = await self.new_scans(1 + 6 + 4)
        probe, put_ids, render_ids = ids[0], ids[1:7], ids[7:]
        alone = await self.small_gets(probe, None, 100 if self.quick else 300)
        log(f"small GET alone: p50 {percentile(alone, 50):.1f} ms, p99 {percentile(alone, 99):.1f} ms ({len(alone)} requests)")
        log("building payloads...")
        put_body = result_body(disc_result(BIG_PUT_PIXELS).decode())
        render_body = result_body(disc_result(RENDER_PIXELS).decode())
        conn = self.connection()
        for scan_id in render_ids:  # stored before the load: the renders read them
            await conn.request("PUT", f"/scan/result/{scan_id}", render_body)
        await conn.close()
        renders = [f"/scan/{scan_id}/skymap.png?zoom={zoom}" for scan_id in render_ids for zoom in ("false", "true")]
        log(f"load: 6 x PUT of {len(put_body) / 1e6:.1f} MB and {len(renders)} distinct PNG renders of "
            f"{len(render_body) / 1e6:.1f} MB results, at once")  # fmt: skip
        statuses: dict[str, list[int]] = {"PUT": [], "PNG": []}
        seconds: dict[str, list[float]] = {"PUT": [], "PNG": []}

        async def one(kind: str, method: str, path: str, body: bytes = b"") -> None:
            conn = self.connection()
            took, (status, _) = await timed(request(conn, method, path, body))
            await conn.close()
            statuses[kind].append(status)
            seconds[kind].append(took)

        stop = asyncio.Event()
        self.memory.reset()
        probing = asyncio.create_task(self.small_gets(probe, stop, 0))
        began = time.perf_counter()
        await asyncio.gather(*(one("PUT", "PUT", f"/scan/result/{scan_id}", put_body) for scan_id in put_ids),
                             *(one("PNG", "GET", path) for path in renders))  # fmt: skip
        load_seconds = time.perf_counter() - began
        stop.set()
        loaded = await probing
        server_peak, worker_peak = self.memory.peaks_mb()
        log(f"small GET under load: p50 {percentile(loaded, 50):.1f} ms, p99 {percentile(loaded, 99):.1f} ms, "
            f"max {max(loaded):.1f} ms ({len(loaded)} requests over {load_seconds:.1f} s)")
        for kind in statuses:
            refused = statuses[kind].count(503)
            log(f"  {kind}: {len(statuses[kind]) - refused} answered 200, {refused} refused 503; "
                f"slowest {max(seconds[kind]):.1f} s")
        log(f"  peak RSS: SkyDriver {server_peak:.0f} MB, largest worker {worker_peak:.0f} MB")
        self.rows += [
            ("small GET alone p50 / p99", f"{percentile(alone, 50):.1f} / {percentile(alone, 99):.1f} ms", ""),
            ("small GET under load p50 / p99 / max",
             f"{percentile(loaded, 50):.1f} / {percentile(loaded, 99):.1f} / {max(loaded):.1f} ms", GOALS["small GET p99 under load"]),
            ("  6 PUTs 16 MB + 8 PNG renders", f"{load_seconds:.1f} s; 503s: PUT {statuses['PUT'].count(503)}, "
             f"PNG {statuses['PNG'].count(503)}", ""),
            ("  peak RSS under load: SkyDriver / largest worker", f"{server_peak:.0f} / {worker_peak:.0f} MB", ""),
        ]  # fmt: skip
        same = await self.same_map_at_once(render_body)
        self.rows.append(("8 GETs of one map at once (one render)", f"{same:.1f} s", ""))

    async def same_map_at_once(self, body: bytes) -> float:
        """Eight clients ask for the same map of a new result at once."""
        (scan_id,) = await self.new_scans(1)
        conn = self.connection()
        await conn.request("PUT", f"/scan/result/{scan_id}", body)
        await conn.close()
        path = f"/scan/{scan_id}/skymap.png"

        async def one() -> None:
            conn = self.connection()
            await conn.request("GET", path)
            await conn.close()

        took, _ = await timed(asyncio.gather(*(one() for _ in range(8))))
        log(f"8 GETs of one not-yet-rendered map at once: {took:.1f} s")
        return took

    async def end_to_end(self, fine_pixels: int) -> None:
        body = result_body(disc_result(fine_pixels).decode())
        warm_body = result_body(disc_result(30_000).decode())  # over 1 MiB: parsed by a worker process
        scan_id, warm_id = await self.new_scans(2)
        label = f"{fine_pixels // 1000}k px nside 2048 ({len(body) / 1e6:.0f} MB)"
        log(f"{label}:")
        conn = self.connection()
        steps: list[tuple[str, str, str, str]] = [
            ("PUT", "PUT", f"/scan/result/{scan_id}", GOALS["PUT"]),
            ("GET", "GET", f"/scan/result/{scan_id}", ""),
            ("summary", "GET", f"/scan/{scan_id}/result/summary", GOALS["summary"]),
            ("PNG", "GET", f"/scan/{scan_id}/skymap.png", GOALS["PNG"]),
            ("PNG again (cached)", "GET", f"/scan/{scan_id}/skymap.png", ""),
        ]
        for name, path in (("first large PUT (starts the body workers)", f"/scan/result/{warm_id}"),
                           ("first summary (starts the render workers)", f"/scan/{warm_id}/result/summary")):
            took, _ = await timed(conn.request("PUT" if "PUT" in name else "GET", path, warm_body if "PUT" in name else b""))
            log(f"  {name}: {took:.2f} s")
            self.rows.append((f"{label} {name}", f"{took:.2f} s", ""))
        for name, method, path, goal in steps:
            await asyncio.sleep(1)  # let the previous step's memory be given back
            before = self.memory.rss_mb()
            self.memory.reset()
            cpu_before = self.memory.cpu_seconds()
            took, response = await timed(conn.request(method, path, body if method == "PUT" else b""))
            server_cpu, worker_cpu, database_cpu = (now - then for now, then in zip(self.memory.cpu_seconds(), cpu_before, strict=True))
            server_peak, worker_peak = self.memory.peaks_mb()
            growth = f", RSS +{server_peak - before:.0f} MB ({(server_peak - before) * 2**20 / len(body):.2f}x the body)" \
                if name == "GET" else ""  # fmt: skip
            cpu = f"CPU {server_cpu:.2f} + {worker_cpu:.2f} + {database_cpu:.2f} s"
            log(f"  {name}: {took:.2f} s ({cpu} in SkyDriver + workers + database); peak RSS SkyDriver {server_peak:.0f} MB, "
                f"largest worker {worker_peak:.0f} MB{growth}")
            if name == "GET":
                assert orjson.loads(response)["skyscan_result"] == orjson.loads(body)["skyscan_result"], "came back whole"
            self.rows.append((f"{label} {name}", f"{took:.2f} s ({cpu}); peak RSS {server_peak:.0f} / {worker_peak:.0f} MB{growth}", goal))
        await conn.close()
        await self.get_after_restart(label, scan_id, body)

    async def get_after_restart(self, label: str, scan_id: str, body: bytes) -> None:
        """The GET again from a SkyDriver just restarted on the same database: its RSS growth is then the GET's own,
        not hidden by heap that earlier steps freed and the allocator kept (the GET above may grow by 0 MB)."""
        self.server.stop()
        pids = self.server.start()
        self.memory = Memory(pids.server, pids.database)
        conn = self.connection()
        await conn.request("GET", "/scans?run_id=0&event_id=0&is_real_event=true")  # the connection's first request
        await asyncio.sleep(1)
        before = self.memory.rss_mb()
        self.memory.reset()
        took, response = await timed(conn.request("GET", f"/scan/result/{scan_id}"))
        server_peak, _ = self.memory.peaks_mb()
        await conn.close()
        assert orjson.loads(response)["skyscan_result"] == orjson.loads(body)["skyscan_result"], "came back whole"
        growth = f"RSS +{server_peak - before:.0f} MB ({(server_peak - before) * 2**20 / len(body):.2f}x the body)"
        log(f"  GET after a restart: {took:.2f} s; {growth}")
        self.rows.append((f"{label} GET after a restart", f"{took:.2f} s; {growth}", GOALS["GET RSS growth"]))

def table(rows: list[tuple[str, str, str]]) -> str:
    width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    lines = [f"{'what':<{width}}  {'measured':<{value_width}}  goal", "-" * (width + value_width + 14)]
    lines += [f"{what:<{width}}  {value:<{value_width}}  {goal}" for what, value, goal in rows]
    lines.append("(CPU: SkyDriver's process + its worker processes + the database during the step; peak RSS: SkyDriver's process / its "
                 "largest worker process)")
    return "\n".join(lines)


@contextlib.contextmanager
def running(profile: Path | None, name: str) -> Iterator[tuple[SkyDriverProcess, Memory]]:
    """A fresh SkyDriver (so that each part's memory figures start from a new process)."""
    with tempfile.TemporaryDirectory(prefix="skydriver-bench-big-") as data_dir:
        python_args = ("-m", "cProfile", "-o", str(profile / f"{name}.prof")) if profile else ()
        server = SkyDriverProcess(Path(data_dir), python_args=python_args, env={"SKYDRIVER_LARGE_UPLOADS_PER_ROLE": "8"})
        pids = server.start()
        log(f"SkyDriver pid {pids.server} on port {server.port}, RSS {memory_kb(pids.server)['VmRSS'] // 1024} MB")
        try:
            yield server, Memory(pids.server, pids.database)
        finally:
            server.stop()


async def main(quick: bool, profile: Path | None, load: bool, sizes: list[int] | None) -> None:
    rows: list[tuple[str, str, str]] = []
    if load:
        with running(profile, "under_load") as (server, memory):
            await Bench(server, memory, quick, rows).under_load()
    for pixels in sizes or ((100_000,) if quick else (100_000, 1_000_000)):
        with running(profile, f"end_to_end_{pixels}") as (server, memory):
            await Bench(server, memory, quick, rows).end_to_end(pixels)
    print()
    print(table(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer small GETs alone, and the 100k-pixel result only")
    parser.add_argument("--no-load", action="store_true", help="skip the small GETs under load (part 1)")
    parser.add_argument("--profile", type=Path, help="run SkyDriver under cProfile; the profile goes to this directory")
    parser.add_argument("--pixels", type=int, action="append",
                        help="part 2 with this many nside-2048 pixels only (repeatable; e.g. --no-load --pixels 1000000)")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    os.chdir(PROJECT_ROOT)  # `python -m skydriver` must find the package, as run.py does
    asyncio.run(main(args.quick, args.profile, not args.no_load, args.pixels))
