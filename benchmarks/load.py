"""Concurrent load: a minimal keep-alive HTTP/1.1 client and a driver that times each operation.

The client is a few socket writes and reads per request (no header objects, no URL parsing, no body copies),
so on a 2-core machine the server, not the load generator, is what gets measured.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from collections.abc import Awaitable, Callable


class HttpError(RuntimeError):
    """A response that is not 2xx."""


class Connection:
    """One keep-alive connection; reopened when the server closes it."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    async def request(self, method: str, path: str, body: bytes = b"", headers: str = "") -> bytes:
        """The response body; HttpError unless the status is 2xx. ``headers``: extra "Name: value\r\n" lines."""
        if self.writer is None:
            await self._open()
        assert self.reader is not None and self.writer is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n"
        ).encode()
        self.writer.writelines((head, body) if body else (head,))
        await self.writer.drain()
        header_block = await self.reader.readuntil(b"\r\n\r\n")
        lines = header_block.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            payload = await self._read_chunked()
        else:
            payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        if not 200 <= status < 300:
            raise HttpError(f"{method} {path.split('?')[0]}: {status} {payload[:300]!r}")
        return payload

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        await self.reader.readuntil(b"\r\n")
        return b"".join(parts)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


@dataclasses.dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    first_error: str | None

    @property
    def throughput(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[round(p) - 1]


Operation = Callable[[int, int], Awaitable[object]]  # (worker number, request number) -> anything; raises on error


async def run_load(operation: Operation, count: int, concurrency: int) -> LoadResult:
    """Run ``count`` operations from ``concurrency`` workers, each taking the next request number as it frees up."""
    numbers = iter(range(count))
    latencies: list[float] = []
    errors: list[str] = []

    async def worker(worker_number: int) -> None:
        for number in numbers:
            began = time.perf_counter()
            try:
                await operation(worker_number, number)
            except Exception as exc:  # every failure is counted and the first one reported, whatever its kind
                errors.append(f"{type(exc).__name__}: {exc}"[:400])
                continue
            latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(min(concurrency, count))))
    return LoadResult(count, len(errors), time.perf_counter() - began, latencies, errors[0] if errors else None)


class HttpPool:
    """One connection per worker, so ``run_load``'s workers never share a socket."""

    def __init__(self, host: str, port: int, size: int):
        self.connections = [Connection(host, port) for _ in range(size)]

    def __getitem__(self, worker_number: int) -> Connection:
        return self.connections[worker_number]

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections))
