"""Read the event header out of the encoded I3 frames that older i3live messages carry instead of plain fields.

A frame is base64(zlib(pickle of an ``icetray.I3Frame``)); inside, each object is stored with IceTray's
boost-serialisation layout. Only ``I3EventHeader`` is decoded here (run, event, start time). The layout was checked
against the modern message 138632_31747601.json (whose plain ``run_id``/``event_id`` fields it reproduces) and
against a real skyreader result of hese_event_01 (run 127907, event 20178442, mjd 57517.64354153215).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import struct
import zlib

from .mjd import mjd_from_datetime

_HEADER_MARKER = b"\x0d\x00\x00\x00I3EventHeader\x01"  # length-prefixed class name, then the class-info byte
_TENTH_NS_PER_DAY = 86400 * 10**10


class FrameDecodeError(ValueError):
    """The frames hold no I3EventHeader in the layout this module knows."""


@dataclasses.dataclass(frozen=True)
class I3EventHeader:
    run_id: int
    event_id: int
    start_mjd: float  # I3Time (year, DAQ time in 0.1 ns since the year began); leap seconds ignored


def decode_frame(encoded: str) -> bytes:
    """The serialised bytes of one ``[stop, data]`` frame entry's data."""
    try:
        return zlib.decompress(base64.b64decode(encoded))
    except (binascii.Error, zlib.error) as e:
        raise FrameDecodeError(f"frame is not base64+zlib: {e}") from e


def _parse_header(buf: bytes, at: int) -> I3EventHeader:
    # class version (u32), I3FrameObject base (7 bytes), then RunID, SubRunID, EventID
    pos = at + len(_HEADER_MARKER) + 4 + 7
    run_id, _subrun, event_id = struct.unpack_from("<III", buf, pos)
    pos += 12 + 8  # SubEventID and state
    (stream_len,) = struct.unpack_from("<I", buf, pos)
    pos += 4 + stream_len + 10  # SubEventStream, then the StartTime object's class/tracking bytes
    year, daq_time = struct.unpack_from("<iq", buf, pos)
    if not (1990 <= year <= 2100 and 0 <= daq_time < 367 * _TENTH_NS_PER_DAY):
        raise FrameDecodeError(f"I3EventHeader start time out of range (year={year}, daq_time={daq_time})")
    start_mjd = mjd_from_datetime(dt.datetime(year, 1, 1)) + daq_time / _TENTH_NS_PER_DAY
    return I3EventHeader(run_id=run_id, event_id=event_id, start_mjd=start_mjd)


def find_event_header(frames: list[list[str]]) -> I3EventHeader:
    """The first I3EventHeader in the frames (the physics/DAQ frames carry the same one)."""
    for stop, encoded in frames:
        if stop not in ("Q", "P"):
            continue
        buf = decode_frame(encoded)
        at = buf.find(_HEADER_MARKER)
        if at >= 0:
            return _parse_header(buf, at)
    raise FrameDecodeError("no I3EventHeader in the Q/P frames")


def frames_mention(frames: list[list[str]], stop: str, name: str) -> bool:
    """Whether a frame of this stop contains ``name`` (an object key such as ``HESE_llhratio``)."""
    needle = name.encode()
    return any(s == stop and needle in decode_frame(encoded) for s, encoded in frames)
