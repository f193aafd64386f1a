"""The benchmark suite runs end to end with tiny counts, so it never rots (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real processes end to end: `make test-fast` skips this file

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def test_benchmark_smoke_runs_without_errors(tmp_path: Path) -> None:
    output = tmp_path / "smoke.json"
    done = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--output", str(output)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(output.read_text())
    assert result["mode"] == "smoke"
    expected = {"post_scan", "patch_progress", "put_result", "get_manifest", "get_result"}
    assert expected <= result["scenarios"].keys()
    assert any(name.startswith("find_scans_") for name in result["scenarios"])
    assert any(name.startswith("put_result_") and name.endswith("px") for name in result["scenarios"])
    for name, figures in result["scenarios"].items():
        assert figures["skydriver"]["errors"] == 0, (name, figures["skydriver"]["first_error"])
        assert figures["floor"]["errors"] == 0, (name, figures["floor"]["first_error"])
        assert figures["skydriver"]["requests"] > 0, name
    assert result["repeat"]["errors"] == 0
    assert result["streams"]["streams"] == 5 and result["streams"]["get_manifest_beside_streams"]["errors"] == 0
    assert result["memory"][-1]["server"]["VmHWM"] > 0

    summary = subprocess.run(
        [sys.executable, str(RUN.with_name("summarize.py")), str(output), str(output)], capture_output=True, text=True, check=True
    ).stdout
    assert all(f"| `{name}`" in summary for name in result["scenarios"]) and "2 runs." in summary
