"""What the scanner needs from an i3live event message: its metadata and, when present, a reconstructed direction.

Two formats exist. The modern one (``value.version`` e.g. ``2023a``) has plain fields: ``run_id``, ``event_id``,
``eventtime``, ``reco.splinempe.{zen,azi}``. The older HESE messages (2016-2017) carry only encoded frames in
``value.data``; run, event and time then come from the frames' I3EventHeader (see ``i3frames``), the event type
from the HESE objects in the physics frame, and there is no plain reconstructed direction. ``sources`` records
where every value came from, so nothing is presented as more than it is.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .i3frames import FrameDecodeError, find_event_header, frames_mention
from .mjd import mjd_from_i3live_time
from .sky_coordinates import local_to_equatorial

# skyreader's rule for real events' run ids (its EventMetadata refuses others); a test keeps the two in step
REAL_RUN_IDS = range(100_000, 1_000_000)


@dataclasses.dataclass(frozen=True)
class EventMetadata:
    """The event's metadata as skyreader's ``EventMetadata`` holds it (same fields, same check), declared here so that
    reading an event does not import skyreader, whose plotting imports cost ~3 s at every start of the service."""

    run_id: int
    event_id: int
    event_type: str
    mjd: float  # meaningless for simulated events
    is_real_event: bool
    version: int = 0

    def __post_init__(self) -> None:
        if self.is_real_event and self.run_id not in REAL_RUN_IDS:
            raise ValueError(f"run id {self.run_id} is out of range for a real event ([{REAL_RUN_IDS.start}, {REAL_RUN_IDS.stop}))")


class EventFormatError(ValueError):
    """The message lacks something the scan needs; the message says what."""


@dataclasses.dataclass(frozen=True)
class EventInfo:
    metadata: EventMetadata
    sources: dict[str, str]  # field -> where it was read from
    direction: tuple[float, float] | None  # (ra, dec) radians of the event's own reconstruction, if it has one


def load_event_file(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _modern(value: dict[str, Any], is_real_event: bool) -> EventInfo:
    data = value["data"]
    try:
        run_id, event_id, eventtime = int(data["run_id"]), int(data["event_id"]), data["eventtime"]
    except (KeyError, TypeError, ValueError) as e:
        raise EventFormatError(f"event message value.data lacks a valid {e}") from None
    mjd = mjd_from_i3live_time(eventtime)
    topics = value.get("streams") or value.get("zmqnotify", {}).get("topics") or []
    event_type = str(topics[0]) if topics else "unknown"
    sources = {
        "run_id": "value.data.run_id",
        "event_id": "value.data.event_id",
        "mjd": "value.data.eventtime",
        "event_type": "value.streams[0]" if topics else "not in message: 'unknown'",
    }
    direction = None
    spline = (data.get("reco") or {}).get("splinempe") or {}
    if isinstance(spline.get("zen"), (int, float)) and isinstance(spline.get("azi"), (int, float)):
        direction = local_to_equatorial(float(spline["zen"]), float(spline["azi"]), mjd)
        sources["direction"] = "value.data.reco.splinempe zen/azi at eventtime (South-Pole sidereal approximation)"
    else:
        sources["direction"] = "not in message: fallback"
    return EventInfo(EventMetadata(run_id, event_id, event_type, mjd, is_real_event, version=0), sources, direction)


def _frames_only(message: dict[str, Any], frames: list[list[str]], is_real_event: bool) -> EventInfo:
    try:
        header = find_event_header(frames)
        is_hese = frames_mention(frames, "P", "HESE_llhratio")
    except FrameDecodeError as e:
        raise EventFormatError(f"frame-only event message: {e}") from None
    sources = {
        "run_id": "frames: I3EventHeader.RunID",
        "event_id": "frames: I3EventHeader.EventID",
        "mjd": "frames: I3EventHeader.StartTime",
        "event_type": "frames: HESE_llhratio in the P frame" if is_hese else f"message varname {message.get('varname')!r}",
        "direction": "not in message (frames only): fallback",
    }
    event_type = "HESE" if is_hese else str(message.get("varname", "unknown"))
    metadata = EventMetadata(header.run_id, header.event_id, event_type, header.start_mjd, is_real_event, version=0)
    return EventInfo(metadata, sources, None)


def read_event(message: dict[str, Any], is_real_event: bool) -> EventInfo:
    """Metadata and direction of an i3live message (either format). Raises EventFormatError."""
    try:
        value = message["value"]
        data = value["data"]
    except (KeyError, TypeError):
        raise EventFormatError("event message has no value.data") from None
    try:
        if isinstance(data, dict):
            return _modern(value, is_real_event)
        if isinstance(data, list):
            return _frames_only(message, data, is_real_event)
    except ValueError as e:  # skyreader refuses a real event's run id outside its range
        raise EventFormatError(str(e)) from None
    raise EventFormatError(f"value.data is a {type(data).__name__}, expected an object or a list of frames")
