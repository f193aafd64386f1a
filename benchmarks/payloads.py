"""The request bodies the benchmark sends: real event and result files, and what the scanner reports.

Bodies are encoded once, up front, so the load generator only writes bytes.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for examples.sample_data
from examples.sample_data import MODERN_EVENT as EVENT_FILE  # noqa: E402
from examples.sample_data import PRODUCTION_RESULT as RESULT_FILE  # noqa: E402
from examples.sample_data import alert_scan_request  # noqa: E402


def scan_body() -> bytes:
    """POST /scan as an alert pipeline sends it: the real 480 kB modern-format event, inline."""
    return json.dumps(alert_scan_request(json.loads(EVENT_FILE.read_text()))).encode()


def progress_body(seq: int) -> bytes:
    """A mid-scan PATCH from the Skymap Scanner's reporter: progress (its format) plus event_metadata."""
    done = 1000 + seq
    progress = {
        "summary": (
            "SkyDriver benchmark scan: millipede_wilks, nsides 8:0 64:12 512:24\n"
            f"nside-8: 768/768 done; nside-64: {min(done, 896)}/896; nside-512: {max(0, done - 1664)}/1926"
        ),
        "epilogue": "predictive scanning threshold 1.0; results to be sent at the end of each nside",
        "tallies": {
            "nsides": {
                "8": {"done": 768, "est. percent": "768/768 (1.0000)", "est. percent (recos)": "768/768 (1.0000)"},
                "64": {"done": 896, "est. percent": "896/896 (1.0000)", "est. percent (recos)": "896/896 (1.0000)"},
                "512": {"done": seq % 1926, "est. percent": f"{seq % 1926}/1926", "est. percent (recos)": f"{seq % 1926}/1926"},
            },
            "total pixels": done,
            "total recos": done,
            "est. scan percent": f"{done}/3590 ({done / 3590:.4f})",
            "est. scan timeline": {str(f): f"0:{10 + i:02d}:00" for i, f in enumerate((0.1, 0.2, 0.3, 0.4, 0.5))},
        },
        "processing_stats": {
            "start": {
                "scanner start": "2024-05-01 10:00:00",
                "reco start (on server)": "2024-05-01 10:03:12",
                "reco start (on first worker)": "2024-05-01 10:03:40",
            },
            "runtime": {
                "elapsed": "1:02:03",
                "startup runtime": "0:03:12",
                "reco runtime (on server)": "0:58:51",
                "reco start delay (on first worker)": "0:00:28",
            },
            "rate": {
                name: {
                    "worker time": {"mean": "0:04:10", "median": "0:03:58", "slowest": "0:19:40", "fastest": "0:00:51"},
                    "round-trip time": {"mean": "0:05:02", "median": "0:04:47", "slowest": "0:22:13", "fastest": "0:01:09"},
                    "wall time": {"start": "2024-05-01 10:03:12", "end": "2024-05-01 11:02:03", "runtime": "0:58:51", "mean reco": "0:00:03"},
                }
                for name in ("all recos", "nside-8", "nside-64", "nside-512")
            },
            "predictions": {
                "time left": "0:31:00",
                "total runtime at finish": "1:33:03",
                "total # of reconstructions": 3590,
                "end": "2024-05-01 11:33:03",
                "technique": "simple average over entire scan runtime",
            },
        },
        "predictive_scanning_threshold": 1.0,
        "last_updated": f"2024-05-01 11:02:{seq % 60:02d}",
    }
    event_metadata = {"run_id": 138632, "event_id": 31747601, "event_type": "HESE", "mjd": 59896.5021, "is_real_event": True}
    return json.dumps({"progress": progress, "event_metadata": event_metadata}).encode()


def result_text() -> str:
    """The production-size result (3,590 pixels at nside 8/64/512), exactly as the file holds it."""
    return RESULT_FILE.read_text()


def result_body(skyscan_result_text: str, is_final: bool = False) -> bytes:
    """PUT /scan/result body, the result spliced in as text (keeps whatever NaN tokens it holds)."""
    return ('{"skyscan_result":' + skyscan_result_text + ',"is_final":' + json.dumps(is_final) + "}").encode()


def synthetic_result(pixels: int, seed: int = 7) -> str:
    """A valid version-0 result of ``pixels`` rows at nside 512 (3.1 M pixels, so any count up to that fits)."""
    rng = random.Random(seed)
    rows = [[i, 2000 + rng.random() * 500, 17000 + rng.random() * 3000, 20000 + rng.random() * 9000] for i in range(pixels)]
    metadata = {
        "run_id": 136766, "event_id": 7637140, "mjd": 59754.67588432013, "event_type": "neutrino",
        "is_real_event": True, "nside": 512, "complete": False, "version": 0,
    }  # fmt: skip
    return json.dumps({"nside-512": {"columns": ["index", "llh", "E_in", "E_tot"], "metadata": metadata, "data": rows}})


def lookup_key(scan_number: int) -> tuple[int, int]:
    """(run_id, event_id) of a bulk-inserted scan: two scans per event, as when an alert is scanned twice."""
    return 100_000 + scan_number // 2000, scan_number // 2


def bulk_manifests(template: dict[str, Any], start: int, count: int) -> list[dict[str, Any]]:
    """Copies of a manifest the service wrote, each a distinct scan of its own run/event."""
    docs = []
    for n in range(start, start + count):
        run_id, event_id = lookup_key(n)
        doc = dict(template)
        doc["scan_id"] = f"{n:032x}"
        doc["lookup"] = {"run_id": run_id, "event_id": event_id, "is_real_event": True}
        doc.pop("idempotency_key", None)
        docs.append(doc)
    return docs


def disc_result(fine_pixels: int, nside: int = 2048, decimals: int = 3) -> bytes:
    """A valid result as a scan that refined around its best fit would send: the production result's nside 8/64/512
    levels plus ``fine_pixels`` pixels at ``nside``, the disc of RING pixels nearest the best fit. Each fine pixel
    takes the values of the finest production pixel containing it (so contours and maps look like the real scan's),
    rounded to ``decimals`` (full precision would be ~1.7x the bytes)."""
    import healpy  # the benchmark's process only: SkyDriver's own import of it is what is measured
    import numpy as np

    real = json.loads(RESULT_FILE.read_text())
    levels = sorted(real.values(), key=lambda entry: entry["metadata"]["nside"])
    best = min((row for entry in levels for row in entry["data"]), key=lambda row: row[1])
    best_nside = next(entry["metadata"]["nside"] for entry in levels if best in entry["data"])
    centre = healpy.pix2vec(best_nside, best[0])
    radius = np.sqrt(fine_pixels * healpy.nside2pixarea(nside) / np.pi) * 1.05
    while (disc := healpy.query_disc(nside, centre, radius)).size < fine_pixels:
        radius *= 1.05
    distance = np.arccos(np.clip(np.dot(np.array(healpy.pix2vec(nside, disc)).T, centre), -1, 1))
    pixels = np.sort(disc[np.argsort(distance, kind="stable")[:fine_pixels]])
    values = np.zeros((pixels.size, 3))
    theta, phi = healpy.pix2ang(nside, pixels)
    for entry in levels:  # coarsest first: finer levels overwrite
        data = np.array(entry["data"], dtype=np.float64)
        order = np.argsort(data[:, 0])
        index, rows = data[order, 0].astype(np.int64), data[order, 1:]
        parent = healpy.ang2pix(entry["metadata"]["nside"], theta, phi)
        position = np.minimum(np.searchsorted(index, parent), index.size - 1)
        found = index[position] == parent
        values[found] = rows[position[found]]
    values = np.round(values, decimals)
    fine = {"columns": levels[0]["columns"], "metadata": {**levels[0]["metadata"], "nside": nside},
            "data": [[int(pixel), *row] for pixel, row in zip(pixels.tolist(), values.tolist(), strict=True)]}
    result = {f"nside-{entry['metadata']['nside']}": entry for entry in levels} | {f"nside-{nside}": fine}
    return json.dumps(result, separators=(",", ":")).encode()  # compact, as SkyDriver stores it
