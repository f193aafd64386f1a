"""Reconcile at fleet size: SkyDriver with N running Kubernetes scans, against kmock's API emulator.

Run from the project root: python benchmarks/bench_fleet.py [--sizes 100,1000] [--window 30] [--passes 4] [--gaps 4]

SkyDriver runs as users run it (``python -m skydriver``, its own embedded database), with the Kubernetes launcher
pointed by a kubeconfig at the emulator in this process (the one the tests use), RECONCILE_INTERVAL=5 s so that
passes come often. For each size N it POSTs scans until N run (each Job gets a running pod), sends each scan one
progress report, then measures, timing every window by the end of a reconcile pass (the line SkyDriver logs for it,
read from its log file: nothing is asked of SkyDriver, whose CPU is being measured):
- per pass, over ``--passes`` whole passes (from the end of one to the end of the last): API requests the emulator
  received, and SkyDriver's CPU (``/proc/PID/stat``) less its idle rate for as long, the idle rate measured before
  any scan existed (the loops that run when nothing happens read nothing per scan); seconds per pass from SkyDriver's
  duration histogram;
- per progress report: in each of ``--gaps`` pauses between two passes (RECONCILE_INTERVAL long), PATCHes at
  REPORT_RATE for all but the last second of it, and SkyDriver's CPU less idle over them: no pass runs meanwhile (a
  gap a pass entered is measured again), so no pass's CPU has to be subtracted.
Steady state at N scans, each reporting every 60 s, one pass every RECONCILE_INTERVAL as configured by default:
idle rate + CPU per pass / RECONCILE_INTERVAL + N x CPU per report / 60 s, as a share of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import kmock
from load import Connection, HttpError, HttpPool
from payloads import progress_body
from server_process import SkyDriverProcess, cpu_seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
from examples.sample_data import EVENTS_DIR, alert_scan_request  # noqa: E402
from skydriver.config import Settings  # noqa: E402
from tests.launchers.k8s_api_emulator import KubernetesApiEmulator, job_pod  # noqa: E402

EVENT = EVENTS_DIR / "event_HESE_2017-11-28.json"  # the smallest real event (99 kB): what is posted does not matter here
NAMESPACE = "skydriver"
PASS_INTERVAL = 5.0
REPORT_EVERY = 60.0  # seconds between one scan's progress reports, as the goal states it
REPORT_RATE = 50.0  # PATCHes per second in a gap between passes
PASS_ENDED = b"reconciled running scans"  # SkyDriver's log line at the end of each pass with scans in it
RUNNING = {"running": {"startedAt": "2026-11-28T04:00:00Z"}}
GOALS = {"calls": 2, "share": 0.05}


def kubeconfig(path: Path, url: str) -> Path:
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": url.rstrip("/")}}],
        "users": [{"name": "nobody", "user": {}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "nobody", "namespace": NAMESPACE}}],
    }  # fmt: skip
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


async def metrics(server: SkyDriverProcess) -> dict[str, float]:
    """SkyDriver's Prometheus samples, name{labels} -> value (a connection of its own: SkyDriver closes idle ones)."""
    conn = Connection(*server.address)
    try:
        text = (await conn.request("GET", "/metrics")).decode()
    finally:
        await conn.close()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line and line[0] != "#"}


async def send(conn: Connection, method: str, path: str, body: bytes) -> bytes:
    """A request, sent again after 503s (a busy shared machine can make SkyDriver lose its database for a moment),
    as a scanner's client does: the benchmark measures the steady state, not that."""
    for _ in range(30):
        try:
            return await conn.request(method, path, body)
        except HttpError as exc:
            if ": 503 " not in str(exc):
                raise
            await asyncio.sleep(2.0)
    raise RuntimeError(f"{method} {path}: still 503 after a minute")


class PassClock:
    """The ends of SkyDriver's reconcile passes, from its log file (at no CPU cost to SkyDriver)."""

    def __init__(self, log: Path):
        self.log, self.offset, self.ended = log, 0, 0

    def read(self) -> int:
        with open(self.log, "rb") as f:
            f.seek(self.offset)
            text = f.read()
        complete = text.rfind(b"\n") + 1  # a line still being written is read next time
        self.offset += complete
        self.ended += text[:complete].count(PASS_ENDED)
        return self.ended

    async def next_end(self, timeout: float = 300.0) -> None:
        seen, deadline = self.read(), time.monotonic() + timeout
        while self.read() == seen:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no reconcile pass ended in {timeout:.0f} s")
            await asyncio.sleep(0.02)


class Fleet:
    def __init__(self, emulator: KubernetesApiEmulator, server: SkyDriverProcess, server_pid: int):
        self.emulator, self.server, self.pid = emulator, server, server_pid
        self.scan_ids: list[str] = []
        self.clock = PassClock(server.data_dir / "skydriver.log")

    def jobs(self) -> list[dict]:
        return [o.raw for (resource, _, _), o in self.emulator.objects.items() if resource.plural == "jobs" and not o.deleted]

    async def grow(self, n: int) -> None:
        """POST scans until n run, give each Job a running pod, and each scan one progress report."""
        body = json.dumps(alert_scan_request(json.loads(EVENT.read_text()), cluster={"sub-2": 100})).encode()
        pool = HttpPool(*self.server.address, 4)
        new: list[str] = []
        to_post = n - len(self.scan_ids)

        async def post(worker: int) -> None:
            nonlocal to_post
            while to_post > 0:
                to_post -= 1
                new.append(json.loads(await send(pool[worker], "POST", "/scan", body))["scan_id"])

        await asyncio.gather(*(post(w) for w in range(4)))
        await pool.close()
        self.scan_ids += new
        deadline = time.monotonic() + 600
        while len(self.jobs()) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(self.jobs())} of {n} scans launched in 10 minutes")
            await asyncio.sleep(0.5)
        for job in self.jobs():  # the pod the Job controller makes, reported running by the kubelet
            pod = job_pod(job, {"skyscan-server": RUNNING, "tms-starter-0": RUNNING})
            self.emulator.objects["v1/pods", NAMESPACE, pod["metadata"]["name"]] = pod
        await self.reports(len(new), rate=200.0, ids=new)
        runs = (await metrics(self.server)).get("skydriver_reconcile_runs_total", 0)
        while (await metrics(self.server)).get("skydriver_reconcile_runs_total", 0) < runs + 2:  # a whole pass with all n
            await asyncio.sleep(0.2)

    async def reports(self, count: int, rate: float, ids: list[str] | None = None) -> None:
        """``count`` progress PATCHes at ``rate`` per second, over the scans in turn."""
        ids = ids or self.scan_ids
        bodies = [progress_body(i) for i in range(20)]
        pool = HttpPool(*self.server.address, 4)
        start = time.monotonic()

        async def worker(w: int) -> None:
            for i in range(w, count, 4):
                await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
                await send(pool[w], "PATCH", f"/scan/manifest/{ids[i % len(ids)]}", bodies[i % len(bodies)])

        await asyncio.gather(*(worker(w) for w in range(4)))
        await pool.close()

    async def idle(self, seconds: float) -> float:
        """SkyDriver's CPU share while nothing happens."""
        cpu, started = cpu_seconds(self.pid), time.monotonic()
        await asyncio.sleep(seconds)
        return (cpu_seconds(self.pid) - cpu) / (time.monotonic() - started)

    async def passes(self, n: int, idle_rate: float) -> dict[str, float]:
        """API requests and CPU (less idle) per pass over ``n`` whole passes; seconds per pass from the histogram."""
        before = await metrics(self.server)
        await self.clock.next_end()
        cpu, requests, started = cpu_seconds(self.pid), len(list(self.emulator)), time.monotonic()
        for _ in range(n):
            await self.clock.next_end()
        cpu, requests = cpu_seconds(self.pid) - cpu, len(list(self.emulator)) - requests
        elapsed = time.monotonic() - started
        after = await metrics(self.server)
        runs = after["skydriver_reconcile_runs_total"] - before["skydriver_reconcile_runs_total"]
        seconds = after["skydriver_reconcile_duration_seconds_sum"] - before["skydriver_reconcile_duration_seconds_sum"]
        return {"calls": requests / n, "cpu": (cpu - idle_rate * elapsed) / n, "seconds": seconds / runs}

    async def reports_between_passes(self, gaps: int, idle_rate: float) -> float:
        """CPU (less idle) per progress report, sent in ``gaps`` pauses between passes with no pass running."""
        per_gap = int(REPORT_RATE * (PASS_INTERVAL - 1.0))
        cpu_total, sent = 0.0, 0
        while sent < gaps * per_gap:
            await self.clock.next_end()
            ended, requests = self.clock.read(), len(list(self.emulator))
            cpu, started = cpu_seconds(self.pid), time.monotonic()
            await self.reports(per_gap, REPORT_RATE)
            cpu, elapsed = cpu_seconds(self.pid) - cpu, time.monotonic() - started
            if self.clock.read() != ended or len(list(self.emulator)) != requests:
                print("  a pass started during the reports: this gap is measured again", flush=True)
                continue
            cpu_total, sent = cpu_total + cpu - idle_rate * elapsed, sent + per_gap
        return cpu_total / sent


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="fleet sizes, ascending (default 100,1000)")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of the idle window (default 30)")
    parser.add_argument("--passes", type=int, default=4, help="whole passes measured per size (default 4)")
    parser.add_argument("--gaps", type=int, default=4, help="pauses between passes with reports in them per size (default 4)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    interval = Settings.from_env({"SKYDRIVER_AUTH": "off"}).reconcile_interval  # the default, as deployed
    rows = []
    with tempfile.TemporaryDirectory(prefix="skydriver-fleet-") as tmp:
        async with KubernetesApiEmulator() as emulator, kmock.Server(emulator):
            env = {
                "SKYDRIVER_LAUNCHER": "kubernetes", "KUBECONFIG": str(kubeconfig(Path(tmp) / "kubeconfig", str(emulator.url))),
                "K8S_NAMESPACE": NAMESPACE, "LAUNCH_INTERVAL": "0", "RECONCILE_INTERVAL": str(PASS_INTERVAL),
            }  # fmt: skip
            server = SkyDriverProcess(Path(tmp) / "data", env=env)
            fleet = Fleet(emulator, server, (await asyncio.to_thread(server.start)).server)
            try:
                print(f"idle, no scans: {args.window:.0f} s", flush=True)
                idle_rate = await fleet.idle(args.window)
                for n in sizes:
                    print(f"{n} scans: launching", flush=True)
                    await fleet.grow(n)
                    print(f"{n} scans: {args.passes} passes, then reports in {args.gaps} gaps between passes", flush=True)
                    passes = await fleet.passes(args.passes, idle_rate)
                    cpu_report = await fleet.reports_between_passes(args.gaps, idle_rate)
                    share = idle_rate + passes["cpu"] / interval + n * cpu_report / REPORT_EVERY
                    print(f"{n} scans: {passes}, {1000 * cpu_report:.2f} ms per report", flush=True)
                    rows.append({
                        "scans": n, "calls_per_pass": passes["calls"], "seconds_per_pass": passes["seconds"],
                        "cpu_ms_per_pass": 1000 * passes["cpu"], "cpu_ms_per_report": 1000 * cpu_report,
                        "idle_share": idle_rate, "steady_share": share,
                    })  # fmt: skip
            finally:
                await asyncio.to_thread(server.stop)
    print()
    print(f"idle (no scans): {100 * idle_rate:.2f}% of one core; steady state: RECONCILE_INTERVAL={interval:.0f} s, "
          f"a progress report per scan every {REPORT_EVERY:.0f} s")  # fmt: skip
    print("| scans | API calls per pass | s per pass | CPU ms per pass | CPU ms per report | steady state, one core | goals met |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        met = r["calls_per_pass"] <= GOALS["calls"] and r["steady_share"] < GOALS["share"]
        print(f"| {r['scans']} | {r['calls_per_pass']:.1f} | {r['seconds_per_pass']:.3f} | {r['cpu_ms_per_pass']:.0f} | "
              f"{r['cpu_ms_per_report']:.2f} | {100 * r['steady_share']:.2f}% | {'yes' if met else 'NO'} |")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
