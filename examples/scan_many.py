"""Request scans of many events at once and report each scan id (follow each with `skydriver watch SCAN_ID`).

    python examples/scan_many.py examples/data/events/*.json --cluster local:1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

import requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", type=Path, nargs="+")
    parser.add_argument("--address", default=os.environ.get("SKYDRIVER_ADDRESS", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("SKYDRIVER_TOKEN", ""))
    parser.add_argument("--cluster", default="local:1", help="name:workers")
    parser.add_argument("--reco-algo", default="dummy")
    parser.add_argument("--nsides", default='{"8": 0, "16": 4, "32": 4}', help="JSON object nside -> extension")
    parser.add_argument("--docker-tag", default="latest")
    args = parser.parse_args()

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    name, _, count = args.cluster.rpartition(":")
    failures = 0
    for path in args.events:
        body = {
            "docker_tag": args.docker_tag,
            "cluster": {name: int(count)},
            "reco_algo": args.reco_algo,
            "event_i3live_json": json.loads(path.read_text()),
            "nsides": json.loads(args.nsides),
            "real_or_simulated_event": "real",
        }
        # a retried request with the same key returns the same scan instead of starting a second one
        headers["Idempotency-Key"] = f"scan-many-{uuid.uuid4().hex}"
        response = requests.post(f"{args.address}/scan", json=body, headers=headers, timeout=60)
        if response.status_code == 200:
            print(f"{path.name}: {response.json()['scan_id']}")
        else:
            failures += 1
            print(f"{path.name}: refused ({response.status_code}): {response.text}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
