"""Whether this SkyDriver can do its work now (GET /readyz): its database answers, its background loops run."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from .database import Database

DATABASE_TIMEOUT = 1.0


@dataclasses.dataclass
class Readiness:
    database: Database
    launcher: str  # the configured launcher's name ("none": launching paused by the operator)
    loops: dict[str, asyncio.Task[Any]] = dataclasses.field(default_factory=dict)  # filled in once they start

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """(ready, each check with its outcome)."""
        checks: dict[str, Any] = {"database": await self._database()}
        for name, task in self.loops.items():
            checks[f"loop:{name}"] = _loop_state(task)
        # the launcher is not probed here: an unreachable engine is reported per scan (UNKNOWN), never as not ready
        checks["launcher"] = {"ok": True, "launcher": self.launcher, "launching": self.launcher != "none"}
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
