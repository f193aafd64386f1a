"""Modified Julian Dates, the time unit skyreader and SkyDriver store."""

from __future__ import annotations

import datetime as dt

_MJD_EPOCH = dt.datetime(1858, 11, 17)


def mjd_from_datetime(when: dt.datetime) -> float:
    """Naive UTC datetime -> MJD."""
    return (when - _MJD_EPOCH) / dt.timedelta(days=1)


def mjd_from_i3live_time(text: str) -> float:
    """i3live's ``"2023-12-02 17:08:24.093230"`` (UTC) -> MJD."""
    return mjd_from_datetime(dt.datetime.fromisoformat(text))
