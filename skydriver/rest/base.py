"""What every handler shares: the declaration of each operation, argument parsing into models, JSON responses, and
errors clients can act on.

``operation`` is the one place a handler method says who may call it, what arguments or body it takes and what it
answers: the decorator enforces it, and the route table (``routes.py``) and the OpenAPI document read it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import typing
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import pydantic
import tornado.httputil
import tornado.iostream
import tornado.web
from rest_tools.server import RestHandler

from .. import json_codec
from ..auth import authorize, check_scan_scope, requires, scan_token_claims
from ..errors import (
    ArgumentError,
    BadRequest,
    BodyTooLarge,
    HeadersTooLarge,
    MethodNotAllowed,
    ServiceUnavailable,
    SkyDriverError,
    UploadsBusy,
    UrlTooLong,
)
from ..logs import REQUEST_ID, SCAN_ID
from ..models import SCAN_ID_PATTERN, NoArgs
from ..readiness import Readiness
from ..results.renders import Renders
from ..scans import ScanService
from ..workers import WorkerPool
from .bodies import describe_validation_error, model_body, parse_object
from .uploads import LARGE_BODY_BYTES, RETRY_AFTER_SECONDS, UploadSlots

LOGGER = logging.getLogger(__name__)
M = TypeVar("M", bound=pydantic.BaseModel)
INTERNAL_ERROR = "internal error (logged by SkyDriver)"
REQUEST_ID_HEADER = "X-Request-ID"  # a caller's own id is kept (and echoed) when it is short and plain
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
STREAM_RESPONSE_BYTES = 1024 * 1024  # a larger response given in pieces is written out piece by piece


@dataclasses.dataclass(frozen=True)
class Header:
    """An optional request header an operation reads."""

    name: str
    max_length: int
    description: str


@dataclasses.dataclass(frozen=True)
class Operation:
    """One HTTP method of one handler. Every path parameter is a scan id (checked before the method runs)."""

    summary: str
    roles: tuple[str, ...]
    arguments: type[pydantic.BaseModel] = NoArgs  # query-string arguments (or, from rest_tools clients, a JSON body)
    body: type[pydantic.BaseModel] | None = None  # a JSON request body instead of arguments
    response: type[pydantic.BaseModel] | None = None  # None: a binary body of ``media_type``
    media_type: str = "application/json"
    header: Header | None = None
    parse_body: Callable[[bytes], Any] | None = None  # the body's bytes -> what the method takes (default: ``body``)


def operation(summary: str, roles: tuple[str, ...], **declared: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a handler method (``declared``: the other ``Operation`` fields); the method is then called as
    ``method(self, *scan_ids, parsed_arguments_or_body)``. The roles are checked in ``BaseHandler.prepare``, from the
    headers, before any body is read."""
    op = Operation(summary, roles, **declared)

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def parsed(self: BaseHandler, *path_args: str) -> Any:
            scan_ids = [checked_scan_id(arg) for arg in path_args]
            if scan_ids:
                SCAN_ID.set(scan_ids[0])  # every log line of this request names its scan
            values = await self.parsed_body(op) if op.body else self.arguments(op.arguments)
            if op.header:
                self.check_header(op.header)
            async with self.service.database.health.guard():  # 503 at once while the database is down
                return await method(self, *scan_ids, values)

        guarded = requires(*roles)(parsed)
        guarded.operation = op  # type: ignore[attr-defined]
        return guarded

    return decorate


def error_status(exc: BaseException | None, default: int) -> int:
    """The one mapping from exceptions to HTTP statuses: SkyDriver's errors carry theirs, bad models are 400."""
    if isinstance(exc, SkyDriverError):
        return exc.status
    if isinstance(exc, pydantic.ValidationError):
        return 400
    if isinstance(exc, tornado.web.HTTPError):
        return exc.status_code
    return default


MAX_URL_CHARS = 8192  # longer request targets get 414
MAX_HEADER_BYTES = 64 * 1024  # more header bytes get 431
MAX_HEAD_BYTES = 1024 * 1024  # the HTTP server drops a connection whose request line and headers pass this unanswered


def check_request_head(request: tornado.httputil.HTTPServerRequest) -> None:
    """414/431 for request lines and headers too long to be a real client's (tornado's own limit just disconnects)."""
    if len(request.uri or "") > MAX_URL_CHARS:
        raise UrlTooLong(f"the URL is {len(request.uri or '')} characters; the limit is {MAX_URL_CHARS}")
    size = sum(len(name) + len(value) + 4 for name, value in request.headers.get_all())
    if size > MAX_HEADER_BYTES:
        raise HeadersTooLarge(f"the headers are {size} bytes; the limit is {MAX_HEADER_BYTES}")


@tornado.web.stream_request_body
class BaseHandler(RestHandler):
    """JSON in, JSON out, through the scan service.

    Bodies are streamed in, and only after the token was checked from the headers: an anonymous or oversized request
    is refused (403, 413) before its body is read; a large body also needs one of its role's upload slots.
    """

    def initialize(  # type: ignore[override]
        self, service: ScanService, role_mapping: Any, max_body_bytes: int, uploads: UploadSlots, readiness: Readiness,
        route_template: str, body_workers: WorkerPool, renders: Renders, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().initialize(**kwargs)
        self.service = service
        self.readiness = readiness
        self.route_template = route_template  # for metrics and the access log: never the raw path
        self.role_mapping = role_mapping
        self.max_body_bytes = max_body_bytes
        self.uploads = uploads
        self.body_workers = body_workers
        self.renders = renders
        self._upload_role: str | None = None
        self._body: tuple[dict[str, Any], bool] | None = None
        self._chunks: list[bytes] = []
        self._received = 0

    async def prepare(self) -> None:
        super().prepare()
        given = self.request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if REQUEST_ID_PATTERN.match(given) else uuid.uuid4().hex[:16]
        REQUEST_ID.set(request_id)
        self.set_header(REQUEST_ID_HEADER, request_id)
        check_request_head(self.request)
        method = getattr(self, self.request.method.lower(), None)  # type: ignore[union-attr]
        roles = getattr(method, "required_roles", None)
        if roles is None:
            raise MethodNotAllowed(f"{self.request.method} is not allowed on {self.request.path[:200]}")
        role = await authorize(self, roles)
        check_scan_scope(self.auth_data, self.path_args)
        declared = self.request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise BodyTooLarge(f"request body is {declared} bytes; the limit is {self.max_body_bytes} (SKYDRIVER_MAX_BODY_BYTES)")
        if declared is None and "Transfer-Encoding" not in self.request.headers:
            return  # no body
        if declared is None or int(declared) > LARGE_BODY_BYTES:
            if not self.uploads.take(role):
                raise UploadsBusy(
                    f"role {role} is already sending {self.uploads.per_role} bodies over {LARGE_BODY_BYTES} bytes "
                    "(SKYDRIVER_LARGE_UPLOADS_PER_ROLE); retry later", RETRY_AFTER_SECONDS,
                )  # fmt: skip
            self._upload_role = role
        # a chunked body has no declared length: data_received counts it (tornado's own check answers a bare 400)
        self.request.connection.set_max_body_size(2**62)  # type: ignore[union-attr]

    def get_current_user(self) -> str | None:
        """The caller's token checked: a scan token SkyDriver minted itself, else rest_tools' check (OpenID or
        AUTH_SECRET)."""
        kind, _, token = self.request.headers.get("Authorization", "").partition(" ")
        if kind.lower() == "bearer":
            try:
                claims = scan_token_claims(self.service.settings, token)
            except Exception as exc:  # a scan token, but forged, expired or without its scan: no identity
                LOGGER.info("scan token refused: %s", exc)
                return None
            if claims is not None:
                self.auth_data, self.auth_key = claims, token
                return str(claims["sub"])
        return super().get_current_user()  # type: ignore[no-any-return]

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self._received += len(chunk)
        if self._received > self.max_body_bytes:
            self._chunks = []
            error = BodyTooLarge(f"request body is over {self.max_body_bytes} bytes (SKYDRIVER_MAX_BODY_BYTES)")
            self.send_error(413, exc_info=(BodyTooLarge, error, None))
            # answered: stop waiting for the rest of the body (tornado's own way, as when the client goes away)
            tornado.web.RequestHandler.on_connection_close(self)
            return
        self._chunks.append(chunk)

    def on_connection_close(self) -> None:
        super().on_connection_close()
        self._give_back_upload()

    def _give_back_upload(self) -> None:
        if self._upload_role is not None:
            self.uploads.give_back(self._upload_role)
            self._upload_role = None

    @property
    def body_bytes(self) -> bytes:
        if len(self._chunks) != 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0]

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        super().send_error(error_status(_cause(kwargs.get("exc_info")), status_code), **kwargs)

    def write_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc = _cause(kwargs.get("exc_info"))
        if isinstance(exc, SkyDriverError):
            message = exc.message
            if exc.retry_after is not None:
                self.set_header("Retry-After", str(exc.retry_after))
        elif isinstance(exc, pydantic.ValidationError):
            message = describe_validation_error(exc)
        else:
            message = INTERNAL_ERROR if status_code >= 500 else self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(json_codec.dumps({"code": status_code, "error": message}))

    def log_exception(
        self, typ: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Errors that are the client's (4xx, answered with the reason) are not logged; a 5xx is a bug: traceback."""
        cause = _cause((typ, value, tb))
        if isinstance(cause, ServiceUnavailable):
            LOGGER.warning("%s %s: %s", self.request.method, self.request.path, cause)
        elif cause is not None and error_status(cause, 500) >= 500:
            LOGGER.error("unexpected error in %s %s", self.request.method, self.request.path, exc_info=cause)
        elif isinstance(cause, tornado.web.HTTPError):
            super().log_exception(typ, value, tb)

    def json_body(self) -> tuple[dict[str, Any], bool]:
        """The body as a dict, and whether it held NaN/Infinity tokens."""
        if self._body is None:
            self._body = parse_object(self.body_bytes)
        return self._body

    def arguments(self, model: type[M]) -> M:
        """Query-string and JSON-body arguments (rest_tools clients send GET arguments as a JSON body) as a model."""
        merged: dict[str, Any] = {}
        for name, values in self.request.query_arguments.items():
            texts = [v.decode(errors="replace") for v in values]
            field = model.model_fields.get(name)
            if field is not None and typing.get_origin(field.annotation) is list:
                merged[name] = texts  # a repeatable argument
            elif len(values) > 1:
                raise ArgumentError(name, "given more than once")
            else:
                merged[name] = texts[0]
        for name, value in self.json_body()[0].items():
            if name in merged:
                raise ArgumentError(name, "given both in the query string and in the body")
            merged[name] = value
        return model.model_validate(merged)

    def check_header(self, header: Header) -> None:
        value = self.request.headers.get(header.name)
        if value is not None and not 1 <= len(value) <= header.max_length:
            raise BadRequest(f"header '{header.name}': must be 1-{header.max_length} characters")

    async def parsed_body(self, op: Operation) -> Any:
        """The body as the operation takes it; a large one (which took an upload slot) is parsed in a worker process,
        so that the event loop goes on answering other requests meanwhile."""
        if self.request.query_arguments:
            raise BadRequest(f"unexpected query arguments: {', '.join(self.request.query_arguments)}")
        if op.parse_body is not None:
            parse, args = op.parse_body, (self.body_bytes,)
        else:
            parse, args = model_body, (op.body, self.body_bytes)
        if len(self.body_bytes) > LARGE_BODY_BYTES:
            return await self.body_workers.run(parse, *args)
        return parse(*args)

    def on_finish(self) -> None:
        self._give_back_upload()
        self.service.metrics.observe_request(
            self.route_template, self.request.method or "", self.get_status(), self.request.request_time()
        )

    def compute_etag(self) -> None:
        """No ETags: tornado would hash every response (a SHA-1 over 244 kB results and 480 kB events, ~5% of the
        CPU of a GET result), and the API makes no conditional-request promises."""
        return None

    def write_json(self, payload: bytes) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(payload)

    async def write_json_parts(self, parts: list[bytes]) -> None:
        """A JSON text given in pieces (a large result's stored chunks): a small one written as `write_json` does; a
        large one sent piece by piece, each let go once the socket took it, so that SkyDriver never holds the text
        twice (joined, or once in the response buffer)."""
        size = sum(map(len, parts))
        if size <= STREAM_RESPONSE_BYTES:
            self.write_json(b"".join(parts))
            return
        self.set_header("Content-Type", "application/json")
        self.set_header("Content-Length", size)  # as a written-at-once response has, rather than chunked encoding
        parts.reverse()
        while parts:
            self.write(parts.pop())
            try:
                await self.flush()
            except tornado.iostream.StreamClosedError:
                return  # the client went away


def _cause(exc_info: tuple[Any, Any, Any] | None) -> BaseException | None:
    """The error a request failed with."""
    return (exc_info or (None, None, None))[1]


def checked_scan_id(scan_id: str) -> str:
    if not SCAN_ID_PATTERN.match(scan_id):
        raise ArgumentError("scan_id", f"{scan_id[:80]!r} is not a scan id (32 lowercase hex characters)")
    return scan_id
