"""Follow a scan until it ends, from its progress stream: a live rich progress bar on a terminal, plain lines
otherwise. A dropped stream (a SkyDriver restart, a proxy) is resumed with Last-Event-ID."""

from __future__ import annotations

import time

import requests
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .client import SkyDriverClient
from .scan_view import ScanView

RECONNECTS = 20


class PixelRateColumn(ProgressColumn):
    """Pixels reconstructed per second, as rich estimates it from the updates (its ETA uses the same estimate)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} pixels/s" if speed else "– pixels/s", style="progress.data.speed")


class _Rate:
    """Pixels per second since the first pixel was seen, for the plain lines (rich keeps its own for the bar)."""

    def __init__(self) -> None:
        self.first: tuple[float, int] | None = None

    def line(self, view: ScanView, now: float) -> str:
        if view.pixels_done and self.first is None:
            self.first = (now, view.pixels_done)
        if self.first is None or now <= self.first[0] or view.pixels_done <= self.first[1]:
            return ""
        rate = (view.pixels_done - self.first[1]) / (now - self.first[0])
        left = (view.pixels_predicted or 0) - view.pixels_done
        return f", {rate:.1f} pixels/s" + (f", ETA {left / rate:.0f} s" if left > 0 and not view.ended else "")


def _plain_line(view: ScanView, rate: str = "") -> str:
    total = f"/{view.pixels_predicted}" if view.pixels_predicted else ""
    return f"{view.scan_id}  {view.state:<9}  {view.pixels_done}{total} pixels{rate}"


class _Display:
    """A rich bar on a terminal; one plain line per change otherwise (logs, pipes, CI)."""

    def __init__(self, console: Console, scan_id: str):
        self.console = console
        self.last_line = ""
        self.rate = _Rate()
        self.progress: Progress | None = None
        if console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]{task.fields[state]:<9}"), BarColumn(), MofNCompleteColumn(), TextColumn("pixels"),
                PixelRateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
            )  # fmt: skip
            self.task = self.progress.add_task(scan_id, total=None, state="")
            self.progress.start()

    def show(self, view: ScanView) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=view.pixels_done, total=view.pixels_predicted, state=view.state)
        elif (line := _plain_line(view, self.rate.line(view, time.monotonic()))) != self.last_line:
            self.console.print(line, highlight=False, soft_wrap=True)
            self.last_line = line

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def follow(client: SkyDriverClient, scan_id: str, console: Console, timeout: float | None = None) -> ScanView:
    """Show the scan's progress until it ends (or `timeout` seconds pass); return the last view."""
    deadline = None if timeout is None else time.monotonic() + timeout
    display = _Display(console, scan_id)
    view = ScanView.from_manifest(client.manifest(scan_id, include_deleted=True))
    last_id = None
    try:
        for _attempt in range(RECONNECTS):
            try:
                for kind, event_id, snapshot in client.events(scan_id, last_id):
                    last_id = event_id  # where a reconnect resumes
                    view = ScanView.from_snapshot(snapshot)
                    display.show(view)
                    if kind == "end" or view.ended or (deadline is not None and time.monotonic() > deadline):
                        return view
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(2)
            if view.ended or (deadline is not None and time.monotonic() > deadline):
                return view
    finally:
        display.close()
    return view
