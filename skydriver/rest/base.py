"""What every handler shares: argument parsing into models, JSON responses, and errors clients can act on."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pydantic
import tornado.web
from rest_tools.server import RestHandler

from .. import json_codec
from ..database import ScanNotFound
from ..docker_tags import DockerTagSourceUnavailable
from ..models import SCAN_ID_PATTERN
from ..scan_arguments import ArgumentError
from ..scans import IdempotencyConflict, ScanService

LOGGER = logging.getLogger(__name__)
M = TypeVar("M", bound=pydantic.BaseModel)


class ApiError(tornado.web.HTTPError):
    """An HTTP error whose message reaches the client in the JSON body."""

    def __init__(self, status: int, message: str):
        super().__init__(status)
        self.message = message


def describe_validation_error(exc: pydantic.ValidationError) -> str:
    """pydantic's errors as "argument 'x': reason" lines, naming every bad argument."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = [str(p) for p in error["loc"]]
        # drop pydantic's union-branch names (e.g. "dict[str,int]") from the location
        loc = [p for p in loc if not any(ch in p for ch in "[]()")] or ["body"]
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown argument"
        elif error["type"] == "missing":
            message = "required argument is missing"
        parts.append(f"argument '{loc[0]}'{'' if len(loc) == 1 else ' at ' + '.'.join(loc[1:])}: {message}")
    return "; ".join(dict.fromkeys(parts))


def api(method: Callable[..., Any]) -> Callable[..., Any]:
    """Map the core's exceptions to HTTP statuses; anything else is a bug: logged, and a plain 500."""

    @functools.wraps(method)
    async def wrapper(self: BaseHandler, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except tornado.web.HTTPError:
            raise
        except pydantic.ValidationError as exc:
            raise ApiError(400, describe_validation_error(exc)) from None
        except ArgumentError as exc:
            raise ApiError(400, str(exc)) from None
        except ScanNotFound as exc:
            raise ApiError(404, f"no scan with scan_id {exc.args[0]!r} (deleted scans need include_deleted=true)") from None
        except IdempotencyConflict as exc:
            raise ApiError(409, str(exc)) from None
        except DockerTagSourceUnavailable as exc:
            raise ApiError(503, str(exc)) from None
        except Exception:
            LOGGER.exception("unexpected error in %s %s", self.request.method, self.request.path)
            raise ApiError(500, "internal error (logged by SkyDriver)") from None

    return wrapper


@tornado.web.stream_request_body
class BaseHandler(RestHandler):
    """JSON in, JSON out, through the scan service.

    Bodies are streamed in so an oversized one is refused (413, with the reason) before it is read into memory.
    """

    def initialize(self, service: ScanService, role_mapping: Any, max_body_bytes: int, **kwargs: Any) -> None:  # type: ignore[override]
        super().initialize(**kwargs)
        self.service = service
        self.role_mapping = role_mapping
        self.max_body_bytes = max_body_bytes
        self._body: tuple[dict[str, Any], bool] | None = None
        self._chunks: list[bytes] = []
        self._received = 0

    def prepare(self) -> None:
        super().prepare()
        declared = self.request.headers.get("Content-Length", "0")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise ApiError(413, f"request body is {declared} bytes; the limit is {self.max_body_bytes} (SKYDRIVER_MAX_BODY_BYTES)")
        self.request.connection.set_max_body_size(self.max_body_bytes)  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    @property
    def body_bytes(self) -> bytes:
        if len(self._chunks) != 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0]

    def write_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "message", None) or self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(json_codec.dumps({"code": status_code, "error": message}))

    def json_body(self) -> tuple[dict[str, Any], bool]:
        """The body as a dict, and whether it held NaN/Infinity tokens."""
        if self._body is None:
            if not self.body_bytes.strip():
                self._body = {}, False
            else:
                try:
                    value, non_finite = json_codec.loads(self.body_bytes)
                except json_codec.JsonDecodeError as exc:
                    raise ApiError(400, str(exc)) from None
                if not isinstance(value, dict):
                    raise ApiError(400, f"body must be a JSON object, not {type(value).__name__}")
                self._body = value, non_finite
        return self._body

    def arguments(self, model: type[M]) -> M:
        """Query-string and JSON-body arguments (rest_tools clients send GET arguments as a JSON body) as a model."""
        merged: dict[str, Any] = {}
        for name, values in self.request.query_arguments.items():
            if len(values) > 1:
                raise ApiError(400, f"argument '{name}': given more than once")
            merged[name] = values[0].decode(errors="replace")
        for name, value in self.json_body()[0].items():
            if name in merged:
                raise ApiError(400, f"argument '{name}': given both in the query string and in the body")
            merged[name] = value
        return model.model_validate(merged)

    def body_model(self, model: type[M]) -> M:
        if self.request.query_arguments:
            raise ApiError(400, f"unexpected query arguments: {', '.join(self.request.query_arguments)}")
        return model.model_validate(self.json_body()[0])

    def compute_etag(self) -> None:
        """No ETags: tornado would hash every response (a SHA-1 over 244 kB results and 480 kB events, ~5% of the
        CPU of a GET result), and the API makes no conditional-request promises."""
        return None

    def write_json(self, payload: bytes) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(payload)


def checked_scan_id(scan_id: str) -> str:
    if not SCAN_ID_PATTERN.match(scan_id):
        raise ApiError(400, f"argument 'scan_id': {scan_id[:80]!r} is not a scan id (32 lowercase hex characters)")
    return scan_id
