"""Reconcile at fleet size: SkyDriver with N running Kubernetes scans, against kmock's API emulator.

Run from the project root: python benchmarks/bench_fleet.py [--sizes 100,1000] [--window 30]

SkyDriver runs as users run it (``python -m skydriver``, its own embedded database), with the Kubernetes launcher
pointed by a kubeconfig at the emulator in this process (the one the tests use), RECONCILE_INTERVAL=5 s so that a
window holds several passes. For each size N it POSTs scans until N run (each Job gets a running pod), sends each
scan one progress report, then measures:
- API calls per reconcile pass: requests the emulator received in a window without other traffic, over the passes
  SkyDriver counted in it (``skydriver_reconcile_runs_total``); seconds per pass from its duration histogram;
- SkyDriver's CPU (``/proc/PID/stat``) per pass: (CPU in that window - idle CPU for as long) / passes, the idle rate
  measured before any scan existed (the loops that run when nothing happens read nothing per scan);
- CPU per progress report: a window of PATCHes at a steady rate, less idle and its passes' share, over the reports.
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
REPORT_RATE = 20.0  # PATCHes per second in the report window
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


class Fleet:
    def __init__(self, emulator: KubernetesApiEmulator, server: SkyDriverProcess, server_pid: int):
        self.emulator, self.server, self.pid = emulator, server, server_pid
        self.scan_ids: list[str] = []

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

    async def window(self, seconds: float, reports: int = 0) -> dict[str, float]:
        """CPU, emulator requests and reconcile passes over ``seconds`` (with ``reports`` PATCHes spread over it)."""
        before_metrics, before_requests, before_cpu = await metrics(self.server), len(list(self.emulator)), cpu_seconds(self.pid)
        started = time.monotonic()
        if reports:
            await self.reports(reports, reports / seconds)
        await asyncio.sleep(max(0.0, started + seconds - time.monotonic()))
        cpu, elapsed = cpu_seconds(self.pid) - before_cpu, time.monotonic() - started
        requests = len(list(self.emulator)) - before_requests
        after = await metrics(self.server)

        def delta(name: str) -> float:
            return after.get(name, 0.0) - before_metrics.get(name, 0.0)

        return {"cpu": cpu, "elapsed": elapsed, "requests": requests, "passes": delta("skydriver_reconcile_runs_total"),
                "pass_seconds": delta("skydriver_reconcile_duration_seconds_sum"),
                "timed": "skydriver_reconcile_duration_seconds_count" in after}  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000", help="fleet sizes, ascending (default 100,1000)")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per measured window (default 30)")
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
                idle = await fleet.window(args.window)
                idle_rate = idle["cpu"] / idle["elapsed"]
                for n in sizes:
                    print(f"{n} scans: launching", flush=True)
                    await fleet.grow(n)
                    print(f"{n} scans: quiet window, then reports", flush=True)
                    quiet = await fleet.window(args.window)
                    cpu_pass = (quiet["cpu"] - idle_rate * quiet["elapsed"]) / quiet["passes"]
                    n_reports = int(REPORT_RATE * args.window)
                    busy = await fleet.window(args.window, reports=n_reports)
                    cpu_report = (busy["cpu"] - idle_rate * busy["elapsed"] - cpu_pass * busy["passes"]) / n_reports
                    share = idle_rate + cpu_pass / interval + n * cpu_report / REPORT_EVERY
                    print(f"{n} scans: quiet {quiet}, busy {busy}", flush=True)
                    rows.append({
                        "scans": n, "calls_per_pass": quiet["requests"] / quiet["passes"],
                        "seconds_per_pass": quiet["pass_seconds"] / quiet["passes"] if quiet["timed"] else None,
                        "cpu_ms_per_pass": 1000 * cpu_pass,
                        "cpu_ms_per_report": 1000 * cpu_report, "idle_share": idle_rate, "steady_share": share,
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
        seconds = "n/a" if r["seconds_per_pass"] is None else f"{r['seconds_per_pass']:.3f}"  # a SkyDriver not timing passes
        print(f"| {r['scans']} | {r['calls_per_pass']:.1f} | {seconds} | {r['cpu_ms_per_pass']:.0f} | "
              f"{r['cpu_ms_per_report']:.2f} | {100 * r['steady_share']:.2f}% | {'yes' if met else 'NO'} |")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
