"""The science side of scan results: validate a `skyscan_result`, summarise it, draw it."""

from .skymap import render_png
from .summary import CONTOUR_LEVELS_2DLLH, summarize
from .validation import ResultValidationError, validate_skyscan_result

__all__ = [
    "CONTOUR_LEVELS_2DLLH",
    "ResultValidationError",
    "render_png",
    "summarize",
    "validate_skyscan_result",
]
