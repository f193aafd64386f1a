"""What operators look at: /healthz, /readyz, /metrics, the access log and log formats, start-up failures."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import ipaddress
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from skydriver.config import Settings
from skydriver.database import open_database
from skydriver.database.records import ScanRecord
from skydriver.errors import ConfigError
from skydriver.logs import ContextFilter, DropRestToolsStartLine, JsonFormatter, about_scan, configure_logging
from skydriver.metrics import Metrics
from skydriver.readiness import Readiness
from skydriver.rest.routes import ROUTES
from skydriver.scan_status import STATE_CODES, scan_state
from skydriver.server import SkyDriver, start
from tests.conftest import make_settings, scan_body, token
from tests.http_client import HttpClient
from tests.test_scan_list_paging import spread_scans
from tests.test_scan_status import STALL_AFTER

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


async def test_readiness_fails_when_the_database_does_not_answer_within_a_second() -> None:
    """A server that accepts connections and never answers (a hung database): readiness gives up after 1 s."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections wait in its backlog, never answered
        client: AsyncMongoClient = AsyncMongoClient(f"mongodb://127.0.0.1:{silent.getsockname()[1]}/?directConnection=true",
                                                    serverSelectionTimeoutMS=30_000)  # fmt: skip
        try:
            began = time.monotonic()
            ready, checks = await Readiness(types.SimpleNamespace(db=client["skydriver"]), "none").report()  # type: ignore[arg-type]
            waited = time.monotonic() - began
        finally:
            await client.close()
    assert not ready and checks["database"]["ok"] is False and checks["database"]["error"].startswith("no answer within 1 s")
    assert waited < 10  # the 1 s limit, not the driver's 30 s server selection


FAMILIES = {  # every family the issue names: requests, scans, backlog, launches, teardowns, scanners' reports, reconcile
    "skydriver_http_requests": "counter", "skydriver_http_request_duration_seconds": "histogram",
    "skydriver_scans": "gauge", "skydriver_scans_ended": "gauge",
    "skydriver_backlog_depth": "gauge", "skydriver_backlog_oldest_age_seconds": "gauge",
    "skydriver_launches": "counter", "skydriver_launch_latency_seconds": "histogram",
    "skydriver_teardowns": "counter", "skydriver_teardown_latency_seconds": "histogram",
    "skydriver_progress_reports": "counter", "skydriver_results": "counter", "skydriver_result_bytes": "counter",
    "skydriver_reconcile_runs": "counter", "skydriver_reconcile_duration_seconds": "histogram",
    "skydriver_reconcile_found": "counter", "skydriver_embedded_database_restarts": "gauge",
}  # fmt: skip


def samples(exposition: str) -> dict[str, float]:
    """Series -> value, from the text exposition."""
    lines = [line.rsplit(" ", 1) for line in exposition.splitlines() if line.startswith("skydriver_")]
    return {series: float(value) for series, value in lines}


PATHS = 300  # requests for unknown scans, each its own path


async def test_metrics_families_and_bounded_cardinality_after_1000_scans(driver: SkyDriver, user: HttpClient, system: HttpClient,
                                                                         modern_event: dict) -> None:  # fmt: skip
    scan_ids = [(await user.post("/scan", scan_body(modern_event))).json()["scan_id"] for _ in range(3)]
    progress = {"progress": {"summary": "", "epilogue": "", "tallies": {}, "processing_stats": {"start": {}, "runtime": {}},
                             "predictive_scanning_threshold": 1.0, "last_updated": "now"}}  # fmt: skip
    assert (await system.patch(f"/scan/manifest/{scan_ids[0]}", progress)).status == 200
    assert (await user.delete(f"/scan/manifest/{scan_ids[2]}")).status == 200  # deleted while waiting: stopped, ended
    first = (await HttpClient(driver.address).get("/metrics")).body.decode()
    for family, kind in FAMILIES.items():
        assert f"# TYPE {family}{'_total' if kind == 'counter' else ''} {kind}" in first, family
    assert samples(first)['skydriver_scans{state="PENDING__PRESTARTUP"}'] == 1
    assert samples(first)['skydriver_scans{state="IN_PROGRESS__WAITING_ON_FIRST_PIXEL_RECO"}'] == 1
    assert samples(first)['skydriver_scans_ended{launch_status="stopped"}'] == 1

    for n in range(PATHS):  # as many more scan ids and paths: none may become a label value (nor one series each)
        await user.get(f"/scan/manifest/{n:032x}", query={"include_event": "false"})
    await driver.database.manifests.collection.insert_many([dict(doc) for doc in spread_scans(1000, seed=5)])  # in every state
    driver.service.metrics.ended_recount = 0  # count the ended scans again now, not ENDED_RECOUNT after the first scrape
    scrape = await HttpClient(driver.address).get("/metrics")
    assert scrape.status == 200 and scrape.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = scrape.body.decode()

    by_state = sum(samples(text)[f'skydriver_scans{{state="{code}"}}'] for code in STATE_CODES)
    ended = sum(samples(text)[f'skydriver_scans_ended{{launch_status="{status}"}}'] for status in ("stopped", "failed"))
    assert by_state + ended == 1003  # (the teardown loop may be ending some of them meanwhile)
    assert "skydriver_backlog_depth 2.0" in text and "skydriver_progress_reports_total 1.0" in text
    assert f'requests_total{{method="GET",route="/scan/manifest/{{scan_id}}",status_class="4xx"}} {PATHS}.0' in text
    assert not re.search(r"[0-9a-f]{32}", text), "a scan id became a label value"
    assert token("user") not in text and "test-user" not in text
    labels = {label: set(re.findall(rf'{label}="([^"]*)"', text)) for label in ("route", "state", "launch_status", "outcome")}
    assert labels["route"] <= {route.path for route in ROUTES} and labels["state"] == set(STATE_CODES)
    assert labels["launch_status"] == {"stopped", "failed"} and len(labels["outcome"]) <= 5
    assert len(samples(text)) < PATHS  # one series per route, status class, state...: never one per scan or path


async def test_scans_are_counted_by_their_derived_state_and_ended_ones_by_launch_status(mongo_uri: str, tmp_path: Path) -> None:
    database = await open_database(make_settings(mongo_uri, tmp_path))  # no background loops: the scans stay as stored
    try:
        stored = spread_scans(1000, seed=5)
        await database.manifests.collection.insert_many([dict(doc) for doc in stored])
        metrics = Metrics()
        text = (await metrics.scrape(database, STALL_AFTER)).decode()
        now = dt.datetime.now(dt.UTC)
        await database.manifests.collection.insert_many([dict(doc) for doc in spread_scans(100, seed=6)])
        again = (await metrics.scrape(database, STALL_AFTER)).decode()
    finally:
        await database.close()
    ended_series = [series for series in samples(text) if series.startswith("skydriver_scans_ended")]
    assert {s: samples(again)[s] for s in ended_series} == {s: samples(text)[s] for s in ended_series}  # until ENDED_RECOUNT
    def not_ended(exposition: str) -> float:
        return sum(samples(exposition)[f'skydriver_scans{{state="{code}"}}'] for code in STATE_CODES)

    assert not_ended(again) > not_ended(text)  # while the scans not ended are read on every scrape
    ended = [doc for doc in stored if doc["launch"]["status"] in ("stopped", "failed")]
    states = collections.Counter(scan_state(ScanRecord.from_doc(d), now, STALL_AFTER)[0] for d in stored if d not in ended)
    gauge = {code: samples(text)[f'skydriver_scans{{state="{code}"}}'] for code in STATE_CODES}
    assert gauge == {code: states[code] for code in STATE_CODES}
    assert len([code for code, n in states.items() if n]) >= 10, "the scans should be in many states"
    failed = sum(doc["launch"]["status"] == "failed" for doc in ended)
    assert samples(text)['skydriver_scans_ended{launch_status="failed"}'] == failed > 0
    assert samples(text)['skydriver_scans_ended{launch_status="stopped"}'] == len(ended) - failed > 0


async def test_metrics_without_a_token_are_for_clients_in_the_metrics_networks(driver: SkyDriver) -> None:
    assert (await HttpClient(driver.address).get("/metrics")).status == 200  # loopback is in the default networks
    elsewhere = await start(dataclasses.replace(driver.settings, metrics_networks=(ipaddress.ip_network("10.42.0.0/16"),), rest_port=0))
    try:
        refused = await HttpClient(elsewhere.address).get("/metrics")
        assert refused.status == 403 and "METRICS_NETWORKS" in refused.json()["error"]
        # naming an address inside the networks in the proxies' headers does not help: the socket's peer is loopback
        spoofed = await HttpClient(elsewhere.address).get("/metrics", headers={"X-Real-IP": "10.42.0.5"})
        assert spoofed.status == 403 and "not 127.0.0.1" in spoofed.json()["error"]
    finally:
        await elsewhere.stop()
    proxied = await HttpClient(driver.address).get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert proxied.status == 403  # a proxy on loopback forwarding an outside client's request


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


def test_log_level_and_format_are_settings(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.from_env({"SKYDRIVER_AUTH": "off", "LOG_LEVEL": "warning", "LOG_FORMAT": "JSON"})
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(settings.log_level, settings.log_format)
        logging.getLogger("skydriver.scans").info("not shown at WARNING")
        with about_scan("c" * 32):
            logging.getLogger("skydriver.teardown").warning("shown")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["level"], line["message"], line["scan_id"]) for line in lines] == [("WARNING", "shown", "c" * 32)]
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Settings.from_env({"SKYDRIVER_AUTH": "off", "LOG_FORMAT": "xml"})


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
