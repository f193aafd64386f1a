"""Request and response bodies: the single source of truth for the API's shapes (schemas/ is generated from here).

Request models check each argument on its own; checks that need configuration (cluster names, docker tags,
which reco algorithms the launcher can run) happen in ``scan_request_checks``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator

from scanner_client.job_states import MAX_HOLD_REASON_CHARS, MAX_HOLD_REASONS
from scanner_client.memory_size import request_memory_mb
from scanner_client.nsides import progression_from_json

from .database.records import LaunchStatus
from .json_codec import INT64_MAX, INT64_MIN
from .scan_status import STATE_CODES, STATE_GROUPS
from .storable import MAX_FREE_FORM_BYTES, check_depth, check_free_form

REAL_EVENT_WORDS = {"real", "real_event"}
SIMULATED_EVENT_WORDS = {"sim", "simulated", "simulated_event"}
SCAN_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
MAX_CLUSTERS = 64  # cluster entries of one scan (real scans use one to three)
MAX_NAME_CHARS = 1024  # docker tags, reco algorithms, collector and schedd addresses
MAX_STATES, MAX_STATE_CHARS = 32, 64  # job states in one cluster report (HTCondor has 7), and their names
MAX_CONDOR_CLUSTERS = 1000  # cluster reports one scan keeps (so its manifest stays one document, under 8 MB of them)

# what MongoDB stores as an integer (JSON bodies are checked by json_codec; query strings need the bounds here)
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


def _brief(value: Any) -> str:
    """A value for an error message: scalars as they are (cut short), containers by their type."""
    return repr(value)[:80] if not isinstance(value, (dict, list, tuple)) else type(value).__name__


class _Body(BaseModel):
    """Strict JSON bodies: no type coercion, unknown arguments rejected."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _QueryArgs(BaseModel):
    """Arguments that may come from a query string (text), so "true"/"123" are accepted."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------------------------------
# requests: public routes


class ScanCreate(_Body):
    """POST /scan."""

    docker_tag: StrictStr = Field(min_length=1, max_length=MAX_NAME_CHARS, description="Skymap Scanner image tag: v3.1.4, v3.5, v3, latest, ...")
    cluster: dict[str, Any] | list[Any] = Field(
        description='HTCondor cluster name -> number of workers ({"sub-2": 1234}), or [[name, n], ...] to repeat a name'
    )
    reco_algo: StrictStr = Field(min_length=1, max_length=MAX_NAME_CHARS, pattern=r"^[A-Za-z0-9_]+$", description="reconstruction algorithm")
    event_i3live_json: dict[str, Any] | StrictStr = Field(description="realtime (i3live) event: a dict or its JSON text")
    nsides: dict[StrictStr, StrictInt] = Field(description='nside -> pixel extension, ascending: {"8": 0, "64": 12}')
    real_or_simulated_event: StrictStr = Field(description="real / real_event, or sim / simulated / simulated_event")
    memory: StrictStr = Field("8GB", description="memory per worker, e.g. 8GB, 4000MB")
    predictive_scanning_threshold: StrictFloat = Field(1.0, ge=0.1, le=1.0)
    max_reco_time: StrictInt | None = Field(None, gt=0, description="seconds a single reco may take")
    priority: StrictInt = Field(0, description="launch order, higher first; >= 100 is a realtime alert (no rate limit)")

    @field_validator("cluster")
    @classmethod
    def _cluster_counts(cls, value: Any) -> Any:
        pairs = list(value.items()) if isinstance(value, dict) else list(value)
        if not pairs:
            raise ValueError("at least one cluster is required")
        if len(pairs) > MAX_CLUSTERS:
            raise ValueError(f"{len(pairs)} clusters; at most {MAX_CLUSTERS}")
        for pair in pairs:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)):
                raise ValueError(f"{_brief(pair)} is not a [name, number of workers] pair")
            name, count = pair
            if not isinstance(count, int) or isinstance(count, bool):
                raise ValueError(f"cluster {name[:80]!r}: the number of workers must be an integer, got {_brief(count)}")
            if count <= 0:
                raise ValueError(f"cluster {name[:80]!r}: the number of workers must be positive, got {count}")
        return value

    @field_validator("nsides")
    @classmethod
    def _nsides_progression(cls, value: dict[str, int]) -> dict[str, int]:
        progression_from_json(value)  # the scanner server's own rule (scanner_client/nsides.py)
        return value

    @field_validator("event_i3live_json")
    @classmethod
    def _event_depth(cls, value: dict[str, Any] | str) -> dict[str, Any] | str:
        if isinstance(value, dict):
            check_depth(value)  # the JSON-text form is checked once parsed
        return value

    @field_validator("real_or_simulated_event")
    @classmethod
    def _real_or_simulated(cls, value: str) -> str:
        if value.lower() not in REAL_EVENT_WORDS | SIMULATED_EVENT_WORDS:
            raise ValueError("must be one of: real, real_event, sim, simulated, simulated_event")
        return value

    @field_validator("memory")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        request_memory_mb(value)  # scanner_client's own rule (scanner_client/memory_size.py)
        return value.strip()

    def cluster_pairs(self) -> list[tuple[str, int]]:
        return list(self.cluster.items()) if isinstance(self.cluster, dict) else [(p[0], p[1]) for p in self.cluster]

    def nsides_ints(self) -> dict[int, int]:
        return progression_from_json(self.nsides)

    def is_real_event(self) -> bool:
        return self.real_or_simulated_event.lower() in REAL_EVENT_WORDS


class FindScansArgs(_QueryArgs):
    """GET /scans."""

    run_id: Int64
    event_id: Int64
    is_real_event: bool
    include_deleted: bool = False


class IncludeDeletedArgs(_QueryArgs):
    """GET manifest / result."""

    include_deleted: bool = False


MAX_FLAT_NSIDE = 512
"""The finest single-resolution FITS map served: 3.1 M pixels, a 50 MB file (as large as skyreader's own)."""


class SkymapFitsArgs(IncludeDeletedArgs):
    """GET skymap.fits."""

    flat: int | None = Field(default=None, description=f"a single-resolution map at this nside (a power of two up to {MAX_FLAT_NSIDE}) instead of the multi-order one")

    @field_validator("flat")
    @classmethod
    def _power_of_two(cls, value: int | None) -> int | None:
        if value is not None and not (1 <= value <= MAX_FLAT_NSIDE and value & (value - 1) == 0):
            raise ValueError(f"must be a power of two from 1 to {MAX_FLAT_NSIDE}, not {value}")
        return value


class ManifestGetArgs(IncludeDeletedArgs):
    include_event: bool = Field(True, description="false leaves out event_i3live_json_dict (it is 100-500 kB)")
    wait: float = Field(0, ge=0, le=60, description="answer as soon as the scan changes (state, progress, result), or after this many seconds")


class SkymapArgs(IncludeDeletedArgs):
    """GET sky map."""

    zoom: bool = Field(False, description="true: the region around the best fit instead of the full sky")


class ScanListArgs(_QueryArgs):
    """GET /scans/list: filters (all optional), newest first, a page at a time."""

    state: list[str] = Field([], description="a state code or its prefix (PENDING, IN_PROGRESS, FAILED, ...); repeat for several")
    is_terminal: bool | None = None
    run_id: Int64 | None = None  # (queried: a value MongoDB cannot hold would fail the query)
    event_id: Int64 | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    priority: Int64 | None = None
    include_deleted: bool = False
    limit: int = Field(100, ge=1, le=1000)
    cursor: str | None = Field(None, description="next_cursor of the previous page")

    @field_validator("state")
    @classmethod
    def _known_states(cls, value: list[str]) -> list[str]:
        for state in value:
            if state not in STATE_CODES and state not in STATE_GROUPS:
                raise ValueError(f"{state!r} is not a state code or prefix ({', '.join(STATE_GROUPS)}, or a full code such as {STATE_CODES[0]})")
        return value

    @field_validator("created_after", "created_before")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


class RescanOverrides(_Body):
    """POST /scan/SCAN_ID/actions/rescan: what to change from the original request (nothing: the same scan again)."""

    docker_tag: StrictStr | None = Field(None, min_length=1)
    cluster: dict[str, Any] | list[Any] | None = None
    nsides: dict[StrictStr, StrictInt] | None = None
    priority: StrictInt | None = None


class LogsArgs(_QueryArgs):
    """GET /scan/SCAN_ID/logs."""

    container: str = Field("server", pattern=r"^(server|starter-\d+)$", description="server, or starter-N (the N-th cluster's starter)")
    tail: int = Field(200, ge=1, le=10000, description="how many of the last lines")


class BacklogArgs(_QueryArgs):
    """GET /scans/backlog."""

    limit: int = Field(100, ge=1, le=1000)


class NoArgs(_QueryArgs):
    """Routes that take no arguments."""


# ---------------------------------------------------------------------------------------------------------------------
# requests: scanner-facing routes


HoldReason = Annotated[StrictStr, Field(max_length=MAX_HOLD_REASON_CHARS)]


class CondorClusterReport(_Body):
    """An HTCondor cluster a starter submitted; ``states`` are its job-state counts and ``hold_reasons`` its held jobs
    per HTCondor ``HoldReason``, reported again and again (each report replaces the last)."""

    collector: StrictStr = Field(max_length=MAX_NAME_CHARS)
    schedd: StrictStr = Field(max_length=MAX_NAME_CHARS)
    cluster_id: StrictInt = Field(ge=0)
    jobs: StrictInt = Field(ge=0)
    states: dict[Annotated[StrictStr, Field(max_length=MAX_STATE_CHARS)], StrictInt] | None = Field(None, max_length=MAX_STATES)
    hold_reasons: dict[HoldReason, Annotated[StrictInt, Field(ge=0)]] | None = Field(
        None, max_length=MAX_HOLD_REASONS, description="held jobs per hold reason, most common first"
    )

    @field_validator("hold_reasons")
    @classmethod
    def _storable_keys(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        """Hold reasons are keys of the stored cluster entry: ones MongoDB can hold."""
        check_free_form(value, MAX_FREE_FORM_BYTES)
        return value


class EventMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_id: StrictInt
    event_id: StrictInt
    event_type: StrictStr
    mjd: float
    is_real_event: StrictBool


class ProcessingStats(BaseModel):
    model_config = ConfigDict(extra="allow")

    start: dict[str, Any] = {}
    runtime: dict[str, Any] = {}
    rate: dict[str, Any] = {}
    end: str = ""
    finished: bool = False
    predictions: dict[str, Any] = {}


class Progress(BaseModel):
    model_config = ConfigDict(extra="allow")

    summary: str
    epilogue: str
    tallies: dict[str, Any]
    processing_stats: ProcessingStats
    predictive_scanning_threshold: float
    last_updated: str


class ManifestPatch(_Body):
    """PATCH /scan/manifest/SCAN_ID: what the scanner and the worker starters report."""

    progress: Progress | None = None
    event_metadata: EventMetadata | None = None
    scan_metadata: dict[str, Any] | None = None
    condor_cluster: CondorClusterReport | None = None

    @field_validator("progress", "event_metadata", "scan_metadata", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """Stored as sent: keys, depth and size MongoDB can hold (at most MAX_FREE_FORM_BYTES each)."""
        check_free_form(value, MAX_FREE_FORM_BYTES)
        return value


class ResultPut(_Body):
    """PUT /scan/result/SCAN_ID (``skyscan_result`` is checked against HEALPix geometry separately)."""

    skyscan_result: dict[str, Any]
    is_final: StrictBool


# ---------------------------------------------------------------------------------------------------------------------
# responses


class CondorCluster(BaseModel):
    collector: str
    schedd: str
    cluster_id: int
    jobs: int
    states: dict[str, int] | None = None
    hold_reasons: dict[str, int] | None = Field(None, description="held jobs per HTCondor hold reason, most common first")


class Launch(BaseModel):
    """SkyDriver's own record of launching and tearing down (an addition to the contract's Manifest)."""

    launcher: str
    status: LaunchStatus
    reason: str | None = None
    attempts: int = 0


class ScanFailure(BaseModel):
    """Why a scan failed, as the part that failed told it."""

    source: Literal["scanner", "kubernetes", "htcondor", "skydriver"]
    code: str = Field(description="EXIT_CODE_1, KILLED_BY_SIGNAL_9, OOMKilled, ImagePullBackOff, SCAN_START_TIMEOUT, SCAN_TIMEOUT, LAUNCH_FAILED, ...")
    message: str
    exit_code: int | None = None
    log_tail: list[str] | None = Field(None, description="the failed process's last log lines")
    at: dt.datetime | None = Field(None, description="when SkyDriver recorded it")


class ScanTimestamps(BaseModel):
    created: dt.datetime | None
    launched: dt.datetime | None
    first_progress: dt.datetime | None
    last_progress: dt.datetime | None
    final_result: dt.datetime | None
    ended: dt.datetime | None = Field(description="when the scan's processes were stopped")


class ScanStatus(BaseModel):
    """GET /scan/SCAN_ID/status, and the manifest's ``status``: enough to decide to wait, retry or escalate."""

    scan_id: str
    scan_state: Literal[STATE_CODES]  # type: ignore[valid-type]
    is_terminal: bool = Field(description="the state will not change any more")
    reason: str = Field(description="one sentence naming where the scan is or why it ended")
    failure: ScanFailure | None
    complete: bool = Field(description="the scan's processes were stopped")
    is_deleted: bool
    timestamps: ScanTimestamps
    pixels_done: int
    pixels_total: int | None = Field(description="the scanner's estimate; None until it reports one")
    rate: dict[str, Any] | None = Field(description="reco rates as the scanner reports them")
    eta: dict[str, Any] | None = Field(description="the scanner's predictions (time left, end)")
    logs_url: str | None = Field(description="the scan's logs (SKYDRIVER_LOGS_URL_TEMPLATE filled in); null when unset")


class Manifest(BaseModel):
    """The contract's Manifest, plus scan_id, is_deleted, docker_tag (resolved image tag) and launch."""

    scan_id: str
    is_deleted: bool
    event_i3live_json_dict: dict[str, Any] | None = Field(None, description="left out with include_event=false")
    scanner_server_args: str
    tms_args: list[str]
    env_vars: dict[str, dict[str, Any]]
    condor_clusters: list[CondorCluster]
    event_metadata: EventMetadata | None
    scan_metadata: dict[str, Any] | None
    progress: Progress | None
    complete: bool
    docker_tag: str
    skydriver_version: str | None = Field(None, description="the SkyDriver version that accepted the scan (provenance)")
    launch: Launch
    status: ScanStatus
    rescan_of: str | None = Field(None, description="the scan this one repeats (POST /scan/SCAN_ID/actions/rescan)")
    replaced_by: str | None = Field(None, description="the latest rescan of this scan")


class ScanRequestArgs(BaseModel):
    """GET /scan/SCAN_ID/request: the POST arguments as received (resolved cluster order kept), without the event."""

    docker_tag: str
    cluster: list[tuple[str, int]]
    reco_algo: str
    nsides: dict[str, int]
    real_or_simulated_event: str
    memory: str
    predictive_scanning_threshold: float
    max_reco_time: int | None
    priority: int


class ScanLogs(BaseModel):
    scan_id: str
    container: str
    lines: list[str]


class ScanRequestSummary(BaseModel):
    """What was asked for (never the event)."""

    run_id: int | None
    event_id: int | None
    is_real_event: bool | None
    reco_algo: str
    nsides: dict[str, int]
    docker_tag: str
    clusters: list[dict[str, Any]]
    priority: int


class ScanListEntry(BaseModel):
    scan_id: str
    status: ScanStatus
    request: ScanRequestSummary


class ScanList(BaseModel):
    """GET /scans/list: ``next_cursor`` is null on the last page (a page may hold fewer than ``limit`` scans)."""

    scans: list[ScanListEntry]
    next_cursor: str | None


class BacklogEntry(BaseModel):
    scan_id: str
    priority: int
    created: dt.datetime
    attempts: int = Field(description="launch attempts so far")
    next_attempt_at: dt.datetime


class Backlog(BaseModel):
    """GET /scans/backlog: scans waiting to be launched, in the order they will be."""

    scans: list[BacklogEntry]


class Result(BaseModel):
    """The contract's Result, plus scan_id and is_deleted; ``{}`` when no result was written yet."""

    scan_id: str
    is_deleted: bool
    skyscan_result: dict[str, Any]
    is_final: bool


class ScanIds(BaseModel):
    event_id: int
    scan_ids: list[str]


class ScanWhole(BaseModel):
    """GET /scan/SCAN_ID."""

    manifest: Manifest
    result: Result | dict[str, Any]


class BestFit(BaseModel):
    """The pixel with the smallest finite llh, and its direction."""

    nside: int
    index: int
    ra_deg: float
    dec_deg: float
    llh: float


class ResultSummary(BaseModel):
    """GET /scan/SCAN_ID/result/summary (what each number means: ``skydriver.results.summary.summarize``)."""

    best_fit: BestFit | None = Field(description="null while no pixel has a finite llh")
    pixel_counts: dict[str, int] = Field(description="rows per nside-N key")
    contour_levels_2dllh: dict[str, float] = Field(description="level name -> threshold on 2*(llh - best llh) (Wilks)")
    contour_areas_deg2: dict[str, float] = Field(description="inside the interpolated contour lines, as skyreader reports them")
    pixel_areas_deg2: dict[str, float] = Field(description="of the whole pixels at or under each level")
    contours: dict[str, list[list[list[float]]]] = Field(description="per level, closed [[RA, Dec], ...] rings in degrees")
    scanned_area_deg2: float


class HealthStatus(BaseModel):
    """GET /healthz."""

    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    """GET /readyz: each check's outcome (`ok`, and `error` when not; the launcher's is always ok, `degraded` with
    an `error` when the last reconcile pass could not reach its engine)."""

    ready: bool
    checks: dict[str, dict[str, Any]]


class Error(BaseModel):
    code: int
    error: str
