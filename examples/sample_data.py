"""Where the project's real IceCube data lives: events and scan results in `examples/data/`, see its README.

The one place that knows these paths; examples, tests and benchmarks import them from here.
"""

from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
EVENTS_DIR = DATA_DIR / "events"
RESULTS_DIR = DATA_DIR / "results"

MODERN_EVENT = EVENTS_DIR / "138632_31747601.json"
"""Run 138632, event 31747601: the 2023a i3live format, plain-JSON ids, time and splinempe direction."""

PRODUCTION_RESULT = RESULTS_DIR / "run00136766.evt000007637140.nsides_8_64_512.json"
"""A full production-size scan: 768 + 896 + 1926 pixels at nside 8/64/512, version-0 columns."""

VERSION_1_RESULT = RESULTS_DIR / "millipede_wilks__run00136766.evt000007637140.neutrino_1.json"
BARE_NAN_RESULT = RESULTS_DIR / "splinempe__run00136766.evt000007637140.neutrino_1.json"
"""A small nside-1 result holding bare `NaN` tokens, as the Skymap Scanner's JSON encoder sends them."""


def alert_scan_request(event: dict[str, Any] | str, **overrides: Any) -> dict[str, Any]:
    """A valid POST /scan body as a realtime alert pipeline sends it (production algorithm, nsides and cluster)."""
    return {
        "docker_tag": "latest",
        "cluster": {"sub-2": 1234},
        "reco_algo": "millipede_wilks",
        "event_i3live_json": event,
        "nsides": {"8": 0, "64": 12, "512": 24},
        "real_or_simulated_event": "real",
        **overrides,
    }
