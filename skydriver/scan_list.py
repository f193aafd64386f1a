"""GET /scans/list: scans newest first, filtered on their derived state and what was asked, a page at a time.

Pages are read newest first through the (created, scan_id) index or, when the states asked for exclude a final
result (the common state), through the stored state key of their groups (database/state_key.py: failed, aborted,
stopped, or still running), so a rare state costs the scans of its group, not every scan; a priority is read through
the (request.priority, state_key, created, scan_id) index, so it costs its own scans (of the groups asked for).
STALLED alone is derived from time among the running scans: they are read through the progress collection's watch on
their silence (database/progress.py), only those silent for STALL_AFTER. The state is derived (never stored), so every
filter is applied exactly to what was read: a request examines at most EXAMINED_PER_PAGE scans and, when a filter the
indexes cannot tell (STALLED beside other states) leaves its page short, answers with what it found and a cursor to go
on from — never an unbounded read.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from .config import Settings
from .database import Database
from .database.manifests import EPOCH, newest, now
from .database.records import ScanRecord
from .database.state_key import StateKey
from .errors import ArgumentError
from .models import ScanListArgs
from .scan_status import Outcome, is_terminal, key_of, status_view

EXAMINED_PER_PAGE = 5000
CLOCK_SKEW = dt.timedelta(days=1)  # scans another replica created "in the future" of this one's clock are listed too


def encode_cursor(created: dt.datetime, scan_id: str) -> str:
    key = json.dumps([created.isoformat(), scan_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        created, scan_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return dt.datetime.fromisoformat(created), str(scan_id)
    except (ValueError, TypeError, binascii.Error):
        raise ArgumentError("cursor", "not a cursor this server returned (use next_cursor as given)") from None


def request_summary(scan: ScanRecord) -> dict[str, Any]:
    request, lookup = scan.request, scan.lookup
    return {
        "run_id": lookup.get("run_id"), "event_id": lookup.get("event_id"), "is_real_event": lookup.get("is_real_event"),
        "reco_algo": request.get("reco_algo"), "nsides": request.get("nsides"), "docker_tag": scan.docker_tag,
        "clusters": [{"name": c["name"], "n_workers": c["n_workers"]} for c in request.get("clusters", [])],
        "priority": request.get("priority", 0),
    }  # fmt: skip


def state_matches(code: str, wanted: list[str]) -> bool:
    """A full code, or a prefix such as IN_PROGRESS that names every code of its group."""
    return not wanted or any(code == w or code.startswith(f"{w}__") for w in wanted)


def wanted(scan: ScanRecord, status: dict[str, Any], args: ScanListArgs) -> bool:
    if scan.is_deleted and not args.include_deleted:
        return False
    if args.priority is not None and scan.request.get("priority", 0) != args.priority:
        return False
    if args.is_terminal is not None and is_terminal(status["scan_state"]) != args.is_terminal:
        return False
    return state_matches(status["scan_state"], args.state)


def stored_keys(args: ScanListArgs) -> list[StateKey]:
    """The state keys of the scans that may match (database/state_key.py)."""
    keys = {key_of(state) for state in args.state} if args.state else set(StateKey)
    if args.is_terminal is not None:
        keys = {key for key in keys if (key is not StateKey.ACTIVE) == args.is_terminal}
    return sorted(keys)


async def list_scans(database: Database, args: ScanListArgs, settings: Settings) -> dict[str, Any]:
    """One page: up to ``limit`` matching scans and the cursor of the next page (None after the last)."""
    after = decode_cursor(args.cursor) if args.cursor else None
    lookup = {k: v for k, v in (("run_id", args.run_id), ("event_id", args.event_id)) if v is not None}
    if not (keys := stored_keys(args)):
        return {"scans": [], "next_cursor": None}  # states that is_terminal contradicts
    # scans without a key may match: those with a final result stored before the key, or any until they are keyed
    unkeyed = StateKey.FINAL in keys or not database.scans_keyed
    t, found, examined = now(), [], 0
    created_from, created_to = args.created_after or EPOCH, args.created_before or t + CLOCK_SKEW
    if args.state and all(state.split("__", 1)[0] == Outcome.STALLED for state in args.state) and database.manifests.silences_watched:
        return await stalled(database, args, settings, t, (created_from, created_to), lookup, after)
    while examined < EXAMINED_PER_PAGE:
        asked = min(EXAMINED_PER_PAGE - examined, 2 * args.limit)
        batch = await database.manifests.newest_first(created_from, created_to, after, lookup, asked, keys, unkeyed, args.priority)
        for scan in batch:
            examined += 1
            after = (scan.created, scan.scan_id)  # type: ignore[assignment]  # (listed scans were read by created)
            if (listed := listed_if_wanted(scan, args, settings, t)) is not None:
                found.append(listed)
                if len(found) == args.limit:
                    return {"scans": found, "next_cursor": encode_cursor(*after)}
        if len(batch) < asked:
            return {"scans": found, "next_cursor": None}  # read to the end
    return {"scans": found, "next_cursor": encode_cursor(*after)}  # type: ignore[misc]


def listed_if_wanted(scan: ScanRecord, args: ScanListArgs, settings: Settings, t: dt.datetime) -> dict[str, Any] | None:
    status = status_view(scan, t, settings.stall_after, settings.logs_url_template)
    return {"scan_id": scan.scan_id, "status": status, "request": request_summary(scan)} if wanted(scan, status, args) else None


async def stalled(
    database: Database, args: ScanListArgs, settings: Settings, t: dt.datetime, created: tuple[dt.datetime, dt.datetime],
    lookup: dict[str, Any], after: tuple[dt.datetime, str] | None,
) -> dict[str, Any]:  # fmt: skip
    """A page of STALLED scans: the running scans silent for STALL_AFTER, all read at once through the progress
    collection's watch (a few), then filtered and paged here; every page ends full or at the true end."""
    silent = await database.manifests.silent_running(t - dt.timedelta(seconds=settings.stall_after))
    found = []
    for scan in newest(silent, after):
        if not (created[0] <= scan.created <= created[1] and all(scan.lookup.get(k) == v for k, v in lookup.items())):
            continue
        if (listed := listed_if_wanted(scan, args, settings, t)) is not None:
            found.append(listed)
            if len(found) == args.limit:
                return {"scans": found, "next_cursor": encode_cursor(scan.created, scan.scan_id)}
    return {"scans": found, "next_cursor": None}
