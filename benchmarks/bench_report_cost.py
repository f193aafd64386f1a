"""What a progress report costs SkyDriver in CPU, beside the floors under it: the web framework's and the driver's.

Run from the project root: python benchmarks/bench_report_cost.py [--requests 2000] [--pace SECONDS]

Every figure is CPU time (user + system) per request or per database operation, sent one at a time on one keep-alive
connection, the median of ``--repeat`` rounds:
- ``python -m skydriver`` (auth off, its embedded database, as users run it), read from /proc less its idle rate:
  PATCH of a mid-scan progress report (the Skymap Scanner's, with its event metadata) answered with the Manifest,
  and GET /healthz, which costs what every request costs (tornado, rest_tools' handler, SkyDriver's request checks,
  the access log line, the request metrics) and nothing else;
- a bare tornado application in a process of its own, answering the same PATCH with two bytes: tornado's floor;
- PyMongo's async client in this process, against SkyDriver's embedded database: the ``find_one`` a report reads its
  manifest with, the ``replace_one`` it stores the report with (on a scratch collection), and a ``ping``; and the
  same ping sent as one hand-built OP_MSG over an asyncio stream: a round trip without the driver.
A report costs the framework's share, its own work (the body's checks, the Manifest answer) and the two driver
operations, which run concurrently: the last lines of the table take it apart that way.

``--pace 0.02`` sends every request and operation 20 ms after the previous one ended, as a fleet's reports come (one
at a time into an idle process), instead of back to back: each is then paid with cold caches and a wake-up, and the
in-process figures are less the cost of the pacing sleeps alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bson import Binary, encode
from load import Connection
from payloads import progress_body
from pymongo import AsyncMongoClient
from server_process import SkyDriverProcess, cpu_seconds, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
from examples.sample_data import EVENTS_DIR, alert_scan_request  # noqa: E402
from skydriver.config import Settings  # noqa: E402

EVENT = EVENTS_DIR / "event_HESE_2017-11-28.json"  # what is posted does not matter here: the smallest real event
IDLE_SECONDS = 10.0
BARE_TORNADO = textwrap.dedent("""
    import asyncio, sys, tornado.web
    class Report(tornado.web.RequestHandler):
        def patch(self):
            self.write(b"{}")
    async def main():
        tornado.web.Application([("/report", Report)]).listen(int(sys.argv[1]), "127.0.0.1")
        await asyncio.Event().wait()
    asyncio.run(main())
""")


async def per_call(
    call: Callable[[], Awaitable[object]], n: int, cpu: Callable[[], float], idle_rate: float = 0.0, pace: float = 0.0
) -> float:
    """Seconds of CPU per call (``cpu``'s clock), ``n`` calls one after the other (``pace`` seconds apart), less the
    idle rate for as long."""
    for _ in range(min(50, n)):  # warm: connections open, caches filled
        await call()
    spent, started = cpu(), time.monotonic()
    for _ in range(n):
        await call()
        if pace:
            await asyncio.sleep(pace)
    return (cpu() - spent - idle_rate * (time.monotonic() - started)) / n


async def nothing() -> None:
    """The call that measures what pacing alone costs this process."""


async def idle_rate(pid: int) -> float:
    spent, started = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(IDLE_SECONDS)
    return (cpu_seconds(pid) - spent) / (time.monotonic() - started)


async def raw_ping(port: int) -> Callable[[], Awaitable[None]]:
    """A ping as one OP_MSG (opcode 2013, a single body section) and its reply, read whole, over a plain stream."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = encode({"ping": 1, "$db": "admin"})
    message = struct.pack("<iiiiI", 21 + len(body), 1, 0, 2013, 0) + b"\x00" + body

    async def ping() -> None:
        writer.write(message)
        length = struct.unpack("<i", await reader.readexactly(4))[0]
        await reader.readexactly(length - 4)

    return ping


async def measure(n: int, pace: float) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="skydriver-report-cost-") as tmp:
        server = SkyDriverProcess(Path(tmp) / "data")
        pids = await asyncio.to_thread(server.start)
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE_TORNADO, str(bare_port)])
        client: AsyncMongoClient | None = None
        try:
            conn = Connection(*server.address)
            scan = alert_scan_request(json.loads(EVENT.read_text()), cluster={"sub-2": 100})
            scan_id = json.loads(await conn.request("POST", "/scan", json.dumps(scan).encode()))["scan_id"]
            report = progress_body(5)
            idle = await idle_rate(pids.server)
            figures["idle"] = idle
            on_server = lambda: cpu_seconds(pids.server)  # noqa: E731
            figures["PATCH progress"] = await per_call(
                lambda: conn.request("PATCH", f"/scan/manifest/{scan_id}", report), n, on_server, idle, pace
            )
            figures["GET /healthz"] = await per_call(lambda: conn.request("GET", "/healthz"), n, on_server, idle, pace)
            await conn.close()

            bare_conn = Connection("127.0.0.1", bare_port)
            for _ in range(100):
                try:
                    await bare_conn.request("PATCH", "/report", report)
                    break
                except OSError:
                    bare_conn = Connection("127.0.0.1", bare_port)
                    await asyncio.sleep(0.1)
            figures["bare tornado PATCH"] = await per_call(
                lambda: bare_conn.request("PATCH", "/report", report), n, lambda: cpu_seconds(bare.pid), pace=pace
            )
            await bare_conn.close()

            client = AsyncMongoClient(f"mongodb://127.0.0.1:{pids.database_port}", tz_aware=True)
            db = client[Settings.from_env({"SKYDRIVER_AUTH": "off"}).mongodb_database]
            scratch = db["bench_report_cost"]
            doc = {"json": Binary(report), "last_progress": time.time()}
            await scratch.replace_one({"_id": scan_id}, doc, upsert=True)
            here = time.process_time
            pacing = await per_call(nothing, n, here, pace=pace) if pace else 0.0

            async def here_less_pacing(call: Callable[[], Awaitable[object]]) -> float:
                return await per_call(call, n, here, pace=pace) - pacing

            figures["driver find_one (manifest)"] = await here_less_pacing(
                lambda: db.manifests.find_one({"scan_id": scan_id}, {"_id": 0})
            )
            figures["driver replace_one (report)"] = await here_less_pacing(lambda: scratch.replace_one({"_id": scan_id}, doc))
            figures["driver ping"] = await here_less_pacing(lambda: client.admin.command("ping"))
            figures["raw OP_MSG ping"] = await here_less_pacing(await raw_ping(pids.database_port))
            await scratch.drop()
        finally:
            if client is not None:
                await client.close()
            bare.kill()
            await asyncio.to_thread(server.stop)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests or operations per figure and round (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, each with a fresh SkyDriver; medians are printed (default 3)")
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between requests (default 0: back to back)")
    args = parser.parse_args()
    os.chdir(Path(__file__).resolve().parents[1])  # `python -m skydriver` must find the package
    rounds = [asyncio.run(measure(args.requests, args.pace)) for _ in range(args.repeat)]
    median = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    ms = {name: 1000 * value for name, value in median.items()}
    sent = f"{args.pace * 1000:g} ms apart" if args.pace else "back to back"
    print(f"\nidle: {100 * median['idle']:.2f}% of one core; CPU ms per request or operation ({sent}), median of {args.repeat}:")
    print("| what | CPU ms | rounds |")
    print("| --- | ---: | --- |")
    for name, value in ms.items():
        if name != "idle":
            print(f"| {name} | {value:.3f} | {', '.join(f'{1000 * r[name]:.3f}' for r in rounds)} |")
    driver = ms["driver find_one (manifest)"] + ms["driver replace_one (report)"]
    own = ms["PATCH progress"] - ms["GET /healthz"] - driver
    print(f"\nA report: {ms['PATCH progress']:.2f} ms = framework {ms['GET /healthz']:.2f} (tornado alone "
          f"{ms['bare tornado PATCH']:.2f}) + two driver operations {driver:.2f} (the round trips alone "
          f"{2 * ms['raw OP_MSG ping']:.2f}) + the rest, SkyDriver's own work on it, {own:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
