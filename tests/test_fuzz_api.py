"""A short schemathesis campaign in the suite (`make fuzz` runs the long one): no input the schema allows, or breaks,
gets a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest

from skydriver.server import SkyDriver
from tests.fuzz_api import fuzz


@pytest.mark.slow  # schemathesis runs as its own processes against SkyDriver, end to end
async def test_a_short_fuzz_campaign_gets_no_server_error(driver: SkyDriver, tmp_path: Path) -> None:
    tally = await fuzz(driver, max_examples=8, seed=1, workdir=tmp_path, phases="fuzzing", exclude_path="skymap")
    assert tally.requests >= 200, tally.summary()
    assert not tally.server_errors, tally.summary() + "\n" + "\n".join(tally.server_errors)
