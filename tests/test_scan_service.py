"""The service core on a real database, without HTTP and without background loops: ``ScanService`` as the handlers
call it, then the backlog runner and the teardown loop each driven one step at a time, as their loops would."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from examples.sample_data import PRODUCTION_RESULT
from skydriver import json_codec
from skydriver.backlog_runner import BacklogRunner
from skydriver.config import Settings
from skydriver.database import Database
from skydriver.database.manifests import now
from skydriver.database.records import LaunchStatus
from skydriver.docker_tags import DockerTagResolver
from skydriver.errors import ArgumentError, IdempotencyConflict, ScanNotFound
from skydriver.metrics import Metrics
from skydriver.models import ManifestPatch, ScanCreate
from skydriver.scan_watch import ScanWatcher
from skydriver.scans import ScanService
from skydriver.teardown import TeardownLoop
from tests.conftest import scan_body
from tests.recording_launcher import RecordingLauncher

ADDRESS = "http://skydriver.example"
CLUSTER = {"collector": "glidein-cm.icecube.wisc.edu", "schedd": "sub-2.icecube.wisc.edu", "cluster_id": 7, "jobs": 1234}


@dataclasses.dataclass
class Core:
    """What ``server.start`` wires together, minus the HTTP server and the loops."""

    database: Database
    service: ScanService
    runner: BacklogRunner
    teardown: TeardownLoop
    launcher: RecordingLauncher

    async def create(self, event: dict[str, Any], key: str | None = None, **overrides: Any) -> dict[str, Any]:
        """What POST /scan does with a parsed body."""
        args = ScanCreate.model_validate(scan_body(event, **overrides))
        return json.loads(await self.service.create(args, event, json_codec.dumps(event), key))

    async def launched(self, event: dict[str, Any]) -> str:
        scan_id = (await self.create(event))["scan_id"]
        assert await self.runner.step() and self.launcher.started == [scan_id]
        return scan_id


@pytest.fixture
def core(settings: Settings, database: Database) -> Core:
    settings = dataclasses.replace(settings, launch_interval=0.0, wait_before_teardown=0.0)
    launcher, metrics = RecordingLauncher(), Metrics()
    service = ScanService(
        settings, database, DockerTagResolver(settings.docker_tags_source, settings.docker_tags), launcher, ADDRESS,
        ScanWatcher(database, settings.stall_after), metrics,
    )  # fmt: skip
    runner = BacklogRunner(settings, database, launcher, ADDRESS, metrics)
    return Core(database, service, runner, TeardownLoop(settings, database, launcher, metrics), launcher)


async def test_create_stores_event_manifest_and_backlog_entry_and_wakes_the_runner(core: Core, modern_event: dict) -> None:
    manifest = await core.create(modern_event, docker_tag="v3.1")
    scan_id = manifest["scan_id"]
    assert core.service.scan_accepted.is_set()
    assert manifest["docker_tag"] == "3.1.4" and manifest["launch"]["status"] == "waiting"
    assert manifest["scanner_server_args"] and manifest["event_i3live_json_dict"] == modern_event
    assert [entry["scan_id"] for entry in await core.database.backlog.in_launch_order(10)] == [scan_id]
    assert json_codec.loads(await core.database.events.get_json(scan_id))[0] == modern_event
    assert json.loads(await core.service.find(138632, 31747601, True, False))["scan_ids"] == [scan_id]


async def test_create_refuses_before_storing_anything(core: Core, modern_event: dict) -> None:
    with pytest.raises(ArgumentError, match="argument 'cluster': unknown cluster 'nowhere'"):
        await core.create(modern_event, cluster={"nowhere": 1})
    assert await core.database.manifests.collection.count_documents({}) == 0
    assert await core.database.backlog.count() == 0


async def test_an_idempotency_key_returns_the_first_scan_and_refuses_another_body(core: Core, modern_event: dict) -> None:
    first = await core.create(modern_event, key="alert-1")
    assert (await core.create(modern_event, key="alert-1"))["scan_id"] == first["scan_id"]
    with pytest.raises(IdempotencyConflict, match="'alert-1' was already used for a different request"):
        await core.create(modern_event, key="alert-1", priority=5)
    assert await core.database.manifests.collection.count_documents({}) == 1


async def test_the_runner_launches_the_scan_and_reports_are_stored(core: Core, modern_event: dict) -> None:
    scan_id = await core.launched(modern_event)
    assert not await core.runner.step()  # nothing else waits
    assert (await core.database.manifests.get(scan_id)).launch.status is LaunchStatus.LAUNCHED
    await core.service.patch_manifest(scan_id, ManifestPatch.model_validate({"condor_cluster": CLUSTER}))
    again = {"condor_cluster": {**CLUSTER, "states": {"running": 1234}}}
    manifest = json.loads(await core.service.patch_manifest(scan_id, ManifestPatch.model_validate(again)))
    assert manifest["condor_clusters"] == [again["condor_cluster"]]  # the second report replaced the first's counts


async def test_a_final_result_schedules_the_teardown_which_stops_the_scan(core: Core, modern_event: dict) -> None:
    scan_id = await core.launched(modern_event)
    result = PRODUCTION_RESULT.read_bytes()
    await core.service.put_result(scan_id, result, is_final=False)
    assert (await core.database.manifests.get(scan_id)).teardown_at is None
    assert not await core.teardown.step()  # a partial result: nothing is due
    await core.service.put_result(scan_id, result, is_final=True)
    scheduled = (await core.database.manifests.get(scan_id)).teardown_at
    assert scheduled is not None and scheduled <= now() + dt.timedelta(seconds=1)  # WAIT_BEFORE_TEARDOWN is 0 here
    stored = json.loads(b"".join(await core.service.put_result(scan_id, b'{"nside-8": {}}', is_final=False)))
    assert stored["is_final"] is True  # a partial after the final one is ignored

    assert await core.teardown.step()
    assert core.launcher.stopped == [scan_id]
    scan = await core.database.manifests.get(scan_id)
    assert (scan.launch.status, scan.launch.reason, scan.complete) == (LaunchStatus.STOPPED, "finished", True)
    assert scan.teardown_at is None
    assert not await core.teardown.step()  # torn down once


async def test_delete_before_launch_leaves_nothing_to_launch_or_stop(core: Core, modern_event: dict) -> None:
    scan_id = (await core.create(modern_event))["scan_id"]
    deleted = json.loads(await core.service.delete_manifest(scan_id))
    assert deleted["is_deleted"] is True and deleted["launch"]["status"] == "stopped"
    assert not await core.runner.step() and core.launcher.started == []
    assert not await core.teardown.step() and core.launcher.stopped == []
    with pytest.raises(ScanNotFound):
        await core.service.get_manifest(scan_id, include_deleted=False)
    assert json.loads(await core.service.get_status(scan_id, include_deleted=True))["scan_state"] == "ABORTED__PRESTARTUP"


async def test_delete_of_a_running_scan_is_torn_down_at_once(core: Core, modern_event: dict) -> None:
    scan_id = await core.launched(modern_event)
    await core.service.delete_manifest(scan_id)
    assert await core.teardown.step() and core.launcher.stopped == [scan_id]
    scan = await core.database.manifests.get(scan_id, include_deleted=True)
    assert (scan.launch.status, scan.launch.reason, scan.complete) == (LaunchStatus.STOPPED, "deleted", True)
