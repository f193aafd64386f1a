"""analyse: a stored result's text read once per version, into the summary the route serves."""

import json
from pathlib import Path

from skydriver.results.analysis import analyse, analysed, forget_all
from skydriver.results.summary import summarize


def test_same_text_is_analysed_once(production_file: Path) -> None:
    first = analyse(production_file.read_bytes())
    assert analyse(bytes(bytearray(production_file.read_bytes()))) is first  # equal text read again: the cached one


def test_a_new_version_is_analysed_afresh(production_result: dict) -> None:
    before = analyse(json.dumps(production_result).encode())
    production_result["nside-8"]["data"][100][1] = 0.0
    after = analyse(json.dumps(production_result).encode())
    assert after.summary["best_fit"]["index"] == 100 != before.summary["best_fit"]["index"]


def test_summary_json_is_the_summary(production_file: Path, production_result: dict) -> None:
    analysis = analyse(production_file.read_bytes())
    assert json.loads(analysis.summary_json) == json.loads(json.dumps(summarize(production_result)))
    assert analysis.metadata == production_result["nside-8"]["metadata"]


def test_bare_nan_text_is_read(production_file: Path) -> None:
    text = production_file.read_text().replace("1847.161563495544", "NaN", 1)
    assert b"NaN" in text.encode() and analyse(text.encode()).summary["best_fit"]["llh"] > 1847.161563495544


def test_a_kept_version_is_not_read_again(production_file: Path) -> None:
    """A render process reads a large result's text only when its analysis is not kept (a PNG after the summary)."""
    reads = []

    def read() -> bytes:
        reads.append(1)
        return production_file.read_bytes()

    first = analysed(b"gridfs:test-version", read)
    assert analysed(b"gridfs:test-version", read) is first and len(reads) == 1
    forget_all()
    assert analysed(b"gridfs:test-version", read) is not first and len(reads) == 2
