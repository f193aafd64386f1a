"""SkyDriver's logs: a level and a format (text or JSON lines) from the settings, the request and scan each line
belongs to, and exactly one access line per request."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
SCAN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("scan_id", default=None)
ACCESS = logging.getLogger("skydriver.access")


@contextlib.contextmanager
def about_scan(scan_id: str) -> Iterator[None]:
    """Every log line written inside names this scan (for the background loops' work on one scan)."""
    token = SCAN_ID.set(scan_id)
    try:
        yield
    finally:
        SCAN_ID.reset(token)


class ContextFilter(logging.Filter):
    """Stamps every record with the request and scan it was logged for (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.scan_id = getattr(record, "scan_id", None) or SCAN_ID.get()
        return True


class DropRestToolsStartLine(logging.Filter):
    """rest_tools logs ">>> METHOD path" through the root logger as each request starts; the access line at its end
    says the same and more, so the start line is dropped (one line per request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "root" and isinstance(record.msg, str) and record.msg.startswith(">>> "))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors (Loki, Elasticsearch)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("scan_id", "request_id"):
            if value := getattr(record, name, None):
                line[name] = value
        if access := getattr(record, "access", None):
            line.update(access)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s")

    def format(self, record: logging.LogRecord) -> str:
        parts = [f"{name}={value}" for name in ("scan_id", "request_id") if (value := getattr(record, name, None))]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


def configure_logging(level: str, log_format: str) -> None:
    """Route every logger (SkyDriver's, tornado's, rest_tools') through one handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(DropRestToolsStartLine())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log_access(handler: Any) -> None:
    """Tornado's `log_function`: method, route template (never the raw path: scan ids are in the fields), status,
    duration, client and the token's subject — never the token itself."""
    request = handler.request
    status = handler.get_status()
    route = getattr(handler, "route_template", None) or "(unrouted)"
    fields = {
        "method": request.method, "route": route, "status": status,
        "duration_ms": round(1000 * request.request_time(), 1), "client": request.remote_ip,
        "user": (getattr(handler, "auth_data", None) or {}).get("sub"),
    }  # fmt: skip
    level = logging.WARNING if status >= 500 else logging.INFO
    ACCESS.log(level, "%s %s %s %.1f ms %s %s", request.method, route, status, fields["duration_ms"], fields["client"],
               fields["user"] or "-", extra={"access": fields})  # fmt: skip
