"""Event metadata from every real i3live message, checked against real scan results of the same events."""

from __future__ import annotations

import json
import math

import pytest

from examples.sample_data import EVENTS_DIR as EVENTS
from examples.sample_data import MODERN_EVENT
from examples.sample_data import RESULTS_DIR as RESULTS
from skydriver.event_format import EventFormatError, load_event_file, read_event


def _result_metadata(name: str) -> dict:
    result = json.loads((RESULTS / name).read_text())
    return next(iter(result.values()))["metadata"]


def test_modern_event_matches_its_real_result() -> None:
    info = read_event(load_event_file(MODERN_EVENT), is_real_event=True)
    expected = _result_metadata("splinempe__run00138632.evt000031747601.neutrino_1.json")
    m = info.metadata
    assert (m.run_id, m.event_id, m.event_type, m.is_real_event) == (138632, 31747601, "neutrino", True)
    assert m.mjd == pytest.approx(expected["mjd"], abs=1e-9)
    assert info.sources["run_id"] == "value.data.run_id"
    assert info.direction is not None


def test_frames_only_event_matches_its_real_result() -> None:
    """hese_event_01 is run 127907 event 20178442, whose millipede result is in the shared data."""
    info = read_event(load_event_file(EVENTS / "hese_event_01.json"), is_real_event=True)
    expected = _result_metadata("millipede_wilks__run00127907.evt000020178442.HESE_1.json")
    m = info.metadata
    assert (m.run_id, m.event_id, m.event_type) == (expected["run_id"], expected["event_id"], expected["event_type"])
    assert m.mjd == pytest.approx(expected["mjd"], abs=1e-8)  # ~1 ms
    assert info.sources["run_id"].startswith("frames:")
    assert info.direction is None and "fallback" in info.sources["direction"]


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.name)
def test_every_real_event_gives_plausible_metadata(path) -> None:
    message = load_event_file(path)
    m = read_event(message, is_real_event=False).metadata
    assert 100000 <= m.run_id < 1000000 and m.event_id > 0
    assert m.event_type in ("neutrino", "HESE")
    # the event happened shortly before i3live sent the message
    message_mjd = read_event(message, False).metadata.mjd
    from skydriver.event_format.mjd import mjd_from_i3live_time

    sent = mjd_from_i3live_time(message["time"])
    assert 0 <= (sent - message_mjd) * 86400 < 3600
    assert not m.is_real_event and math.isfinite(m.mjd)


def test_a_message_without_data_is_refused() -> None:
    with pytest.raises(EventFormatError, match="value.data"):
        read_event({"value": {}}, is_real_event=True)


def test_event_metadata_is_skyreaders_with_the_same_run_id_rule() -> None:
    import dataclasses

    import skyreader

    from skydriver.event_format import EventMetadata

    assert [f.name for f in dataclasses.fields(EventMetadata)] == [f.name for f in dataclasses.fields(skyreader.EventMetadata)]
    for run_id, is_real in ((99_999, True), (100_000, True), (999_999, True), (1_000_000, True), (5, False)):
        ours_ok = theirs_ok = True
        try:
            EventMetadata(run_id, 1, "t", 60000.0, is_real)
        except ValueError:
            ours_ok = False
        try:
            skyreader.EventMetadata(run_id, 1, "t", 60000.0, is_real)
        except ValueError:
            theirs_ok = False
        assert ours_ok == theirs_ok, run_id
