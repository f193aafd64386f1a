"""The dashboard in a real headless Chromium against a real SkyDriver running real local scans.

Chromium comes from the distribution's package (`.ci/run` installs it); where it is missing the test is skipped
with that reason. Screenshots are written under the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright, expect

from scanner_client.local_schedd import LocalSchedd
from skydriver.config import Settings
from skydriver.server import SkyDriver, start
from tests.conftest import make_settings, scan_body, token
from tests.http_client import HttpClient
from tests.local_scan_processes import scan_processes
from tests.scan_api import wait_torn_down

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
NSIDES = {"8": 0, "16": 4, "32": 4}
LOGS_URL_TEMPLATE = "https://grafana.example.org/explore?scan={scan_id}&from={start_ms}&to={end_ms}"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install Debian's chromium package (.ci/run does)"),
]


@pytest.fixture
def local_settings(local_settings: Settings) -> Settings:
    """With a log viewer configured, as operators would: the scan page links to it."""
    return dataclasses.replace(local_settings, logs_url_template=LOGS_URL_TEMPLATE)


@pytest.fixture
async def page() -> Any:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1100, "height": 1400})
        yield page
        await browser.close()


async def sign_in(page: Any, address: str) -> None:
    """As a person would: the page asks for a token (the API said 401), it is pasted and kept for the tab (in its
    session storage, sent as the Authorization header: never a cookie)."""
    await page.goto(f"{address}/dashboard/scan.html?id={'0' * 32}")
    await page.locator("#token-box input").fill(token("user"))
    await page.locator("#token-box button").click()
    await page.wait_for_load_state()
    assert await page.context.cookies() == []


async def test_the_scan_page_follows_a_real_scan_to_its_sky_map(local_driver: SkyDriver, page: Any, modern_event: dict, tmp_path: Path) -> None:
    user = HttpClient(local_driver.address, token("user"))
    response = await user.post("/scan", scan_body(modern_event, cluster={"local": 2}, reco_algo="dummy", nsides=NSIDES))
    scan_id = response.json()["scan_id"]
    await sign_in(page, local_driver.address)

    await page.goto(f"{local_driver.address}/dashboard/scan.html?id={scan_id}")
    # (locator checks only: the page's Content-Security-Policy forbids the eval that wait_for_function needs)
    await expect(page.locator("#bar-fill")).to_have_attribute("style", re.compile(r"width: [1-9]"), timeout=90_000)
    await page.screenshot(path=str(tmp_path / "scan-in-progress.png"), full_page=True)
    await expect(page.locator("#skymap-figure")).to_be_visible(timeout=90_000)
    await expect(page.locator("#skymap")).to_have_attribute("src", re.compile("^blob:"))
    await expect(page.locator("#fits")).to_be_visible()

    await expect(page.locator("#state")).to_have_text("SCAN_HAS_FINAL_RESULT", timeout=90_000)
    summary = (await user.get(f"/scan/{scan_id}/result/summary")).json()
    final_counts = ", ".join(f"{nside}: {count}" for nside, count in summary["pixel_counts"].items())
    # the page ends on the final result's numbers and map, not on a partial one that rendered late
    await expect(page.locator("#summary")).to_contain_text(final_counts, timeout=30_000)
    await expect(page.locator("#summary")).to_contain_text(f"RA {summary['best_fit']['ra_deg']:.2f}°")
    assert "3.5.2" in await page.locator("#launch").inner_text()
    await expect(page.locator("#logs")).not_to_have_text(re.compile("^(not read yet|no log)"))
    await page.wait_for_timeout(3000)  # the final map's image decodes
    await page.screenshot(path=str(tmp_path / "scan-finished.png"), full_page=True)

    page.on("dialog", lambda dialog: dialog.accept())
    await page.locator("#rescan").click()  # a new scan of the same event, and its page
    await expect(page.locator("#scan-id")).not_to_have_text(scan_id, timeout=30_000)
    new_id = await page.locator("#scan-id").inner_text()
    manifest = (await user.get(f"/scan/manifest/{new_id}", query={"include_event": "false"})).json()
    assert manifest["rescan_of"] == scan_id
    assert (await user.delete(f"/scan/manifest/{new_id}")).status == 200
    for torn_down in (scan_id, new_id):  # their processes are stopped before this SkyDriver is (none outlives the test)
        await wait_torn_down(user, torn_down, local_driver.settings.data_dir)


async def test_cancel_on_the_scan_page_stops_a_running_scan(local_driver: SkyDriver, page: Any, modern_event: dict, tmp_path: Path) -> None:
    user = HttpClient(local_driver.address, token("user"))
    body = scan_body(modern_event, cluster={"local": 1}, reco_algo="dummy", nsides={"8": 0, "64": 12, "512": 12})
    scan_id = (await user.post("/scan", body)).json()["scan_id"]
    await sign_in(page, local_driver.address)
    await page.goto(f"{local_driver.address}/dashboard/scan.html?id={scan_id}")
    await expect(page.locator("#state")).to_have_text(re.compile("^IN_PROGRESS__"), timeout=60_000)
    assert scan_processes(local_driver.settings.data_dir, scan_id)  # running: its server, starter and worker

    page.on("dialog", lambda dialog: dialog.accept())
    await page.locator("#cancel").click()
    await expect(page.locator("#state")).to_have_text(re.compile("^ABORTED__"), timeout=60_000)
    await page.screenshot(path=str(tmp_path / "scan-cancelled.png"), full_page=True)

    manifest = (await user.get(f"/scan/manifest/{scan_id}", query={"include_deleted": "true", "include_event": "false"})).json()
    assert manifest["is_deleted"] is True
    status = await wait_torn_down(user, scan_id, local_driver.settings.data_dir)  # every one of its processes stopped
    assert status["scan_state"].startswith("ABORTED__")
    await expect(page.locator("#cancel")).to_be_disabled()


async def test_the_scan_table_lists_scans_with_their_state_and_filters_them(local_driver: SkyDriver, page: Any, modern_event: dict,
                                                                            tmp_path: Path) -> None:  # fmt: skip
    user = HttpClient(local_driver.address, token("user"))
    finished = (await user.post("/scan", scan_body(modern_event, cluster={"local": 2}, reco_algo="dummy", nsides=NSIDES))).json()["scan_id"]
    await sign_in(page, local_driver.address)
    await page.goto(f"{local_driver.address}/")  # `/` leads to the table
    row = page.locator("#scans tbody tr", has=page.locator(f'a[title="{finished}"]'))
    await expect(row).to_contain_text("SCAN_HAS_FINAL_RESULT", timeout=90_000)  # refreshed live as the scan runs
    await expect(row).to_contain_text("138632 / 31747601")
    await expect(row).to_contain_text("dummy")
    await expect(row.locator(".bar > div")).to_have_attribute("style", re.compile(r"width: 100(\.0)?%"))
    logs = row.locator("td.logs a", has_text="open")  # SKYDRIVER_LOGS_URL_TEMPLATE's link, as on the scan page
    await expect(logs).to_have_attribute("href", re.compile(f"^https://grafana.example.org/explore\\?scan={finished}&from=\\d+&to=(\\d+|now)$"))  # `now` until torn down
    await expect(page.locator("#scans th.logs")).to_be_visible()
    await page.screenshot(path=str(tmp_path / "scan-table.png"), full_page=True)

    await page.locator('#filters input[name="state"]').fill("IN_PROGRESS")
    await page.locator("#filters button").click()
    await expect(row).to_have_count(0)
    await expect(page.locator("#message")).to_have_text("no scans match")

    await page.locator('#filters input[name="state"]').fill("SCAN_HAS_FINAL_RESULT")
    await page.locator("#filters button").click()
    await row.locator("td.mono a").click()
    await expect(page.locator("#scan-id")).to_have_text(finished)
    await wait_torn_down(user, finished, local_driver.settings.data_dir)


async def test_the_scan_page_says_why_a_scan_failed(local_driver: SkyDriver, local_settings: Settings, page: Any, modern_event: dict,
                                                   tmp_path: Path) -> None:  # fmt: skip
    """HTCondor holds every worker: the page shows the failure's source, code and hold reason, and links the logs."""
    user = HttpClient(local_driver.address, token("user"))
    body = scan_body(modern_event, cluster={"local": 2}, reco_algo="dummy", nsides={"8": 0, "64": 40})
    scan_id = (await user.post("/scan", body)).json()["scan_id"]
    await sign_in(page, local_driver.address)
    await page.goto(f"{local_driver.address}/dashboard/scan.html?id={scan_id}")
    await expect(page.locator("#launch")).to_contain_text("(2 jobs)", timeout=60_000)
    [cluster] = (await user.get(f"/scan/manifest/{scan_id}", query={"include_event": "false"})).json()["condor_clusters"]
    schedd = LocalSchedd("localhost", "localhost", local_settings.data_dir / "scans" / scan_id / "jobs", "unused")
    for proc_id in (0, 1):
        await asyncio.to_thread(schedd.hold, cluster["cluster_id"], proc_id, "Job has gone over memory limit of 8192 megabytes.")

    await expect(page.locator("#state")).to_have_text(re.compile("^FAILED__"), timeout=60_000)
    await expect(page.locator("#reason")).to_contain_text("every worker of the scan's 1 HTCondor cluster is held")
    await expect(page.locator("#failure")).to_have_text("htcondor ALL_WORKERS_HELD")
    await expect(page.locator("#launch")).to_contain_text("2 held: Job has gone over memory limit", timeout=30_000)
    link = page.locator("#launch a", has_text="open in the log viewer")
    viewer = f"^https://grafana.example.org/explore\\?scan={scan_id}&from=\\d+&to="
    await expect(link).to_have_attribute("href", re.compile(viewer + "(\\d+|now)$"))  # `now` until the scan has ended
    await page.screenshot(path=str(tmp_path / "scan-failed.png"), full_page=True)
    await wait_torn_down(user, scan_id, local_settings.data_dir)  # the held workers removed, every process stopped
    await expect(link).to_have_attribute("href", re.compile(viewer + "\\d+$"))  # the window's end, once it ended


async def test_the_scan_table_pages_through_older_scans(driver: SkyDriver, page: Any, modern_event: dict) -> None:
    """51 scans waiting in the backlog (no launcher): the newest 50 on the first page, the oldest on the next."""
    user = HttpClient(driver.address, token("user"))
    scan_ids = [(await user.post("/scan", scan_body(modern_event))).json()["scan_id"] for _ in range(51)]
    await sign_in(page, driver.address)
    await page.goto(f"{driver.address}/dashboard/")
    rows = page.locator("#scans tbody tr")
    await expect(rows).to_have_count(50, timeout=30_000)
    await expect(rows.first.locator("a")).to_have_attribute("title", scan_ids[-1])
    await expect(page.locator("#scans th.logs")).to_be_hidden()  # no log viewer configured: no empty column

    await page.locator("#next-page").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator("a")).to_have_attribute("title", scan_ids[0])
    await expect(page.locator("#next-page")).to_be_disabled()
    await page.locator("#first-page").click()
    await expect(rows).to_have_count(50)


async def test_with_auth_off_on_loopback_the_dashboard_needs_no_token(mongo_uri: str, tmp_path: Path, page: Any, modern_event: dict) -> None:
    running = await start(make_settings(mongo_uri, tmp_path, {"SKYDRIVER_AUTH": "off"}))
    try:
        scan_id = (await HttpClient(running.address).post("/scan", scan_body(modern_event))).json()["scan_id"]
        await page.goto(f"{running.address}/")
        await expect(page.locator("#scans tbody tr a")).to_have_attribute("title", scan_id)
        await expect(page.locator("#token-box input")).to_have_count(0)  # never asked for one
        await page.goto(f"{running.address}/dashboard/scan.html?id={scan_id}")
        await expect(page.locator("#state")).to_have_text("PENDING__PRESTARTUP")
        assert await page.context.cookies() == []
    finally:
        await running.stop()
