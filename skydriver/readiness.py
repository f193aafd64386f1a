"""Whether this SkyDriver can do its work now (GET /readyz): its database answers, its background loops run; whether
its launcher's engine answered the last reconcile pass is reported too, as degraded, never as not ready."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

from .database import Database
from .launchers.base import ScanState

DATABASE_TIMEOUT = 1.0


@dataclasses.dataclass
class LauncherReach:
    """What the last reconcile pass learnt of the launcher's engine (the Kubernetes API, local processes): it observes
    every running scan in one call, and a scan it could not ask about reads UNKNOWN."""

    unreachable: str | None = None  # why, after a pass that could ask about none of the running scans

    def record(self, seen: Mapping[str, int]) -> None:
        """``seen``: how many running scans the pass saw in each state (a pass with none learns nothing)."""
        asked = sum(seen.values())
        if not asked:
            return
        unknown = seen.get(ScanState.UNKNOWN.value, 0)
        self.unreachable = f"the last reconcile could not ask about any of the {asked} running scan(s)" if unknown == asked else None


@dataclasses.dataclass
class Readiness:
    database: Database
    launcher: str  # the configured launcher's name ("none": launching paused by the operator)
    loops: dict[str, asyncio.Task[Any]] = dataclasses.field(default_factory=dict)  # filled in once they start
    launcher_reach: LauncherReach = dataclasses.field(default_factory=LauncherReach)

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """(ready, each check with its outcome)."""
        checks: dict[str, Any] = {"database": await self._database()}
        for name, task in self.loops.items():
            checks[f"loop:{name}"] = _loop_state(task)
        # not probed here, and never "not ready": with its engine unreachable SkyDriver still accepts and serves scans
        # (launches are retried, running scans read UNKNOWN); the last reconcile pass says whether it is degraded
        launcher = {"ok": True, "launcher": self.launcher, "launching": self.launcher != "none"}
        reach = self.launcher_reach.unreachable
        checks["launcher"] = {**launcher, "degraded": reach is not None, **({"error": reach} if reach else {})}
        return all(check["ok"] for check in checks.values()), checks

    async def _database(self) -> dict[str, Any]:
        try:
            await asyncio.wait_for(self.database.db.command("ping"), DATABASE_TIMEOUT)
        except Exception as exc:  # any failure to answer within the second is "not ready", with its reason
            return {"ok": False, "error": f"no answer within {DATABASE_TIMEOUT:.0f} s: {type(exc).__name__}: {exc}"[:300]}
        return {"ok": True}


def _loop_state(task: asyncio.Task[Any]) -> dict[str, Any]:
    if not task.done():
        return {"ok": True}
    if task.cancelled():
        return {"ok": False, "error": "cancelled"}
    return {"ok": False, "error": f"stopped: {task.exception()!r}"[:300]}
