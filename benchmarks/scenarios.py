"""The benchmark's scenarios: each one timed over HTTP against SkyDriver, then as its floor through the driver.

Server and database CPU come from /proc deltas around each phase, so per-request costs include everything the
processes did (logging, the event loop, the database's own work), not just the handler.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from floor import Floor
from load import HttpPool, LoadResult, Operation, run_load
from payloads import bulk_manifests, lookup_key, progress_body, result_body, result_text, scan_body, synthetic_result
from server_process import Processes, cpu_seconds, memory_kb

SCAN_ID = re.compile(rb'"scan_id":"([0-9a-f]{32})"')
INSERT_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class Counts:
    """How much load each scenario gets (full run, --quick, --smoke)."""

    post: int
    patch: int
    put: int
    get_manifest: int
    get_result: int
    find: int
    find_sizes: tuple[int, ...]
    growth: tuple[tuple[int, int], ...]  # (pixels, requests)
    manifest_scans: int = 200
    patch_scans: int = 20
    result_scans: int = 40
    streams: int = 200
    settle_window: float = 0.5  # seconds of database CPU sampled to tell it is idle before a phase
    stream_waits: tuple[float, float] = (3.0, 5.0)  # seconds with the streams open, then of idle CPU measured


FULL = Counts(400, 2000, 400, 1000, 400, 1000, (1_000, 10_000, 100_000), ((1_000, 100), (10_000, 40), (100_000, 8)))
QUICK = Counts(200, 400, 80, 200, 100, 200, (1_000, 10_000), ((1_000, 10), (10_000, 6), (100_000, 3)))
SMOKE = Counts(
    6, 20, 8, 10, 8, 10, (50, 100), ((100, 2), (1_000, 2)), manifest_scans=6, patch_scans=4, result_scans=4, streams=5,
    settle_window=0.1, stream_waits=(0.3, 0.5),
)  # fmt: skip


def phase_stats(load: LoadResult, cpu: dict[str, float]) -> dict[str, Any]:
    done = max(load.requests, 1)
    return {
        "requests": load.requests,
        "errors": load.errors,
        "first_error": load.first_error,
        "seconds": round(load.seconds, 3),
        "throughput_rps": round(load.throughput, 2),
        "p50_ms": round(load.percentile(50), 2),
        "p95_ms": round(load.percentile(95), 2),
        "p99_ms": round(load.percentile(99), 2),
        **{f"{who}_cpu_ms_per_req": round(seconds * 1000 / done, 2) for who, seconds in cpu.items()},
    }


# after post_scan, in order; find_scans last: its bulk insert leaves the database busier for everything after it
SCENARIOS = ("patch_progress", "put_result", "get_manifest", "get_result", "result_growth", "repeat_for_memory", "event_streams", "find_scans")


class Suite:
    """Runs the scenarios in order against one SkyDriver; later scenarios use the scans earlier ones created."""

    def __init__(self, address: tuple[str, int], pids: Processes, counts: Counts, log: Callable[[str], None]):
        self.host, self.port = address
        self.pids = pids
        self.counts = counts
        self.log = log
        self.floor = Floor(pids.database_port)
        self.scan_ids: list[str] = []
        self.scenarios: dict[str, dict[str, Any]] = {}
        self.memory: list[dict[str, Any]] = []
        self.repeat: dict[str, int] = {}
        self.streams: dict[str, Any] = {}

    def _cpu(self) -> dict[str, float]:
        return {"server": cpu_seconds(self.pids.server), "db": cpu_seconds(self.pids.database), "client": time.process_time()}

    def _sample_memory(self, after: str) -> None:
        server, db = memory_kb(self.pids.server), memory_kb(self.pids.database)
        self.memory.append({"after": after, "server": server, "db": db})

    async def _settle(self, idle_fraction: float = 0.05, limit: float = 60.0) -> None:
        """Wait until the database has finished the background work earlier writes leave (checkpoints, eviction)."""
        deadline = time.monotonic() + limit
        window = self.counts.settle_window
        while time.monotonic() < deadline:
            before = cpu_seconds(self.pids.database)
            await asyncio.sleep(window)
            if cpu_seconds(self.pids.database) - before < window * idle_fraction:
                return

    async def _timed(self, operation: Operation, count: int, concurrency: int) -> dict[str, Any]:
        # SkyDriver and its floor each start on an idle database: neither pays for the other's leftover writes
        await self._settle()
        await run_load(operation, min(concurrency, count), concurrency)  # warm-up: connections, caches
        before = self._cpu()
        load = await run_load(operation, count, concurrency)
        after = self._cpu()
        return phase_stats(load, {k: after[k] - before[k] for k in before})

    async def _scenario(
        self, name: str, how: str, count: int, concurrency: int, http: Operation, floor: Operation, **extra: Any
    ) -> None:
        self.log(f"{name}: {how}")
        pool = HttpPool(self.host, self.port, concurrency)
        try:
            skydriver = await self._timed(lambda w, n: http(pool[w], n), count, concurrency)
        finally:
            await pool.close()
        floor_stats = await self._timed(floor, count, concurrency)
        fraction = skydriver["throughput_rps"] / floor_stats["throughput_rps"] if floor_stats["throughput_rps"] else None
        self.scenarios[name] = {
            "how": how,
            "concurrency": concurrency,
            "skydriver": skydriver,
            "floor": floor_stats,
            "fraction_of_floor": round(fraction, 3) if fraction is not None else None,
            **extra,
        }
        self._sample_memory(name)
        self.log(
            f"  {skydriver['throughput_rps']:.1f} req/s (floor {floor_stats['throughput_rps']:.1f}), "
            f"p50 {skydriver['p50_ms']:.1f} ms, p99 {skydriver['p99_ms']:.1f} ms, errors {skydriver['errors']}"
        )

    async def run(self, only: set[str] | None = None) -> None:
        """Every scenario in order, or post_scan (which makes the scans the others use) and those in ``only``."""
        self._sample_memory("start")
        await self.post_scan()
        for name in SCENARIOS:
            if only is None or name in only:
                await getattr(self, name)()
        await self.floor.close()

    async def post_scan(self) -> None:
        body = scan_body()
        c = self.counts
        need = max(c.manifest_scans, c.patch_scans, c.result_scans)

        async def http(conn: Any, n: int) -> None:
            # as an alert pipeline sends it: with an Idempotency-Key, so that a retry never makes a second scan
            response = await conn.request("POST", "/scan", body, f"Idempotency-Key: {uuid.uuid4().hex}\r\n")
            match = SCAN_ID.search(response, 0, 200)
            assert match, response[:200]
            if len(self.scan_ids) < need:
                self.scan_ids.append(match.group(1).decode())

        template: dict[str, Any] = {}

        async def floor(w: int, n: int) -> None:
            if not template:
                template.update(await self.floor.manifest_template(self.scan_ids[0]))
            await self.floor.post_scan(body, template)

        await self._scenario(
            "post_scan", f"POST /scan with an Idempotency-Key, {len(body) // 1000} kB event, concurrency 4", max(c.post, need), 4, http, floor
        )

    async def patch_progress(self) -> None:
        ids = self.scan_ids[: self.counts.patch_scans]
        bodies = [progress_body(n) for n in range(50)]

        async def http(conn: Any, n: int) -> None:
            await conn.request("PATCH", f"/scan/manifest/{ids[n % len(ids)]}", bodies[n % len(bodies)])

        async def floor(w: int, n: int) -> None:
            await self.floor.patch_progress(ids[n % len(ids)], bodies[n % len(bodies)])

        how = f"PATCH /scan/manifest/ID progress + event_metadata ({len(bodies[0])} B), {len(ids)} scans, concurrency 20"
        await self._scenario("patch_progress", how, self.counts.patch, 20, http, floor)

    async def put_result(self) -> None:
        ids = self.scan_ids[: self.counts.result_scans]
        body = result_body(result_text())

        async def http(conn: Any, n: int) -> None:
            await conn.request("PUT", f"/scan/result/{ids[n % len(ids)]}", body)

        async def floor(w: int, n: int) -> None:
            await self.floor.put_result(ids[n % len(ids)], body)

        how = f"PUT /scan/result/ID production result ({len(body) // 1000} kB, 3,590 pixels), is_final false, concurrency 8"
        await self._scenario("put_result", how, self.counts.put, 8, http, floor)

    async def get_manifest(self) -> None:
        ids = self.scan_ids[: self.counts.manifest_scans]

        async def http(conn: Any, n: int) -> None:
            await conn.request("GET", f"/scan/manifest/{ids[n % len(ids)]}")

        async def floor(w: int, n: int) -> None:
            await self.floor.get_manifest(ids[n % len(ids)])

        how = f"GET /scan/manifest/ID (with the 480 kB event), {len(ids)} scans, concurrency 20"
        await self._scenario("get_manifest", how, self.counts.get_manifest, 20, http, floor)

    async def get_result(self) -> None:
        ids = self.scan_ids[: self.counts.result_scans]

        async def http(conn: Any, n: int) -> None:
            await conn.request("GET", f"/scan/result/{ids[n % len(ids)]}")

        async def floor(w: int, n: int) -> None:
            await self.floor.get_result(ids[n % len(ids)])

        how = f"GET /scan/result/ID (244 kB), {len(ids)} scans, concurrency 8"
        await self._scenario("get_result", how, self.counts.get_result, 8, http, floor)

    async def find_scans(self) -> None:
        """Grow the manifests collection to each size by inserting copies directly, then look scans up by run/event."""
        template = await self.floor.manifest_template(self.scan_ids[0])
        inserted = 0
        for size in self.counts.find_sizes:
            missing = size - await self.floor.manifest_count()
            began = time.perf_counter()
            while missing > 0:
                batch = min(INSERT_BATCH, missing)
                await self.floor.insert_manifests(bulk_manifests(template, inserted, batch))
                inserted += batch
                missing -= batch
            insert_seconds = time.perf_counter() - began
            await self._settle()
            self.log(f"find_scans: {size} scans stored ({insert_seconds:.1f} s to insert the bulk)")
            picks = [random.Random(size * 31 + n).randrange(inserted) for n in range(4096)]

            async def http(conn: Any, n: int, picks: list[int] = picks) -> None:
                run_id, event_id = lookup_key(picks[n % len(picks)])
                await conn.request("GET", f"/scans?run_id={run_id}&event_id={event_id}&is_real_event=true")

            async def floor(w: int, n: int, picks: list[int] = picks) -> None:
                await self.floor.find_scans(picks[n % len(picks)])

            how = f"GET /scans?run_id=&event_id=&is_real_event= with {size} scans stored, concurrency 8"
            await self._scenario(
                f"find_scans_{size}", how, self.counts.find, 8, http, floor, scans_stored=size,
                bulk_insert_seconds=round(insert_seconds, 2),
            )  # fmt: skip

    async def result_growth(self) -> None:
        """PUT cost against result size: one request at a time, so latency and CPU per request are clean."""
        ids = self.scan_ids[: self.counts.result_scans]
        for pixels, count in self.counts.growth:
            body = result_body(synthetic_result(pixels))

            async def http(conn: Any, n: int, body: bytes = body) -> None:
                await conn.request("PUT", f"/scan/result/{ids[n % len(ids)]}", body)

            async def floor(w: int, n: int, body: bytes = body) -> None:
                await self.floor.put_result(ids[n % len(ids)], body)

            how = f"PUT /scan/result/ID synthetic {pixels} pixels ({len(body) // 1000} kB), concurrency 1"
            await self._scenario(f"put_result_{pixels}px", how, count, 1, http, floor, pixels=pixels, body_bytes=len(body))

    async def repeat_for_memory(self) -> None:
        """The request mix again over HTTP only: the server's resident memory must not keep growing."""
        self.log("memory: repeating patch, put, get manifest and get result")
        before = memory_kb(self.pids.server)["VmRSS"]
        result = result_body(result_text())
        progress = progress_body(0)
        ids = self.scan_ids[: self.counts.result_scans]
        pool = HttpPool(self.host, self.port, 8)
        mix: list[Callable[[Any, int], Awaitable[bytes]]] = [
            lambda conn, n: conn.request("PATCH", f"/scan/manifest/{ids[n % len(ids)]}", progress),
            lambda conn, n: conn.request("PUT", f"/scan/result/{ids[n % len(ids)]}", result),
            lambda conn, n: conn.request("GET", f"/scan/manifest/{ids[n % len(ids)]}"),
            lambda conn, n: conn.request("GET", f"/scan/result/{ids[n % len(ids)]}"),
        ]
        count = max(self.counts.put, 8)
        errors = 0
        try:
            for call in mix:
                errors += (await run_load(lambda w, n, call=call: call(pool[w], n), count, 8)).errors
        finally:
            await pool.close()
        after = memory_kb(self.pids.server)["VmRSS"]
        self._sample_memory("repeat")
        self.repeat = {"requests": count * len(mix), "errors": errors, "server_rss_before_kB": before, "server_rss_after_kB": after}
        self.log(f"  server RSS {before // 1024} MB -> {after // 1024} MB over {count * len(mix)} more requests")

    async def event_streams(self) -> None:
        """Open progress streams (GET /scan/ID/events) and hold them: their memory, and GET manifest beside them."""
        ids = self.scan_ids[: self.counts.manifest_scans]
        count = self.counts.streams
        self.log(f"event_streams: {count} open streams, then GET /scan/manifest/ID beside them")
        pool = HttpPool(self.host, self.port, 20)

        async def get_manifest() -> dict[str, Any]:
            return await self._timed(lambda w, n: pool[w].request("GET", f"/scan/manifest/{ids[n % len(ids)]}"),
                                     self.counts.get_manifest, 20)  # fmt: skip

        alone = await get_manifest()  # measured here, so that both figures share the machine's current speed
        await self._settle()
        rss_before = memory_kb(self.pids.server)["VmRSS"]
        streams = [await open_event_stream(self.host, self.port, ids[n % len(ids)]) for n in range(count)]
        subscribed, idle = self.counts.stream_waits
        await asyncio.sleep(subscribed)  # a few watcher reads with every stream subscribed
        rss_open = memory_kb(self.pids.server)["VmRSS"]
        cpu_before, idle_began = cpu_seconds(self.pids.server), time.monotonic()
        await asyncio.sleep(idle)
        idle_cpu = (cpu_seconds(self.pids.server) - cpu_before) / (time.monotonic() - idle_began)
        try:
            beside = await get_manifest()
        finally:
            await pool.close()
        for _reader, writer in streams:
            writer.close()
        self.streams = {
            "streams": count,
            "server_rss_before_kB": rss_before,
            "server_rss_with_streams_kB": rss_open,
            "kB_per_stream": round((rss_open - rss_before) / count, 1),
            "server_cpu_idle_with_streams": round(idle_cpu, 4),
            "get_manifest_alone": alone,
            "get_manifest_beside_streams": beside,
            "get_manifest_slowdown": round(1 - beside["throughput_rps"] / alone["throughput_rps"], 3) if alone["throughput_rps"] else None,
        }
        self._sample_memory("event_streams")
        self.log(
            f"  {count} streams: SkyDriver RSS {rss_before // 1024} -> {rss_open // 1024} MB, idle CPU {idle_cpu:.1%}; "
            f"GET manifest {beside['throughput_rps']:.1f} req/s beside them ({alone['throughput_rps']:.1f} alone), errors {beside['errors']}"
        )


async def open_event_stream(host: str, port: int, scan_id: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A progress stream held open; its first event is read, later ones stay in the socket's buffers."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /scan/{scan_id}/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    await reader.readuntil(b"\n\n")
    return reader, writer
