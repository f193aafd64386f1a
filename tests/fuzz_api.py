"""Fuzz the REST API from schemas/openapi.json with schemathesis, as user and as system; SkyDriver counts every answer.

``make fuzz`` runs the campaign (``python -m tests.fuzz_api``: at least 10,000 requests, fails on any 5xx or on too
few requests); tests/test_fuzz_api.py runs a short one in the suite. Path parameters are a seeded scan's id half the
time (a scan with a real event and a real result), so the fuzzer reaches the handlers behind the scan lookup.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from examples.sample_data import MODERN_EVENT, PRODUCTION_RESULT
from skydriver.server import SkyDriver
from tests.conftest import scan_body, token
from tests.http_client import HttpClient

OPENAPI = Path(__file__).resolve().parents[1] / "schemas" / "openapi.json"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@dataclasses.dataclass
class Tally:
    """What SkyDriver answered, as it logged each finished request."""

    statuses: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    server_errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def summary(self) -> str:
        by_status = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return f"{self.requests} requests ({by_status}); {len(self.server_errors)} server errors"


def count_answers(driver: SkyDriver) -> Tally:
    """Count every request SkyDriver finishes from now on (through tornado's per-request log hook)."""
    tally = Tally()
    settings = driver.rest.http_server.request_callback.settings  # type: ignore[union-attr]
    log = settings["log_function"]

    def counting_log(handler: Any) -> None:
        status = handler.get_status()
        tally.statuses[status] += 1
        if status >= 500:
            tally.server_errors.append(f"{status} {handler.request.method} {handler.request.uri[:200]}")
        log(handler)

    settings["log_function"] = counting_log
    return tally


async def seed_scans(driver: SkyDriver) -> list[str]:
    """Two scans with the real event, one of them with the real production result."""
    user, system = HttpClient(driver.address, token("user")), HttpClient(driver.address, token("system"))
    event = json.loads(MODERN_EVENT.read_text())
    scan_ids = [(await user.post("/scan", scan_body(event))).json()["scan_id"] for _ in range(2)]
    result = json.loads(PRODUCTION_RESULT.read_text())
    put = await system.put(f"/scan/result/{scan_ids[0]}", {"skyscan_result": result, "is_final": False})
    assert put.status == 200, put
    return scan_ids


def schemathesis_config(scan_ids: list[str]) -> str:
    """Seeded scan ids half the time; manifest ``wait`` only short or invalid (a valid long one just waits)."""
    return "\n".join([
        "[dictionaries.scans]",
        f"values = {json.dumps(scan_ids)}",
        "[dictionaries.waits]",
        'values = [0, 0.01, -1, 61, "soon"]',
        "[parameters]",
        '"path.scan_id" = { dictionary = "scans", probability = 0.5 }',
        '"query.wait" = { dictionary = "waits", probability = 1.0 }',
    ])  # fmt: skip


async def fuzz(
    driver: SkyDriver, max_examples: int, seed: int, workdir: Path, phases: str | None = None, exclude_path: str | None = None
) -> Tally:
    """Run schemathesis as each role against a running SkyDriver; return what SkyDriver answered.

    ``exclude_path`` (a regular expression) leaves out operations: always the progress stream (it stays open while
    its scan runs, by design); in the suite also the sky map (a second to draw each), and the suite runs only the
    "fuzzing" phase (``phases``; default: all).
    """
    scan_ids = await seed_scans(driver)
    tally = count_answers(driver)
    config = workdir / "schemathesis.toml"
    config.write_text(schemathesis_config(scan_ids))

    async def run_as(role: str) -> None:
        command = [
            str(SCHEMATHESIS), "--config-file", str(config), "run", str(OPENAPI), "--url", driver.address,
            "--header", f"Authorization: Bearer {token(role)}", "--checks", "not_a_server_error",
            "--max-examples", str(max_examples), "--seed", str(seed), "--workers", "1", "--request-timeout", "60",
            "--suppress-health-check", "all", "--generation-database", "none", "--no-shrink", "--no-color",
        ]  # fmt: skip
        # (one worker each: schemathesis' threads trip a CPython 3.11 bug in ast.parse; the roles run side by side)
        if phases:
            command += ["--phases", phases]
        command += ["--exclude-path-regex", "/events$" + (f"|{exclude_path}" if exclude_path else "")]
        log = workdir / f"schemathesis-{role}.log"
        with log.open("wb") as out:  # run in workdir: schemathesis keeps a cache in its working directory
            process = await asyncio.create_subprocess_exec(*command, stdout=out, stderr=asyncio.subprocess.STDOUT, cwd=workdir)
            await process.wait()
        print(f"schemathesis as {role}: exit {process.returncode} (log: {log}); {tally.summary()} so far", flush=True)

    await asyncio.gather(run_as("user"), run_as("system"))
    return tally


async def campaign(max_examples: int, min_requests: int, seed: int) -> int:
    from skydriver.embedded_db import EmbeddedDatabase
    from skydriver.server import start
    from tests.conftest import make_settings

    logging.basicConfig(level=logging.ERROR)  # the server's own request log would drown the summary
    workdir = Path(tempfile.mkdtemp(prefix="skydriver-fuzz-"))  # kept: schemathesis' logs
    with tempfile.TemporaryDirectory(prefix="skydriver-fuzz-db-") as data:
        database = EmbeddedDatabase(Path(data) / "db")
        uri = await database.start()
        try:
            driver = await start(make_settings(uri, Path(data) / "data"))
            try:
                tally = await fuzz(driver, max_examples, seed, workdir)
            finally:
                await driver.stop()
        finally:
            database.stop()
    print(tally.summary())
    for error in tally.server_errors[:50]:
        print("  ", error)
    if tally.requests < min_requests:
        print(f"FAIL: only {tally.requests} requests (at least {min_requests} wanted)")
        return 1
    return 1 if tally.server_errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=250, help="schemathesis test cases per operation and role")
    parser.add_argument("--min-requests", type=int, default=10_000, help="fail if SkyDriver answered fewer")
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()
    sys.exit(asyncio.run(campaign(args.max_examples, args.min_requests, args.seed)))


if __name__ == "__main__":
    main()
