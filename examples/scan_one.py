"""Scan one event end to end: request the scan, follow its progress, save the final sky map as PNG.

Works against any SkyDriver; the defaults fit `make run` (embedded defaults: local launcher, reference scanner, auth
off on loopback):

    python examples/scan_one.py                       # the real event in examples/data/events/
    python examples/scan_one.py --event my_event.json --output my_scan.png

For a production SkyDriver pass --address, --token (or SKYDRIVER_TOKEN), --cluster sub-2:1234, --reco-algo and
--nsides 8:0,64:12,512:24.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import requests
from sample_data import MODERN_EVENT

DEFAULT_EVENT = MODERN_EVENT
PERCENT = re.compile(r"\(([0-9.]+)\)")


def parse_pairs(text: str) -> list[tuple[str, int]]:
    """'sub-2:1234,local:2' -> [('sub-2', 1234), ('local', 2)]."""
    pairs = []
    for item in text.split(","):
        name, _, count = item.strip().rpartition(":")
        pairs.append((name, int(count)))
    return pairs


def fraction_done(progress: dict | None) -> float:
    if not progress:
        return 0.0
    if progress.get("processing_stats", {}).get("finished"):
        return 1.0
    match = PERCENT.search(str(progress.get("tallies", {}).get("est. scan percent", "")))
    return min(float(match.group(1)), 1.0) if match else 0.0


def bar(fraction: float, width: int = 40) -> str:
    filled = int(round(fraction * width))
    return "[" + "#" * filled + "-" * (width - filled) + f"] {100 * fraction:5.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=os.environ.get("SKYDRIVER_ADDRESS", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("SKYDRIVER_TOKEN", ""))
    parser.add_argument("--event", type=Path, default=DEFAULT_EVENT)
    parser.add_argument("--cluster", default="local:2", help="name:workers[,name:workers...]")
    parser.add_argument("--reco-algo", default="dummy")
    parser.add_argument("--nsides", default="8:0,16:4,32:4", help="nside:extension,...")
    parser.add_argument("--docker-tag", default="latest")
    parser.add_argument("--simulated", action="store_true", help="the event is simulated, not real")
    parser.add_argument("--output", type=Path, default=Path("skymap.png"))
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds")
    args = parser.parse_args()

    session = requests.Session()
    if args.token:
        session.headers["Authorization"] = f"Bearer {args.token}"
    body = {
        "docker_tag": args.docker_tag,
        "cluster": [list(p) for p in parse_pairs(args.cluster)],
        "reco_algo": args.reco_algo,
        "event_i3live_json": json.loads(args.event.read_text()),
        "nsides": {str(n): e for n, e in parse_pairs(args.nsides)},
        "real_or_simulated_event": "simulated" if args.simulated else "real",
    }
    started = time.monotonic()
    response = session.post(f"{args.address}/scan", json=body, timeout=60)
    if response.status_code != 200:
        print(f"SkyDriver refused the scan ({response.status_code}): {response.text}", file=sys.stderr)
        return 1
    scan_id = response.json()["scan_id"]
    print(f"scan_id: {scan_id}  (event {args.event.name})")

    manifest: dict = {}
    while time.monotonic() - started < args.timeout:
        manifest = session.get(f"{args.address}/scan/manifest/{scan_id}", params={"include_event": "false"}, timeout=60).json()
        launch = manifest["launch"]
        print(f"\r{bar(fraction_done(manifest['progress']))}  {launch['status']:<9}", end="", flush=True)
        if manifest["complete"]:
            break
        time.sleep(1.0)
    print()
    result = session.get(f"{args.address}/scan/result/{scan_id}", timeout=60).json()
    if not manifest.get("complete") or not result.get("is_final"):
        print(f"no final result (launch: {manifest.get('launch')})", file=sys.stderr)
        return 1
    summary = session.get(f"{args.address}/scan/{scan_id}/result/summary", timeout=60).json()
    best = summary["best_fit"]
    print(f"best fit: RA {best['ra_deg']:.2f} deg, Dec {best['dec_deg']:.2f} deg (nside {best['nside']}), "
          f"90% area {summary['contour_areas_deg2']['90%']:.1f} deg^2")  # fmt: skip
    png = session.get(f"{args.address}/scan/{scan_id}/skymap.png", params={"zoom": "true"}, timeout=120)
    png.raise_for_status()
    args.output.write_bytes(png.content)
    print(f"sky map: {args.output}   scan_id: {scan_id}   took {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
