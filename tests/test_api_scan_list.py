"""GET /scans/list (filters, newest first, pages) and GET /scans/backlog (launch order), with their bad input."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from tests.conftest import scan_body
from tests.http_client import HttpClient
from tests.test_api_scan_events import progress_report


async def post(user: HttpClient, event: dict[str, Any], priority: int = 0) -> str:
    response = await user.post("/scan", scan_body(event, priority=priority))
    assert response.status == 200, response
    return str(response.json()["scan_id"])


async def listed(user: HttpClient, **query: Any) -> dict[str, Any]:
    response = await user.get("/scans/list", query=query)
    assert response.status == 200, response
    return response.json()


async def scans_in_every_state(user: HttpClient, system: HttpClient, event: dict[str, Any], result_text: str) -> dict[str, str]:
    """Five scans, oldest first: waiting (priority 5), waiting, scanning, finished, deleted."""
    ids = {name: await post(user, event, priority=5 if name == "urgent" else 0) for name in ("urgent", "waiting", "scanning", "finished", "deleted")}
    assert (await system.patch(f"/scan/manifest/{ids['scanning']}", {"progress": progress_report(40, 768)})).status == 200
    body = b'{"is_final": true, "skyscan_result": ' + result_text.encode() + b"}"
    assert (await system.put(f"/scan/result/{ids['finished']}", raw=body)).status == 200
    assert (await user.delete(f"/scan/manifest/{ids['deleted']}")).status == 200
    return ids


async def test_the_list_filters_on_state_and_request(user: HttpClient, system: HttpClient, modern_event: dict, production_result_text: str) -> None:
    ids = await scans_in_every_state(user, system, modern_event, production_result_text)
    everything = await listed(user)
    assert [s["scan_id"] for s in everything["scans"]] == [ids[n] for n in ("finished", "scanning", "waiting", "urgent")]  # newest first
    assert everything["next_cursor"] is None
    entry = everything["scans"][1]
    assert set(entry) == {"scan_id", "status", "request"}  # never the event or the result
    assert entry["status"]["scan_state"] == "IN_PROGRESS__PARTIAL_RESULT_GENERATED" and entry["status"]["pixels_done"] == 40
    assert entry["request"] == {"run_id": 138632, "event_id": 31747601, "is_real_event": True, "reco_algo": "millipede_wilks",
                                "nsides": {"8": 0, "64": 12, "512": 24}, "docker_tag": entry["request"]["docker_tag"],
                                "clusters": [{"name": "sub-2", "n_workers": 1234}], "priority": 0}  # fmt: skip

    async def ids_of(**query: Any) -> list[str]:
        return [s["scan_id"] for s in (await listed(user, **query))["scans"]]

    assert await ids_of(state="IN_PROGRESS") == [ids["scanning"]]
    assert await ids_of(state=["SCAN_HAS_FINAL_RESULT", "PENDING__PRESTARTUP"]) == [ids["finished"], ids["waiting"], ids["urgent"]]
    assert await ids_of(is_terminal="true") == [ids["finished"]]
    assert await ids_of(state="ABORTED", include_deleted="true") == [ids["deleted"]]
    assert await ids_of(state="ABORTED") == []
    assert await ids_of(priority=5) == [ids["urgent"]]
    assert await ids_of(run_id=138632, event_id=31747601, state="PENDING") == [ids["waiting"], ids["urgent"]]
    assert await ids_of(run_id=1) == []
    in_the_future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert await ids_of(created_after=in_the_future) == [] and len(await ids_of(created_before=in_the_future)) == 4


async def test_pages_follow_the_cursor_without_gaps_or_repeats(user: HttpClient, modern_event: dict) -> None:
    posted = [await post(user, modern_event) for _ in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        page = await listed(user, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [s["scan_id"] for s in page["scans"]]
        pages += 1
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == posted[::-1] and pages == 3


async def test_the_backlog_is_in_launch_order(user: HttpClient, modern_event: dict) -> None:
    first, urgent, second = await post(user, modern_event), await post(user, modern_event, priority=100), await post(user, modern_event)
    deleted = await post(user, modern_event, priority=200)
    assert (await user.delete(f"/scan/manifest/{deleted}")).status == 200
    response = await user.get("/scans/backlog")
    assert response.status == 200
    scans = response.json()["scans"]
    assert [s["scan_id"] for s in scans] == [urgent, first, second]
    assert (scans[0]["priority"], scans[0]["attempts"]) == (100, 0) and scans[1]["created"] < scans[2]["created"]
    assert [s["scan_id"] for s in (await user.get("/scans/backlog", query={"limit": 1})).json()["scans"]] == [urgent]


async def test_bad_list_arguments_are_400s_naming_them(user: HttpClient) -> None:
    for query, named in [
        ({"state": "RUNNING"}, "'state'"), ({"state": "IN_PROGRESS__NOPE"}, "'state'"), ({"limit": 0}, "'limit'"),
        ({"limit": 1001}, "'limit'"), ({"cursor": "not-a-cursor"}, "'cursor'"), ({"cursor": "W10="}, "'cursor'"),
        ({"is_terminal": "maybe"}, "'is_terminal'"), ({"created_after": "yesterday"}, "'created_after'"), ({"colour": "red"}, "'colour'"),
        ({"event_id": -(2**73)}, "'event_id'"), ({"run_id": 2**63}, "'run_id'"), ({"priority": 2**64}, "'priority'"),
    ]:  # fmt: skip
        response = await user.get("/scans/list", query=query)
        assert response.status == 400 and named in response.json()["error"], (query, response)
    assert (await user.get("/scans/backlog", query={"limit": 5000})).status == 400


async def test_without_a_launcher_a_loop_still_watches_the_running_scans_for_lists(driver: Any) -> None:
    """No reconcile pass runs with launching paused; the list upkeep loop does its read (keys, watches) at start."""
    assert "list-upkeep" in {task.get_name() for task in driver.background}
    for _ in range(100):
        if driver.database.manifests.silences_watched:
            break
        await asyncio.sleep(0.05)
    assert driver.database.manifests.silences_watched
