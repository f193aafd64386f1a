"""Scan one event from Python, the way the `skydriver scan --wait` command does, to copy into your own scripts.

    python examples/scan_one.py [EVENT.json]       # default: the real event in examples/data/events/

Defaults fit `make run` (embedded defaults, auth off on loopback); set SKYDRIVER_URL and SKYDRIVER_TOKEN for another
SkyDriver. From a shell, `skydriver scan EVENT.json ... --wait` does all of this with a live progress bar.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from rich.console import Console
from sample_data import MODERN_EVENT

from skydriver.cli.client import SkyDriverClient
from skydriver.cli.follow import follow

client = SkyDriverClient(os.environ.get("SKYDRIVER_URL", "http://127.0.0.1:8080"), os.environ.get("SKYDRIVER_TOKEN"))
event_file = Path(sys.argv[1]) if len(sys.argv) > 1 else MODERN_EVENT
manifest = client.request_scan({
    "docker_tag": "latest",
    "cluster": {"local": 2},
    "reco_algo": "dummy",
    "event_i3live_json": json.loads(event_file.read_text()),
    "nsides": {"8": 0, "16": 4, "32": 4},
    "real_or_simulated_event": "real",
})  # fmt: skip
scan_id = manifest["scan_id"]
print(f"scan {scan_id} of {event_file.name}")

follow(client, scan_id, Console())
if not client.result(scan_id).get("is_final"):
    sys.exit(f"scan {scan_id} ended without a final result: {client.manifest(scan_id)['launch']}")
best = client.summary(scan_id)["best_fit"]
print(f"best fit RA {best['ra_deg']:.2f} deg, Dec {best['dec_deg']:+.2f} deg")
Path(f"{scan_id}.png").write_bytes(client.skymap_png(scan_id, zoom=True))
print(f"sky map: {scan_id}.png")
