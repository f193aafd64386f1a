"""What operators look at: /healthz, /readyz, /metrics, the access log and log formats, start-up failures."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from skydriver.logs import ContextFilter, DropRestToolsStartLine, JsonFormatter, about_scan
from skydriver.server import SkyDriver, start
from tests.conftest import scan_body, token
from tests.http_client import HttpClient

REPO = Path(__file__).resolve().parents[1]


async def test_health_is_public_and_names_the_version(driver: SkyDriver) -> None:
    response = await HttpClient(driver.address).get("/healthz")
    assert response.status == 200
    assert response.json()["status"] == "ok" and re.match(r"^\d+\.\d+", response.json()["version"])


async def test_readiness_reports_each_check_and_503_when_a_loop_died(driver: SkyDriver) -> None:
    anonymous = HttpClient(driver.address)
    ready = await anonymous.get("/readyz")
    assert ready.status == 200, ready
    checks = ready.json()["checks"]
    assert checks["database"] == {"ok": True} and checks["loop:teardown"] == {"ok": True}
    assert checks["launcher"]["launcher"] == "none" and checks["launcher"]["launching"] is False

    teardown = next(task for task in driver.background if task.get_name() == "teardown")
    teardown.cancel()
    await asyncio.gather(teardown, return_exceptions=True)
    not_ready = await anonymous.get("/readyz")
    assert not_ready.status == 503
    assert not_ready.json()["ready"] is False and not_ready.json()["checks"]["loop:teardown"] == {"ok": False, "error": "cancelled"}


async def test_metrics_families_and_bounded_cardinality_after_1000_scans(driver: SkyDriver, user: HttpClient, system: HttpClient,
                                                                         modern_event: dict) -> None:  # fmt: skip
    scan_ids = [(await user.post("/scan", scan_body(modern_event))).json()["scan_id"] for _ in range(3)]
    progress = {"progress": {"summary": "", "epilogue": "", "tallies": {}, "processing_stats": {"start": {}, "runtime": {}},
                             "predictive_scanning_threshold": 1.0, "last_updated": "now"}}  # fmt: skip
    assert (await system.patch(f"/scan/manifest/{scan_ids[0]}", progress)).status == 200
    first = (await HttpClient(driver.address).get("/metrics")).body.decode()

    for n in range(1000):  # a thousand more scan ids, as many paths: none may become a label value
        await user.get(f"/scan/manifest/{n:032x}", query={"include_event": "false"})
    scrape = await HttpClient(driver.address).get("/metrics")
    assert scrape.status == 200 and scrape.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = scrape.body.decode()

    for family in ("skydriver_http_requests_total", "skydriver_http_request_duration_seconds_bucket", "skydriver_scans",
                   "skydriver_backlog_depth", "skydriver_backlog_oldest_age_seconds", "skydriver_progress_reports_total",
                   "skydriver_result_bytes_total"):  # fmt: skip
        assert f"\n{family}" in text, family
    assert 'skydriver_scans{launch_status="waiting"} 3.0' in text
    assert "skydriver_backlog_depth 3.0" in text and "skydriver_progress_reports_total 1.0" in text
    assert 'requests_total{method="GET",route="/scan/manifest/{scan_id}",status_class="4xx"} 1000.0' in text
    assert not re.search(r"[0-9a-f]{32}", text), "a scan id became a label value"
    assert token("user") not in text and "test-user" not in text

    def series(exposition: str) -> set[str]:
        return {line.split(" ")[0] for line in exposition.splitlines() if line.startswith("skydriver_")}

    assert len(series(text)) - len(series(first)) < 40  # new routes/statuses only, not one series per scan


async def test_metrics_need_the_token_when_one_is_set(driver: SkyDriver) -> None:
    guarded = await start(dataclasses.replace(driver.settings, metrics_token="scrape-me", rest_port=0))
    try:
        assert (await HttpClient(guarded.address).get("/metrics")).status == 403
        assert (await HttpClient(guarded.address, token("user")).get("/metrics")).status == 403
        assert (await HttpClient(guarded.address, "scrape-me").get("/metrics")).status == 200
    finally:
        await guarded.stop()


async def test_one_access_line_per_request_with_the_route_template_and_no_token(
    driver: SkyDriver, user: HttpClient, modern_event: dict, caplog: pytest.LogCaptureFixture
) -> None:
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        response = await user.get(f"/scan/manifest/{scan_id}", headers={"X-Request-ID": "trace-42"})
    assert response.headers["X-Request-ID"] == "trace-42"
    access = [r for r in caplog.records if r.name == "skydriver.access"]
    assert len(access) == 1
    fields = access[0].access  # type: ignore[attr-defined]
    assert fields["route"] == "/scan/manifest/{scan_id}" and fields["status"] == 200 and fields["user"] == "test-user"
    assert all(token("user") not in r.getMessage() for r in caplog.records)


def test_json_log_lines_carry_the_scan_and_request() -> None:
    record = logging.LogRecord("skydriver.scans", logging.INFO, __file__, 1, "scan %s accepted", ("abc",), None)
    record.scan_id, record.request_id = "a" * 32, "r-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "scan abc accepted" and line["level"] == "INFO" and line["logger"] == "skydriver.scans"
    assert line["scan_id"] == "a" * 32 and line["request_id"] == "r-1" and line["timestamp"].endswith("+00:00")


def _serve(**env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB", "SKYDRIVER", "REST_"))}
    return subprocess.run([sys.executable, "-m", "skydriver"], env={**environ, **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_a_bad_setting_is_one_line_and_exit_2() -> None:
    done = _serve(REST_PORT="eighty", SKYDRIVER_AUTH="off")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "REST_PORT='eighty'" in lines[0] and "Traceback" not in done.stderr


def test_an_unreachable_database_at_start_is_one_line_and_exit_3() -> None:
    done = _serve(MONGODB_URI="mongodb://127.0.0.1:9/", MONGODB_START_TIMEOUT="2", SKYDRIVER_AUTH="off", REST_PORT="0",
                  LOG_FORMAT="json")  # fmt: skip
    assert done.returncode == 3, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.strip().splitlines()]
    assert lines[-1]["level"] == "ERROR" and "database unreachable at start" in lines[-1]["message"]
    assert "Traceback" not in done.stderr


def test_rest_tools_start_line_is_dropped_and_other_root_lines_kept() -> None:
    start_line = logging.LogRecord("root", logging.INFO, "handler.py", 1, ">>> %s", ("GET /scans",), None)
    other = logging.LogRecord("root", logging.INFO, "x.py", 1, "tornado bound to %s", ("127.0.0.1:8080",), None)
    assert not DropRestToolsStartLine().filter(start_line) and DropRestToolsStartLine().filter(other)


async def test_the_served_openapi_document_is_the_committed_one(driver: SkyDriver) -> None:
    served = await HttpClient(driver.address).get("/openapi.json")
    assert served.status == 200 and served.headers["Content-Type"].startswith("application/json")
    assert served.json() == json.loads((REPO / "schemas" / "openapi.json").read_text())
    assert "/openapi.json" in served.json()["paths"] and "/scan/{scan_id}/events" in served.json()["paths"]


def test_lines_logged_about_a_scan_by_the_background_loops_name_it() -> None:
    record = logging.LogRecord("skydriver.teardown", logging.INFO, __file__, 1, "torn down", (), None)
    with about_scan("b" * 32):
        ContextFilter().filter(record)
    after = logging.LogRecord("skydriver.teardown", logging.INFO, __file__, 1, "idle", (), None)
    ContextFilter().filter(after)
    assert json.loads(JsonFormatter().format(record))["scan_id"] == "b" * 32
    assert "scan_id" not in json.loads(JsonFormatter().format(after))
