"""The README's sky-map pictures, drawn by SkyDriver's own renderer from the real production result.

    python -m examples.skymap_pictures      # (or `make pictures`) writes docs/skymap_full_sky.png, docs/skymap_zoom.png

The PNGs are written exactly as `GET /scan/{id}/skymap.png` serves them (no recompression), so the README shows
what a client gets.
"""

from pathlib import Path

from examples.sample_data import PRODUCTION_RESULT
from skydriver.results.analysis import analyse
from skydriver.results.skymap import render_png

DOCS = Path(__file__).resolve().parents[1] / "docs"
PICTURES = {False: DOCS / "skymap_full_sky.png", True: DOCS / "skymap_zoom.png"}


def main() -> None:
    analysis = analyse(PRODUCTION_RESULT.read_bytes())
    for zoom, path in PICTURES.items():
        path.write_bytes(render_png(analysis, zoom=zoom))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
