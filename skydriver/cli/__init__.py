"""The `skydriver` command: run the server (`serve`), or request, follow and fetch scans from one.

Exit codes: 0 done, 1 the scan failed (or ended without a final result), 2 usage error or request refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests
from rich.console import Console

from skydriver import __version__

from .client import RequestRefused, SkyDriverClient
from .follow import follow
from .scan_view import ScanView, describe_outcome

DONE, SCAN_FAILED, REFUSED = 0, 1, 2


def _pairs(text: str, what: str) -> list[tuple[str, int]]:
    """'sub-2:1234,local:2' -> [('sub-2', 1234), ('local', 2)]; the server checks the values themselves."""
    pairs = []
    for item in text.split(","):
        name, sep, count = item.strip().rpartition(":")
        if not sep or not name or not count.strip().lstrip("-").isdigit():
            raise argparse.ArgumentTypeError(f"{what} wants NAME:COUNT[,NAME:COUNT...], got {item!r}")
        pairs.append((name, int(count)))
    return pairs


def cluster_pairs(text: str) -> list[tuple[str, int]]:
    return _pairs(text, "--cluster")


def nside_pairs(text: str) -> list[tuple[str, int]]:
    return _pairs(text, "--nsides")


def event_file(text: str) -> dict[str, Any]:
    """The event message, read while parsing: a missing or broken file is a usage error (exit 2), not a traceback."""
    try:
        event = json.loads(Path(text).read_text())
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror}") from None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text} is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise argparse.ArgumentTypeError(f"{text} holds a JSON {type(event).__name__}, not an event message (an object)")
    return event


def token_file(text: str) -> str:
    """The bearer token on the file's first line."""
    try:
        lines = Path(text).read_text().strip().splitlines()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror}") from None
    if not lines:
        raise argparse.ArgumentTypeError(f"{text} is empty: it should hold the bearer token")
    return lines[0].strip()


def _scan_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "docker_tag": args.docker_tag,
        "cluster": [list(pair) for pair in args.cluster],
        "reco_algo": args.reco_algo,
        "event_i3live_json": args.event,
        "nsides": dict(args.nsides),
        "real_or_simulated_event": "simulated" if args.simulated else "real",
        "priority": args.priority,
    }
    if args.memory:
        body["memory"] = args.memory
    return body


def _print_view(console: Console, view: ScanView) -> None:
    total = f" of ~{view.pixels_predicted}" if view.pixels_predicted else ""
    console.print(f"scan {view.scan_id}: {view.scan_state or view.state}, {view.pixels_done}{total} pixels done"
                  + (", complete" if view.complete else "") + (f" ({view.reason})" if view.reason else ""),
                  highlight=False, soft_wrap=True)  # fmt: skip


def _finish(client: SkyDriverClient, console: Console, view: ScanView, output: Path | None, zoom: bool) -> int:
    """After following a scan: say how it ended, print the best fit, save the sky map."""
    succeeded, sentence = describe_outcome(view, client.result(view.scan_id, include_deleted=True))
    if not succeeded:
        console.print(f"scan {view.scan_id} failed: {sentence}", highlight=False, soft_wrap=True)
        return SCAN_FAILED
    summary = client.summary(view.scan_id, include_deleted=True)
    best, areas = summary["best_fit"], summary["contour_areas_deg2"]
    console.print(
        f"best fit: RA {best['ra_deg']:.2f} deg, Dec {best['dec_deg']:+.2f} deg (nside {best['nside']}); "
        f"50% / 90% areas {areas['50%']:.3g} / {areas['90%']:.3g} deg^2", highlight=False, soft_wrap=True,
    )  # fmt: skip
    if output:
        output.write_bytes(client.skymap_png(view.scan_id, zoom=zoom, include_deleted=True))
        console.print(f"sky map: {output}", highlight=False, soft_wrap=True)
    return DONE


def cmd_scan(client: SkyDriverClient, console: Console, args: argparse.Namespace) -> int:
    manifest = client.request_scan(_scan_body(args))
    print(manifest["scan_id"], flush=True)  # alone on stdout first: scripts can read it
    if not args.wait:
        return DONE
    view = follow(client, manifest["scan_id"], console, timeout=args.timeout)
    return _finish(client, console, view, args.output or Path(f"{manifest['scan_id']}.png"), zoom=True)


def cmd_watch(client: SkyDriverClient, console: Console, args: argparse.Namespace) -> int:
    view = follow(client, args.scan_id, console, timeout=args.timeout)
    return _finish(client, console, view, args.output, zoom=True)


def cmd_status(client: SkyDriverClient, console: Console, args: argparse.Namespace) -> int:
    manifest = client.manifest(args.scan_id)
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        _print_view(console, ScanView.from_manifest(manifest))
    return DONE


def cmd_ls(client: SkyDriverClient, console: Console, args: argparse.Namespace) -> int:
    filters: dict[str, Any] = {"state": args.state, "run_id": args.run, "event_id": args.event, "limit": args.limit}
    if args.active:
        filters["is_terminal"] = "false"
    page = client.list_scans({name: value for name, value in filters.items() if value not in (None, [])})
    for scan in page["scans"]:
        status, request = scan["status"], scan["request"]
        total = f"/{status['pixels_total']}" if status.get("pixels_total") else ""
        print(f"{scan['scan_id']}  {status['scan_state']:<44} {status['pixels_done']}{total} pixels  "
              f"run {request['run_id']} event {request['event_id']}  {request['reco_algo']}  {status['timestamps']['created']}")  # fmt: skip
    if not page["scans"]:
        console.print("no scans match", highlight=False, soft_wrap=True)
    elif page["next_cursor"]:
        console.print(f"(more: raise --limit, now {args.limit})", highlight=False, soft_wrap=True)
    return DONE


def cmd_result(client: SkyDriverClient, console: Console, args: argparse.Namespace) -> int:
    result = client.result(args.scan_id)
    text = json.dumps(result)
    if args.output:
        args.output.write_text(text)
        console.print(f"result ({'final' if result.get('is_final') else 'partial'}): {args.output}", highlight=False, soft_wrap=True)
    else:
        print(text)
    return DONE


def cmd_plot(client: SkyDriverClient, console: Console, args: argparse.Namespace) -> int:
    args.output.write_bytes(client.skymap_png(args.scan_id, zoom=args.zoom))
    console.print(f"sky map: {args.output}", highlight=False, soft_wrap=True)
    return DONE


def cmd_cancel(client: SkyDriverClient, console: Console, args: argparse.Namespace) -> int:
    _print_view(console, ScanView.from_manifest(client.cancel(args.scan_id)))
    return DONE


def cmd_logs(client: SkyDriverClient, console: Console, args: argparse.Namespace) -> int:
    for line in client.logs(args.scan_id, args.container, args.tail)["lines"]:
        print(line)
    return DONE


def cmd_rescan(client: SkyDriverClient, console: Console, args: argparse.Namespace) -> int:
    overrides = {name: value for name, value in (("docker_tag", args.docker_tag), ("priority", args.priority)) if value is not None}
    manifest = client.rescan(args.scan_id, overrides)
    print(manifest["scan_id"], flush=True)
    console.print(f"scan {args.scan_id} is rescanned as {manifest['scan_id']}", highlight=False, soft_wrap=True)
    return DONE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skydriver", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("SKYDRIVER_URL", "http://127.0.0.1:8080"),
                        help="SkyDriver's address (env SKYDRIVER_URL)")  # fmt: skip
    parser.add_argument("--token", help="bearer token (else --token-file, else env SKYDRIVER_TOKEN)")
    parser.add_argument("--token-file", type=token_file, help="file whose first line is the bearer token")
    parser.add_argument("--version", action="version", version=f"skydriver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("serve", help="run the SkyDriver server (settings from the environment, see the README)")

    scan = commands.add_parser("scan", help="request a scan of an event; prints its scan id")
    scan.add_argument("event", type=event_file, help="the realtime event message (JSON file)")
    scan.add_argument("--reco-algo", required=True)
    scan.add_argument("--nsides", type=nside_pairs, required=True, help="NSIDE:EXTENSION,... e.g. 8:0,64:12,512:24")
    scan.add_argument("--cluster", type=cluster_pairs, required=True, help="NAME:WORKERS,... e.g. sub-2:1000")
    scan.add_argument("--docker-tag", default="latest")
    scan.add_argument("--priority", type=int, default=0, help=">= 100 is a realtime alert")
    scan.add_argument("--memory", help="per worker, e.g. 8GB (server default otherwise)")
    scan.add_argument("--simulated", action="store_true", help="the event is simulated, not real")
    scan.add_argument("--wait", action="store_true", help="follow the scan to the end, then save its sky map")
    scan.add_argument("-o", "--output", type=Path, help="with --wait: sky map file (default SCAN_ID.png)")
    scan.add_argument("--timeout", type=float, help="with --wait: stop following after this many seconds")

    for name, text in (("status", "where a scan is"), ("cancel", "abort a scan: stop everything, mark it deleted")):
        commands.add_parser(name, help=text).add_argument("scan_id")
    commands.choices["status"].add_argument("--json", action="store_true", help="the whole manifest, as JSON")

    watch = commands.add_parser("watch", help="follow a scan (anyone's) live until it ends")
    watch.add_argument("scan_id")
    watch.add_argument("-o", "--output", type=Path, help="save the sky map here when it ends")
    watch.add_argument("--timeout", type=float)

    ls = commands.add_parser("ls", help="scans, newest first (GET /scans/list)")
    ls.add_argument("--state", action="append", default=[], help="a state code or its prefix (IN_PROGRESS, FAILED...); repeatable")
    ls.add_argument("--active", action="store_true", help="only scans that have not ended")
    ls.add_argument("--run", type=int)
    ls.add_argument("--event", type=int)
    ls.add_argument("--limit", type=int, default=20)

    result = commands.add_parser("result", help="the scan's result (JSON)")
    result.add_argument("scan_id")
    result.add_argument("-o", "--output", type=Path)

    logs = commands.add_parser("logs", help="the last lines of a scan's server (or starter) log")
    logs.add_argument("scan_id")
    logs.add_argument("--container", default="server", help="server, or starter-N")
    logs.add_argument("--tail", type=int, default=200)

    rescan = commands.add_parser("rescan", help="scan the same event again (prints the new scan id)")
    rescan.add_argument("scan_id")
    rescan.add_argument("--docker-tag")
    rescan.add_argument("--priority", type=int)

    plot = commands.add_parser("plot", help="the scan's sky map as PNG")
    plot.add_argument("scan_id")
    plot.add_argument("-o", "--output", type=Path, required=True)
    plot.add_argument("--zoom", action="store_true", help="zoom on the best fit")
    return parser


COMMANDS = {
    "scan": cmd_scan, "status": cmd_status, "watch": cmd_watch, "ls": cmd_ls, "result": cmd_result,
    "plot": cmd_plot, "cancel": cmd_cancel, "logs": cmd_logs, "rescan": cmd_rescan,
}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from skydriver.serve import main as serve

        return serve()
    console = Console(stderr=True)
    token = (args.token or "").strip() or args.token_file or os.environ.get("SKYDRIVER_TOKEN", "").strip()
    client = SkyDriverClient(args.url, token or None)
    try:
        return COMMANDS[args.command](client, console, args)
    except RequestRefused as exc:
        console.print(f"SkyDriver refused: {exc}", highlight=False, soft_wrap=True)
        return REFUSED
    except requests.ConnectionError:
        console.print(f"cannot reach SkyDriver at {args.url} (is it running? see --url / SKYDRIVER_URL)", highlight=False, soft_wrap=True)
        return REFUSED


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
