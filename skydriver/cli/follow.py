"""Follow a scan until it ends: a live rich progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .client import SkyDriverClient
from .scan_view import ScanView


def _plain_line(view: ScanView) -> str:
    total = f"/{view.pixels_predicted}" if view.pixels_predicted else ""
    return f"{view.scan_id}  {view.state:<9}  {view.pixels_done}{total} pixels"


def follow(
    client: SkyDriverClient, scan_id: str, console: Console, poll_seconds: float = 1.0, timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ScanView:  # fmt: skip
    """Poll the manifest until the scan has ended (or `timeout` seconds pass); return the last view."""
    deadline = None if timeout is None else time.monotonic() + timeout
    view = ScanView.from_manifest(client.manifest(scan_id))
    if not console.is_terminal:
        last = ""
        while True:
            if (line := _plain_line(view)) != last:
                console.print(line, highlight=False, soft_wrap=True)
                last = line
            if view.ended or (deadline is not None and time.monotonic() > deadline):
                return view
            sleep(poll_seconds)
            view = ScanView.from_manifest(client.manifest(scan_id))

    columns = (
        TextColumn("[bold]{task.fields[state]:<9}"), BarColumn(), MofNCompleteColumn(), TextColumn("pixels"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(scan_id, total=view.pixels_predicted, state=view.state)
        while True:
            progress.update(task, completed=view.pixels_done, total=view.pixels_predicted, state=view.state)
            if view.ended or (deadline is not None and time.monotonic() > deadline):
                return view
            sleep(poll_seconds)
            view = ScanView.from_manifest(client.manifest(scan_id))
