"""The reference scanner's work queue: a lost worker's leased pixel is handed out again (deterministic)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from skydriver.reference_scanner.work_queue import PixelResult, WorkQueue


async def connect(port: int, token: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await exchange(reader, writer, {"token": token, "worker": "test"}) == {"ok": True}
    return reader, writer


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: dict[str, Any]) -> dict[str, Any]:
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()
    return json.loads(await reader.readline())


async def ignore(result: PixelResult) -> None:
    """Results are not what these tests look at."""


async def test_a_disconnected_workers_lease_is_handed_out_again() -> None:
    results: list[PixelResult] = []

    async def on_result(result: PixelResult) -> None:
        results.append(result)

    queue = WorkQueue("t0ken", lease_timeout=300, on_result=on_result)
    port = await queue.start()
    await queue.add([(8, 1), (8, 2)])
    lost_reader, lost_writer = await connect(port, "t0ken")
    lost = await exchange(lost_reader, lost_writer, {"op": "lease"})
    assert (lost["nside"], lost["pixel"]) == (8, 1)
    lost_writer.close()  # the worker dies holding its lease

    reader, writer = await connect(port, "t0ken")
    seen = []
    for _ in range(2):
        task = await exchange(reader, writer, {"op": "lease"})
        seen.append((task["nside"], task["pixel"]))
        result = {"op": "result", "lease": task["lease"], "nside": task["nside"], "pixel": task["pixel"],
                  "llh": 1.0, "E_in": 0.0, "E_tot": 0.0, "runtime": 0.0}  # fmt: skip
        assert await exchange(reader, writer, result) == {"ok": True}
    assert sorted(seen) == [(8, 1), (8, 2)]
    assert queue.requeued == 1 and sorted((r.nside, r.pixel) for r in results) == [(8, 1), (8, 2)]
    await queue.finish()
    assert await exchange(reader, writer, {"op": "lease"}) == {"done": True}
    writer.close()
    await queue.close()


async def test_an_expired_lease_is_handed_out_again() -> None:
    queue = WorkQueue("t0ken", lease_timeout=0.1, on_result=ignore)
    port = await queue.start()
    expiry = asyncio.create_task(queue.expire_leases_forever(check_every=0.05))
    await queue.add([(8, 5)])
    stuck_reader, stuck_writer = await connect(port, "t0ken")
    assert (await exchange(stuck_reader, stuck_writer, {"op": "lease"}))["pixel"] == 5  # then never answers
    reader, writer = await connect(port, "t0ken")
    again = await asyncio.wait_for(exchange(reader, writer, {"op": "lease"}), timeout=30)
    assert again["pixel"] == 5 and queue.requeued == 1
    expiry.cancel()
    await queue.finish()
    stuck_writer.close()
    writer.close()
    await queue.close()


async def test_a_wrong_token_is_refused() -> None:
    queue = WorkQueue("t0ken", lease_timeout=300, on_result=ignore)
    port = await queue.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b'{"token": "guess", "worker": "intruder"}\n')
    assert await reader.readline() == b""  # hung up on
    writer.close()
    await queue.close()
