"""The pixel work queue the server hosts for its workers: JSON lines over one TCP connection per worker.

A worker authenticates with the token from the startup file, then repeats ``lease`` (the server answers with a pixel and
its direction, holding the request open while nothing is pending, or ``done``) and ``result``. A leased pixel goes back
to the queue when its worker's connection drops (killed worker) or when the lease outlives ``lease_timeout`` (hung
worker), so every pixel is eventually reconstructed; a result for a pixel already done is ignored by the scan.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hmac
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .pixels import pixel_direction

LOGGER = logging.getLogger(__name__)

Pixel = tuple[int, int]  # (nside, RING pixel)


@dataclasses.dataclass(frozen=True)
class PixelResult:
    nside: int
    pixel: int
    llh: float
    e_in: float
    e_tot: float
    worker_runtime: float  # seconds the reco took on the worker
    roundtrip_start: float  # epoch seconds the pixel was first handed out
    roundtrip_end: float  # epoch seconds its result arrived


@dataclasses.dataclass
class _Lease:
    pixel: Pixel
    connection: int
    deadline: float


class WorkQueue:
    def __init__(self, token: str, lease_timeout: float, on_result: Callable[[PixelResult], Awaitable[None]]):
        self.token = token  # what workers must present; the startup file carries it
        self._lease_timeout = lease_timeout
        self._on_result = on_result
        self._pending: collections.deque[Pixel] = collections.deque()
        self._leases: dict[int, _Lease] = {}
        self._first_sent: dict[Pixel, float] = {}
        self._lease_ids = itertools.count(1)
        self._connection_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._done = False
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.requeued = 0  # pixels handed out again after a lost or expired lease

    async def start(self, host: str = "127.0.0.1") -> int:
        """Listen on ``host`` at a free port; returns the port."""
        self._server = await asyncio.start_server(self._serve, host, 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def add(self, pixels: list[Pixel]) -> None:
        async with self._changed:
            self._pending.extend(pixels)
            self._changed.notify_all()

    async def finish(self) -> None:
        """No more work: waiting and future ``lease`` calls answer ``done``."""
        async with self._changed:
            self._done = True
            self._pending.clear()
            self._changed.notify_all()

    async def close(self, grace: float = 5.0) -> None:
        """Stop listening; give connected workers ``grace`` seconds to take their ``done`` and hang up."""
        if self._server:
            self._server.close()
        if self._handlers:
            _, stuck = await asyncio.wait(self._handlers, timeout=grace)
            for task in stuck:
                task.cancel()

    async def expire_leases_forever(self, check_every: float = 1.0) -> None:
        while True:
            await asyncio.sleep(check_every)
            now = time.time()
            for lease_id in [i for i, lease in self._leases.items() if lease.deadline < now]:
                LOGGER.warning("lease %d on %s expired; pixel goes back to the queue", lease_id, self._leases[lease_id].pixel)
                await self._requeue(lease_id)

    async def _requeue(self, lease_id: int) -> None:
        lease = self._leases.pop(lease_id, None)
        if lease is None or self._done:
            return
        async with self._changed:
            self._pending.appendleft(lease.pixel)
            self.requeued += 1
            self._changed.notify_all()

    async def _next_pixel(self, connection: int) -> dict[str, Any]:
        async with self._changed:
            await self._changed.wait_for(lambda: self._done or bool(self._pending))
            if self._done:
                return {"done": True}
            pixel = self._pending.popleft()
        lease_id = next(self._lease_ids)
        self._leases[lease_id] = _Lease(pixel, connection, time.time() + self._lease_timeout)
        self._first_sent.setdefault(pixel, time.time())
        return {"lease": lease_id, "nside": pixel[0], "pixel": pixel[1], "direction": pixel_direction(*pixel)}

    async def _take_result(self, message: dict[str, Any]) -> None:
        lease = self._leases.pop(int(message["lease"]), None)
        pixel = (int(message["nside"]), int(message["pixel"]))
        if lease is not None and lease.pixel != pixel:
            raise ValueError(f"result for {pixel} under the lease of {lease.pixel}")
        await self._on_result(
            PixelResult(
                nside=pixel[0],
                pixel=pixel[1],
                llh=float(message["llh"]),
                e_in=float(message["E_in"]),
                e_tot=float(message["E_tot"]),
                worker_runtime=float(message["runtime"]),
                roundtrip_start=self._first_sent.get(pixel, time.time()),
                roundtrip_end=time.time(),
            )
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = next(self._connection_ids)
        worker = "?"
        if task := asyncio.current_task():
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        try:
            hello = json.loads(await reader.readline() or b"{}")
            if not hmac.compare_digest(str(hello.get("token", "")), self.token):
                LOGGER.warning("worker connection %d refused: wrong token", connection)
                return
            worker = str(hello.get("worker", "?"))
            LOGGER.info("worker %s connected (connection %d)", worker, connection)
            await self._send(writer, {"ok": True})
            while line := await reader.readline():
                message = json.loads(line)
                if message.get("op") == "lease":
                    await self._send(writer, await self._next_pixel(connection))
                elif message.get("op") == "result":
                    await self._take_result(message)
                    await self._send(writer, {"ok": True})
                else:
                    raise ValueError(f"unknown op {message.get('op')!r}")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except (ValueError, KeyError, TypeError) as e:
            LOGGER.warning("worker %s sent a bad message: %s", worker, e)
        finally:
            lost = [i for i, lease in self._leases.items() if lease.connection == connection]
            if lost and not self._done:
                LOGGER.warning("worker %s disconnected holding %d lease(s); requeued", worker, len(lost))
            for lease_id in lost:
                await self._requeue(lease_id)
            writer.close()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        writer.write(json.dumps(message).encode() + b"\n")
        await writer.drain()
