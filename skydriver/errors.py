"""Every error SkyDriver raises on purpose, under one base, each carrying the HTTP status a client gets for it.

The core raises these; the REST layer turns any of them into ``{"code": status, "error": message}`` by reading
``status`` (and ``retry_after``), so no module maps errors to statuses one by one. Errors that never reach a client
(configuration, the embedded database, launching) keep the default 500: if one ever did, it would be a bug.
"""

from __future__ import annotations

from typing import ClassVar


class SkyDriverError(Exception):
    """Base of SkyDriver's errors; the message is what the client (or the operator's log) reads."""

    status: ClassVar[int] = 500
    retry_after: int | None = None  # seconds, sent as a Retry-After header

    @property
    def message(self) -> str:
        return str(self)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as built (subclasses take other constructor arguments): errors come back from worker processes."""
        return _rebuilt, (type(self), self.args, self.__dict__)


def _rebuilt(cls: type[SkyDriverError], args: tuple[object, ...], state: dict[str, object]) -> SkyDriverError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


# ---------------------------------------------------------------------------------------------------------------------
# the client's input


class BadRequest(SkyDriverError, ValueError):
    """The request as a whole is malformed (not JSON, not an object, a bad header)."""

    status = 400


class ArgumentError(BadRequest):
    """A bad argument: ``argument`` names it, the message says why."""

    def __init__(self, argument: str, message: str):
        super().__init__(f"argument '{argument}': {message}")
        self.argument = argument


class JsonDecodeError(BadRequest):
    """Not valid JSON; the message says where."""


class IntegerOutOfRange(JsonDecodeError):
    """An integer MongoDB cannot hold (outside 64 bits); ``path`` leads to it (object keys and list positions)."""

    def __init__(self, path: list[str | int], value: int):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "the top"
        super().__init__(f"integer {value} at {where[:200]} is outside the 64-bit range [-2^63, 2^63-1]")
        self.path = path


class NotStorable(BadRequest):
    """A value MongoDB cannot hold as sent (too deep, too big, a key it refuses); the message says where in it."""


class ClusterLimitReached(ArgumentError):
    """A new cluster report for a scan that already holds as many as it may."""

    def __init__(self, limit: int):
        super().__init__("condor_cluster", f"the scan already holds {limit} clusters")


class UnknownDockerTag(ArgumentError):
    """``docker_tag`` matches no image; the message lists what exists."""

    def __init__(self, message: str):
        super().__init__("docker_tag", message)


class ResultValidationError(ArgumentError):
    """A ``skyscan_result`` that is not a valid HEALPix result; the message names the nside and pixel."""

    def __init__(self, message: str):
        super().__init__("skyscan_result", message)


class Forbidden(SkyDriverError):
    """The caller may not use this route (the message says what would let it)."""

    status = 403


class NotFound(SkyDriverError, LookupError):
    status = 404


class ScanNotFound(NotFound):
    """No scan has this id (or it is deleted and deleted scans were not asked for)."""

    def __init__(self, scan_id: str):
        super().__init__(f"no scan with scan_id {scan_id!r} (deleted scans need include_deleted=true)")
        self.scan_id = scan_id


class LogsUnavailable(NotFound):
    """A scan has no logs to show here (not launched, or by a launcher that cannot read them)."""


class RouteNotFound(NotFound):
    """No route matches the request's path."""


class IdempotencyConflict(SkyDriverError):
    """An Idempotency-Key was reused with a different request body."""

    status = 409


class IdempotencyKeyTaken(IdempotencyConflict):
    """The database refused a second scan with the same Idempotency-Key (the scan service then looks up the first)."""

    def __init__(self, key: str):
        super().__init__(f"Idempotency-Key {key!r} is already in use")
        self.key = key


class NoResultYet(SkyDriverError, LookupError):
    """The scan exists but its scanner has not sent a result yet: nothing to summarise or draw (not a 404: the
    scan is there, and asking again later will succeed)."""

    status = 409

    def __init__(self, scan_id: str):
        super().__init__(f"scan {scan_id!r} has no result yet: its scanner has not sent one (the manifest's progress shows how far it is)")
        self.scan_id = scan_id


class MethodNotAllowed(SkyDriverError):
    """The route has no such method."""

    status = 405


class BodyTooLarge(SkyDriverError):
    """The request body is over SKYDRIVER_MAX_BODY_BYTES."""

    status = 413


class UrlTooLong(SkyDriverError):
    status = 414


class HeadersTooLarge(SkyDriverError):
    status = 431


# ---------------------------------------------------------------------------------------------------------------------
# services SkyDriver depends on


class ServiceUnavailable(SkyDriverError):
    """Something SkyDriver depends on cannot answer now; retrying later can succeed."""

    status = 503

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class UploadsBusy(ServiceUnavailable):
    """The caller's role is already sending as many large bodies as it may (SKYDRIVER_LARGE_UPLOADS_PER_ROLE)."""


class WorkersBusy(ServiceUnavailable):
    """The worker processes for large bodies or sky maps are all busy and their queue is full."""


class WorkersFailed(ServiceUnavailable):
    """A worker process died while it held this request's job (killed, out of memory)."""


class ResultUnreadable(ServiceUnavailable):
    """A render process could not read a large result's GridFS file (its own database connection failed); SkyDriver's
    connection, and every other request, may be fine. ``cause`` (the driver's error, naming the host) is for the log."""

    def __init__(self, cause: str, retry_after: int = 5):
        super().__init__(f"the result could not be read for rendering; retry in {retry_after}s", retry_after)
        self.cause = cause


class DockerTagSourceUnavailable(ServiceUnavailable):
    """The tag list could not be fetched (Docker Hub down): retryable, not the user's fault."""


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached; nothing was written, and the same request can be sent again."""


# ---------------------------------------------------------------------------------------------------------------------
# never a client's answer: startup and background work


class ConfigError(SkyDriverError):
    """A setting has a value SkyDriver cannot run with; the message names the variable."""


class EmbeddedDatabaseError(SkyDriverError):
    """The embedded database could not be started; the message says how to fix it."""


class LaunchError(SkyDriverError):
    """A launch or stop did not happen. ``retryable`` False means retrying cannot help (bad request, quota...)."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable
