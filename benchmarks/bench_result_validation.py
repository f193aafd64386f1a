"""Time `validate_skyscan_result`, which runs on every PUT of a result.

Run from the project root: python -m benchmarks.bench_result_validation  (median and best ms per call)
"""

import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from examples.sample_data import PRODUCTION_RESULT as PRODUCTION_FILE
from skydriver.results import validate_skyscan_result
from skydriver.results.format import COLUMNS_BY_VERSION, NAN_SENTINEL


def synthetic_result(n_pixels: int, nside: int, version: int, nan_fraction: float) -> dict:
    """`n_pixels` distinct random pixels of one nside, with some energies NaN as skyreader writes them."""
    rng = np.random.default_rng(n_pixels)
    columns = COLUMNS_BY_VERSION[version]
    index = rng.choice(12 * nside * nside, size=n_pixels, replace=False)
    values = rng.uniform(1000.0, 9000.0, size=(n_pixels, len(columns) - 1))
    rows = [[int(i), *map(float, row)] for i, row in zip(index, values, strict=True)]
    for row in rng.choice(n_pixels, size=int(nan_fraction * n_pixels), replace=False):
        rows[row][2] = NAN_SENTINEL
    metadata = {"nside": nside, "run_id": 136766, "event_id": 7637140, "mjd": 59754.6758,
                "event_type": "neutrino", "is_real_event": True, "version": version}
    return {f"nside-{nside}": {"columns": list(columns), "metadata": metadata, "data": rows}}


def time_per_call_ms(call: Callable[[], None], repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times)


def main() -> None:
    cases = {
        "real production file (3,590 rows, 3 nsides, v0)": json.loads(PRODUCTION_FILE.read_text()),
        "synthetic 10k pixels (nside 64, v0)": synthetic_result(10_000, 64, 0, 0.0),
        "synthetic 100k pixels (nside 128, v0)": synthetic_result(100_000, 128, 0, 0.0),
        "synthetic 100k pixels (nside 128, v1, 10% NaN sentinels)": synthetic_result(100_000, 128, 1, 0.1),
    }
    for name, result in cases.items():
        rows = sum(len(entry["data"]) for entry in result.values())
        repeats = max(5, min(200, 400_000 // rows))
        median, best = time_per_call_ms(lambda result=result: validate_skyscan_result(result), repeats)
        print(f"{name:60s} median {median:8.2f} ms  best {best:8.2f} ms  ({repeats} calls)")


if __name__ == "__main__":
    main()
