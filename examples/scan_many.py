"""Request scans of many events at once and print each scan id (follow each with `skydriver watch SCAN_ID`).

    python examples/scan_many.py examples/data/events/*.json --cluster local:1

Defaults fit `make run`; set SKYDRIVER_URL and SKYDRIVER_TOKEN for another SkyDriver. It is the `skydriver scan`
command in a loop, through the same client (each POST with its Idempotency-Key, so a retry never scans twice).
"""

from __future__ import annotations

import argparse
import os
import sys

from skydriver.cli import cluster_pairs, event_file, nside_pairs
from skydriver.cli.client import RequestRefused, SkyDriverClient


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", nargs="+", help="event message files (JSON)")
    parser.add_argument("--url", default=os.environ.get("SKYDRIVER_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("SKYDRIVER_TOKEN"))
    parser.add_argument("--cluster", type=cluster_pairs, default="local:1", help="NAME:WORKERS,...")
    parser.add_argument("--reco-algo", default="dummy")
    parser.add_argument("--nsides", type=nside_pairs, default="8:0,16:4,32:4", help="NSIDE:EXTENSION,...")
    parser.add_argument("--docker-tag", default="latest")
    args = parser.parse_args()

    client = SkyDriverClient(args.url, args.token)
    refused = 0
    for path in args.events:
        try:
            body = {
                "docker_tag": args.docker_tag,
                "cluster": [list(pair) for pair in args.cluster],
                "reco_algo": args.reco_algo,
                "event_i3live_json": event_file(path),
                "nsides": dict(args.nsides),
                "real_or_simulated_event": "real",
            }
            print(f"{path}: {client.request_scan(body)['scan_id']}", flush=True)
        except (argparse.ArgumentTypeError, RequestRefused) as exc:
            refused += 1
            print(f"{path}: refused: {exc}", file=sys.stderr)
    return 2 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
