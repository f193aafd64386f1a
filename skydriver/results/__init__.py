"""The science side of scan results: validate a `skyscan_result` (``validation``), summarise it (``summary``),
draw it (``skymap``).

Only validation is imported here: the service checks every PUT with it, while summary and skymap pull in healpy and
matplotlib (over a second and ~80 MB), which the service loads only when a summary or a map is first asked for.
"""

from .validation import ResultValidationError, validate_skyscan_result

__all__ = ["ResultValidationError", "validate_skyscan_result"]
