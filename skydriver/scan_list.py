"""GET /scans/list: scans newest first, filtered on their derived state and what was asked, a page at a time.

Pages are read newest first through the (created, scan_id) index or, when the states asked for exclude a final
result (the common state), through the stored state key of their groups (database/state_key.py: failed, aborted,
stopped, or still running), so a rare state costs the scans of its group, not every scan; a priority is read through
the (request.priority, state_key, created, scan_id) index, so it costs its own scans (of the groups asked for).
STALLED is derived from time among the running scans: unless other running states are asked for too, only the running
scans silent for STALL_AFTER are read, through the progress collection's watch on their silence (database/progress.py),
and merged into the walk of the other groups asked for. The state is derived (never stored), so every filter is applied
exactly to what was read: a request examines at most EXAMINED_PER_PAGE scans and, when a filter the indexes cannot tell
(STALLED beside PENDING or IN_PROGRESS) leaves its page short, answers with what it found and a cursor to go on from —
never an unbounded read.
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
from .database.state_key import StateKey, state_key
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


def stalled_apart(args: ScanListArgs) -> bool:
    """Whether running scans may match only as STALLED (with any other states of other groups): then only the silent
    ones are read, through the progress collection's watch, instead of every running scan."""
    groups = [state.split("__", 1)[0] for state in args.state]
    return Outcome.STALLED in groups and all(group == Outcome.STALLED or key_of(group) is not StateKey.ACTIVE for group in groups)


def position(scan: ScanRecord) -> tuple[dt.datetime, str]:
    return scan.created, scan.scan_id  # type: ignore[return-value]  # (listed scans were read by created)


async def list_scans(database: Database, args: ScanListArgs, settings: Settings) -> dict[str, Any]:
    """One page: up to ``limit`` matching scans and the cursor of the next page (None after the last).

    The scans of the stored groups asked for are walked newest first; the silent running scans (STALLED apart) are read
    at once and merged into that order, so a page is full or the true end unless the walk's limit stops it first."""
    after = decode_cursor(args.cursor) if args.cursor else None
    lookup = {k: v for k, v in (("run_id", args.run_id), ("event_id", args.event_id)) if v is not None}
    if not (keys := stored_keys(args)):
        return {"scans": [], "next_cursor": None}  # states that is_terminal contradicts
    t, found = now(), []
    created_from, created_to = args.created_after or EPOCH, args.created_before or t + CLOCK_SKEW
    silent: list[ScanRecord] = []
    if apart := StateKey.ACTIVE in keys and stalled_apart(args) and database.manifests.silences_watched:
        running = await database.manifests.silent_running(t - dt.timedelta(seconds=settings.stall_after))
        within = [scan for scan in running if created_from <= scan.created <= created_to]
        silent = newest([scan for scan in within if all(scan.lookup.get(k) == v for k, v in lookup.items())], after)
        keys = [key for key in keys if key is not StateKey.ACTIVE]
    # scans without a key may match: those with a final result stored before the key, or any until they are keyed
    unkeyed = StateKey.FINAL in keys or not database.scans_keyed

    def full_with(scan: ScanRecord, walked: bool = False) -> bool:
        if walked and apart and state_key(scan) is StateKey.ACTIVE:
            return False  # a running scan without its key yet: the silent ones are listed from ``silent``
        if (listed := listed_if_wanted(scan, args, settings, t)) is not None:
            found.append(listed)
        return len(found) == args.limit

    examined = 0
    while keys and examined < EXAMINED_PER_PAGE:
        asked = min(EXAMINED_PER_PAGE - examined, 2 * args.limit)
        batch = await database.manifests.newest_first(
            created_from, created_to, after, lookup, asked, keys, unkeyed, args.priority
        )
        for scan in batch:
            while silent and position(silent[0]) > position(scan):  # the silent scans that come before this one
                if full_with(first := silent.pop(0)):
                    return {"scans": found, "next_cursor": encode_cursor(*position(first))}
            examined += 1
            after = position(scan)
            if full_with(scan, walked=True):
                return {"scans": found, "next_cursor": encode_cursor(*after)}
        if len(batch) < asked:
            break  # read to the end
    else:
        if keys:  # examined the most a page may: go on from the last one (the silent scans before it are listed)
            return {"scans": found, "next_cursor": encode_cursor(*after)}  # type: ignore[misc]
    for scan in silent:
        if full_with(scan):
            return {"scans": found, "next_cursor": encode_cursor(*position(scan))}
    return {"scans": found, "next_cursor": None}


def listed_if_wanted(scan: ScanRecord, args: ScanListArgs, settings: Settings, t: dt.datetime) -> dict[str, Any] | None:
    status = status_view(scan, t, settings.stall_after, settings.logs_url_template)
    return {"scan_id": scan.scan_id, "status": status, "request": request_summary(scan)} if wanted(scan, status, args) else None
