"""Time what the summary, sky-map and FITS routes compute from a stored result (uncached: what `analyse` keeps is dropped).

Run from the project root: python -m benchmarks.bench_result_science  (median and best ms per call)
"""

from examples.sample_data import PRODUCTION_RESULT, RESULTS_DIR
from skydriver.results.analysis import analyse, forget_all
from skydriver.results.skymap import render_png
from skydriver.results.skymap_fits import Provenance, flat_fits, multi_order_fits

from .bench_result_validation import time_per_call_ms

PROVENANCE = Provenance("0" * 32, "bench", "bench", "millipede_wilks", {"8": 0, "64": 12, "512": 24})


def main() -> None:
    text = PRODUCTION_RESULT.read_bytes()
    analysis = analyse(text)

    def fresh_analysis() -> None:
        forget_all()
        analyse(text)

    small = next(RESULTS_DIR.glob("millipede_wilks__run00127907*.json")).read_bytes()
    cases = {
        "analyse: decode + summary + contours (3,590 pixels)": (fresh_analysis, 20),
        "analyse: nside-1 result (12 pixels)": (lambda: (forget_all(), analyse(small)), 50),
        "render_png full sky": (lambda: render_png(analysis, zoom=False), 5),
        "render_png zoom": (lambda: render_png(analysis, zoom=True), 5),
        "multi_order_fits": (lambda: multi_order_fits(analysis, PROVENANCE), 10),
        "flat_fits nside 64": (lambda: flat_fits(analysis, PROVENANCE, 64), 5),
        "flat_fits nside 512": (lambda: flat_fits(analysis, PROVENANCE, 512), 3),
    }
    for name, (call, repeats) in cases.items():
        median, best = time_per_call_ms(call, repeats)
        print(f"{name:55s} median {median:8.1f} ms  best {best:8.1f} ms  ({repeats} calls)")


if __name__ == "__main__":
    main()
