"""Reading IceCube realtime (i3live) event messages: the one place that knows both formats.

The service checks every POSTed event with `read_event` (an event no scanner could read is refused at once), and
the reference scanner reads events through the same code. The service never imports the reference scanner.
"""

from .messages import EventFormatError, EventInfo, EventMetadata, load_event_file, read_event

__all__ = ["EventFormatError", "EventInfo", "EventMetadata", "load_event_file", "read_event"]
