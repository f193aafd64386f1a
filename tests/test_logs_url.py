"""The status's ``logs_url``: SKYDRIVER_LOGS_URL_TEMPLATE filled in with the scan id and its time window."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from skydriver.config import Settings
from skydriver.database.records import ScanRecord
from skydriver.errors import ConfigError
from skydriver.scan_status import logs_url
from skydriver.server import start
from tests.conftest import make_settings, scan_body, token
from tests.http_client import HttpClient

GRAFANA = "https://grafana.icecube.aq/d/skyscan/scan-logs?var-scan_id={scan_id}&from={start_ms}&to={end_ms}"
KIBANA = "https://kibana.icecube.aq/app/discover#/?_g=(time:(from:'{start}',to:'{end}'))&_a=(query:'scan_id:{scan_id}')"
CREATED = dt.datetime(2026, 11, 28, 4, 0, 30, 250000, tzinfo=dt.UTC)
SCAN_ID = "0123456789abcdef0123456789abcdef"


def test_a_running_scans_window_runs_from_a_minute_before_its_creation_to_now() -> None:
    doc = ScanRecord.from_doc({"scan_id": SCAN_ID, "created": CREATED, "times": {"launched": CREATED + dt.timedelta(seconds=5)}})
    assert logs_url(doc, GRAFANA) == (
        f"https://grafana.icecube.aq/d/skyscan/scan-logs?var-scan_id={SCAN_ID}&from=1795838370250&to=now"
    )
    assert logs_url(doc, KIBANA) == (
        "https://kibana.icecube.aq/app/discover#/?_g=(time:(from:'2026-11-28T03:59:30Z',to:'now'))"
        f"&_a=(query:'scan_id:{SCAN_ID}')"
    )


def test_an_ended_scans_window_ends_a_minute_after_it_ended() -> None:
    doc = ScanRecord.from_doc({"scan_id": SCAN_ID, "created": CREATED, "times": {"ended": CREATED + dt.timedelta(hours=2)}})
    assert logs_url(doc, "{start}/{end} {start_ms}-{end_ms}") == (
        "2026-11-28T03:59:30Z/2026-11-28T06:01:30Z 1795838370250-1795845690250"
    )


def test_no_template_no_link() -> None:
    assert logs_url(ScanRecord(SCAN_ID, created=CREATED), "") is None


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("https://logs/{scan}", "unknown field {scan}: the fields are {scan_id}, {start}, {end}, {start_ms}, {end_ms}"),
        ("https://logs/{}", "unknown field {}"),
        ("https://logs/{scan_id", "not a format string (expected '}' before end of string)"),
        ('https://grafana/explore?left={"range":{"from":"{start_ms}"}}', "unknown field {\"range\""),
    ],
)
def test_a_template_the_status_could_not_fill_is_refused_at_start(template: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"SKYDRIVER_AUTH": "off", "SKYDRIVER_LOGS_URL_TEMPLATE": template})
    assert str(raised.value).startswith(f"SKYDRIVER_LOGS_URL_TEMPLATE={template!r}: ") and words in str(raised.value)


def test_literal_braces_are_written_twice() -> None:
    template = 'https://grafana/explore?left={{"range":{{"from":"{start_ms}","to":"{end_ms}"}}}}'
    settings = Settings.from_env({"SKYDRIVER_AUTH": "off", "SKYDRIVER_LOGS_URL_TEMPLATE": template})
    doc = ScanRecord(SCAN_ID, created=CREATED)
    assert logs_url(doc, settings.logs_url_template) == 'https://grafana/explore?left={"range":{"from":"1795838370250","to":"now"}}'


async def test_the_status_the_manifest_and_the_list_carry_the_link(mongo_uri: str, tmp_path: Path, modern_event: dict) -> None:
    driver = await start(make_settings(mongo_uri, tmp_path, {"SKYDRIVER_LOGS_URL_TEMPLATE": GRAFANA}))
    try:
        user = HttpClient(driver.address, token("user"))
        scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
        created = (await driver.database.manifests.get(scan_id)).created
        start_ms = int((created - dt.timedelta(minutes=1)).timestamp() * 1000)

        status = (await user.get(f"/scan/{scan_id}/status")).json()
        assert status["logs_url"] == GRAFANA.format(scan_id=scan_id, start_ms=start_ms, end_ms="now")
        assert (await user.get(f"/scan/manifest/{scan_id}")).json()["status"]["logs_url"] == status["logs_url"]
        [listed] = (await user.get("/scans/list")).json()["scans"]
        assert listed["status"]["logs_url"] == status["logs_url"]

        await user.delete(f"/scan/manifest/{scan_id}")  # not launched: ended at once
        ended = (await user.get(f"/scan/{scan_id}/status", query={"include_deleted": "true"})).json()
        end_ms = int((dt.datetime.fromisoformat(ended["timestamps"]["ended"]) + dt.timedelta(minutes=1)).timestamp() * 1000)
        assert ended["logs_url"] == GRAFANA.format(scan_id=scan_id, start_ms=start_ms, end_ms=end_ms)
    finally:
        await driver.stop()


async def test_without_a_template_the_link_is_null(user: HttpClient, modern_event: dict) -> None:
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    assert (await user.get(f"/scan/{scan_id}/status")).json()["logs_url"] is None
