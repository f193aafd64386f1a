"""The ``--client-startup-json`` file: everything a worker needs to join a scan, written atomically by the server."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from .likelihood import StandInReco


@dataclasses.dataclass(frozen=True)
class StartupInfo:
    host: str
    port: int
    token: str  # workers present it on connect; the file is written owner-readable only
    reco: StandInReco
    reco_seconds: float  # time each stand-in reco takes on the worker, to model real work

    def write(self, path: Path) -> None:
        body: dict[str, Any] = dataclasses.asdict(self)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(body, f)
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> StartupInfo:
        body = json.loads(Path(path).read_text())
        return cls(
            host=body["host"],
            port=int(body["port"]),
            token=body["token"],
            reco=StandInReco(**body["reco"]),
            reco_seconds=float(body["reco_seconds"]),
        )
