"""Every setting of SkyDriver, each declared once: its environment variable, type, default, help text and validation.

The declarations are pydantic dataclass fields: the field's alias is the environment variable, its description the
help text (the README's settings table is generated from them: ``make docs``), its type and constraints the
validation. Chosen over pydantic-settings (a further dependency, built to read the process environment itself) and
wipac_dev_tools' ``from_environment_as_dataclass`` (reads the process environment into fields named as the
variables, with no place for help text or bounds): pydantic is already what validates every request, it reads a plain
mapping (``Settings.from_env(environ)``: tests never touch ``os.environ``), and as a dataclass the settings keep
``dataclasses.replace``, which validates again.

Settings only the Kubernetes launcher reads are grouped (``settings.kubernetes``), as are those every launcher passes
to the scanner (``settings.scanner``), so the Kubernetes object builders are handed what they use and nothing else.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import socket
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote_plus

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic.dataclasses import dataclass
from pydantic.fields import FieldInfo
from typing_extensions import TypedDict

from .errors import ConfigError

DEFAULT_CLUSTERS = {
    "sub-2": {"collector": "glidein-cm.icecube.wisc.edu", "schedd": "sub-2.icecube.wisc.edu"},
    "local": {"collector": "localhost", "schedd": "localhost"},
}
# the embedded default's stand-in for Docker Hub's tag list of icecube/skymap_scanner
DEFAULT_LOCAL_DOCKER_TAGS = "3.5.2,3.5.1,3.5.0,3.4.2,3.4.1,3.4.0,3.3.0,3.2.1,3.1.4,3.1.3,3.0.1,2.9.3"

# unknown variables are ignored (the mapping is the whole environment); text is stripped of surrounding blanks
FROM_ENVIRONMENT = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=True)


def setting(env: str, default: Any, help: str, *, shown_default: str | None = None, **constraints: Any) -> Any:
    """One setting: environment variable ``env``; ``shown_default`` is the README's wording when the value would not
    say it (a computed or long default)."""
    extra = {"shown_default": shown_default} if shown_default is not None else None
    return Field(default, alias=env, description=help, json_schema_extra=extra, **constraints)


def _lowercase(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _uppercase(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _comma_separated(value: Any) -> Any:
    return tuple(t.strip() for t in value.split(",") if t.strip()) if isinstance(value, str) else value


def _json_text(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


LOGS_URL_FIELDS = ("scan_id", "start", "end", "start_ms", "end_ms")
# loopback and the private ranges cluster networks are drawn from: who Prometheus scrapes as
METRICS_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def _logs_url_template(value: str) -> str:
    """Refuse at start a template the status could not fill: unknown or positional fields, unmatched braces."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as e:
        raise ValueError(f"not a format string ({e}); write a literal brace twice: {{{{ }}}}") from None
    if unknown := [name for name in fields if name not in LOGS_URL_FIELDS]:
        raise ValueError(f"unknown field {{{unknown[0]}}}: the fields are {', '.join(f'{{{f}}}' for f in LOGS_URL_FIELDS)}")
    return value


def _secret_reference(value: str) -> str:
    if "/" not in value.strip("/"):
        raise ValueError("must be 'secret-name/key'")
    return value


class ClusterAddress(TypedDict):
    collector: str
    schedd: str


SecretReference = Annotated[str, AfterValidator(_secret_reference)]
Secret = Annotated[str, StringConstraints(strip_whitespace=False)]  # taken exactly as given
Seconds = Annotated[float, Field(ge=0.0)]


@dataclass(frozen=True, config=FROM_ENVIRONMENT)
class ScannerSettings:
    """What every launcher tells the scanner about reporting back."""

    progress_interval: int = setting("SKYSCAN_PROGRESS_INTERVAL_SEC", 300, "how often the scanner reports progress", ge=1)
    result_interval: int = setting("SKYSCAN_RESULT_INTERVAL_SEC", 600, "how often the scanner sends a partial result", ge=1)


@dataclass(frozen=True, config=FROM_ENVIRONMENT)
class KubernetesSettings:
    """What only the Kubernetes launcher reads: where scan Jobs run, their images, the Secrets they reference."""

    namespace: str = setting("K8S_NAMESPACE", "skydriver", "namespace of the scan Jobs")
    scanner_image: str = setting(
        "SKYSCAN_SERVER_IMAGE", "icecube/skymap_scanner", "scanner server image (the resolved tag is appended)"
    )
    singularity_dir: str = setting(
        "SKYSCAN_SINGULARITY_DIR",
        "/cvmfs/icecube.opensciencegrid.org/containers/realtime/skymap_scanner",
        "workers' image (`:<tag>` appended)",
    )
    starter_image: str = setting(
        "SKYDRIVER_STARTER_IMAGE", "ghcr.io/wipacrepo/skydriver:latest", "image with `scanner_client` (this project's image)"
    )
    condor_token_secret: SecretReference = setting(
        "CONDOR_TOKEN_SECRET", "skydriver-secrets/condor-token", "Secret `name/key` holding the HTCondor IDTOKEN"
    )
    scanner_auth_secret: SecretReference = setting(
        "SKYSCAN_SKYDRIVER_AUTH_SECRET", "skydriver-secrets/skydriver-token", "Secret `name/key` with the scanner's SkyDriver token"
    )
    scan_deadline: int = setting(
        "K8S_SCAN_DEADLINE", 0,
        "`activeDeadlineSeconds` of scan Jobs: Kubernetes stops a scan running longer (`0`: no deadline)", ge=0,
    )  # fmt: skip
    broker_address: str = setting("SKYSCAN_BROKER_ADDRESS", "", "the scanner's message broker")
    broker_auth_secret: SecretReference = setting(
        "SKYSCAN_BROKER_AUTH_SECRET", "skydriver-secrets/broker-token", "Secret `name/key` with the broker token"
    )


@dataclass(frozen=True, config=FROM_ENVIRONMENT)
class Settings:
    """Everything SkyDriver reads from its environment, read once at start."""

    # --- REST server
    rest_host: str = setting("REST_HOST", "127.0.0.1", "address to bind")
    rest_port: int = setting("REST_PORT", 8080, "port to bind (`0`: any free port)", ge=0, le=65535)
    skydriver_address: str = setting(
        "SKYDRIVER_ADDRESS", "", "the URL scanners report back to", shown_default="`http://REST_HOST:REST_PORT`"
    )
    max_body_bytes: int = setting(
        "SKYDRIVER_MAX_BODY_BYTES", 64 * 1024 * 1024, "larger request bodies get a 413 before they are read", ge=1024
    )
    large_uploads_per_role: int = setting(
        "SKYDRIVER_LARGE_UPLOADS_PER_ROLE", 2,
        "bodies over 1 MiB one role may be sending at once (more get 503 + `Retry-After`); real events and results "
        "are smaller", ge=1,
    )  # fmt: skip
    idle_timeout: float = setting(
        "SKYDRIVER_IDLE_TIMEOUT", 30.0,
        "seconds a connection may take to send a request's headers (idle keep-alive connections included)", ge=1.0,
    )  # fmt: skip
    body_timeout: float = setting("SKYDRIVER_BODY_TIMEOUT", 300.0, "seconds a client may take to send a request's body", ge=1.0)
    body_workers: int = setting(
        "SKYDRIVER_BODY_WORKERS", 2, "processes that parse and check request bodies over 1 MiB (large results) off the event loop", ge=1
    )
    render_workers: int = setting(
        "SKYDRIVER_RENDER_WORKERS", 2, "processes that make result summaries, sky maps and FITS files off the event loop", ge=1
    )
    render_queue: int = setting(
        "SKYDRIVER_RENDER_QUEUE", 8,
        "summaries, sky maps and FITS files that may wait for a render process; more get 503 + `Retry-After`", ge=0,
    )  # fmt: skip
    render_cache_mb: int = setting(
        "SKYDRIVER_RENDER_CACHE_MB", 64, "memory for the latest summaries, sky maps and FITS files (each made once per result version)", ge=0
    )

    # --- database
    data_dir: Annotated[Path, AfterValidator(Path.absolute)] = setting(
        "SKYDRIVER_DATA_DIR", Path(".skydriver-data"), "embedded database files, logs, local scans' working directories and logs",
        validate_default=True,
    )
    mongodb_uri: str = setting(
        "MONGODB_URI", "", "production database; unset (and no `MONGODB_HOST`) = start the embedded one", repr=False
    )
    mongodb_host: str = setting("MONGODB_HOST", "", "the production database piece by piece, when `MONGODB_URI` is unset")
    mongodb_port: int = setting("MONGODB_PORT", 27017, "with `MONGODB_HOST`", ge=1, le=65535)
    mongodb_user: str = setting("MONGODB_USER", "", "with `MONGODB_HOST`")
    mongodb_password: Secret = setting("MONGODB_PASSWORD", "", "with `MONGODB_USER`", repr=False)
    mongodb_database: str = setting("MONGODB_DATABASE", "skydriver", "database name")
    mongodb_start_timeout: Seconds = setting(
        "MONGODB_START_TIMEOUT", 60.0, "seconds to wait at start for a configured MongoDB that is not up yet"
    )
    event_cache_mb: int = setting(
        "SKYDRIVER_EVENT_CACHE_MB", 96,
        "memory for recently read events (immutable, 100-500 kB each), so manifest polls skip fetching them", ge=0,
    )  # fmt: skip

    # --- auth
    auth_enabled: bool = setting("SKYDRIVER_AUTH", True, "`off` disables auth; refused unless `REST_HOST` is a loopback address")
    auth_openid_url: str = setting("AUTH_OPENID_URL", "", "OpenID Connect provider (production)")
    auth_audience: str = setting("AUTH_AUDIENCE", "", "expected token audience (with `AUTH_OPENID_URL`)")
    auth_secret: Secret = setting("AUTH_SECRET", "", "HS512 symmetric secret (development, tests)", repr=False)
    scan_token_secret: Secret = setting(
        "SCAN_TOKEN_SECRET", "",
        "HS512 key SkyDriver signs each scan's own `system` token with (valid on that scan only); unset with "
        "`AUTH_OPENID_URL`: Kubernetes scans get the shared token of `SKYSCAN_SKYDRIVER_AUTH_SECRET`",
        shown_default="`AUTH_SECRET`", repr=False,
    )  # fmt: skip
    user_groups_regex: str = setting(
        "AUTH_USER_GROUPS", "/institutions/IceCube.*",
        "token `groups` pattern that grants role `user`; role `system` is `skydriver_role=system`",
    )  # fmt: skip

    # --- scan arguments
    clusters: Annotated[dict[str, ClusterAddress], BeforeValidator(_json_text)] = setting(
        "SKYDRIVER_CLUSTERS", DEFAULT_CLUSTERS,
        'JSON `{"name": {"collector": …, "schedd": …}}`; `sub-2` = `glidein-cm.icecube.wisc.edu` / `sub-2.icecube.wisc.edu`',
        shown_default="`sub-2` and `local`",
    )  # fmt: skip
    docker_tags_source: Annotated[Literal["list", "dockerhub"], BeforeValidator(_lowercase)] = setting(
        "SKYSCAN_DOCKER_TAGS_SOURCE", "list",
        "where docker tags are resolved: `list` (below) or `dockerhub` (icecube/skymap_scanner, cached 10 min)",
    )  # fmt: skip
    docker_tags: Annotated[tuple[str, ...], BeforeValidator(_comma_separated)] = setting(
        "SKYSCAN_DOCKER_TAGS", _comma_separated(DEFAULT_LOCAL_DOCKER_TAGS),
        "the known tags (comma-separated) when the source is `list`", shown_default="3.5.2 … 2.9.3",
    )  # fmt: skip

    # --- launching
    launcher: Annotated[Literal["none", "local", "kubernetes"], BeforeValidator(_lowercase)] = setting(
        "SKYDRIVER_LAUNCHER", "local",
        "`local`, `kubernetes`, or `none` (scans wait in the backlog: how operators pause launching)",
    )  # fmt: skip
    instance: str = setting(
        "SKYDRIVER_INSTANCE", "",
        "this SkyDriver's name in backlog leases: the same after a restart (so it takes back at once the launches it "
        "held when it crashed), different for every replica sharing a database (a pod's name)",
        shown_default="`HOSTNAME:SKYDRIVER_DATA_DIR`",
    )  # fmt: skip
    launch_interval: Seconds = setting("LAUNCH_INTERVAL", 5.0, "seconds between launches (rate limit; priority >= 100 skips it)")
    launch_max_attempts: int = setting("LAUNCH_MAX_ATTEMPTS", 5, "launch tries before a scan is marked failed", ge=1)
    launch_retry_backoff: Seconds = setting("LAUNCH_RETRY_BACKOFF", 10.0, "seconds before the first retry, doubling each time")
    launch_timeout: float = setting("LAUNCH_TIMEOUT", 120.0, "seconds one launch or teardown may take", ge=1.0)
    reconcile_interval: float = setting("RECONCILE_INTERVAL", 60.0, "seconds between polls of running scans", ge=0.1)
    wait_before_teardown: Seconds = setting("WAIT_BEFORE_TEARDOWN", 60.0, "seconds between the final result and the teardown")
    stall_after: Seconds = setting(
        "STALL_AFTER", 0.0, "seconds without a progress report before a running scan shows `STALLED__…` (`0`: the default)",
        shown_default="3 x `SKYSCAN_PROGRESS_INTERVAL_SEC`",
    )  # fmt: skip
    scan_start_timeout: float = setting(
        "SCAN_START_TIMEOUT", 1800.0, "seconds from launch to the scanner's first report before the scan is stopped and failed", ge=1.0
    )
    scan_timeout: Seconds = setting(
        "SCAN_TIMEOUT", 0.0, "seconds without a progress report before a stalled scan is stopped and failed (`0`: never)"
    )

    # --- operations
    log_level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_uppercase)] = setting(
        "LOG_LEVEL", "INFO", "`DEBUG`, `INFO`, `WARNING` or `ERROR`"
    )
    log_format: Annotated[Literal["text", "json"], BeforeValidator(_lowercase)] = setting(
        "LOG_FORMAT", "text", "`text`, or `json`: one object per line with timestamp, level, logger, message, scan_id, request_id"
    )
    logs_url_template: Annotated[str, AfterValidator(_logs_url_template)] = setting(
        "SKYDRIVER_LOGS_URL_TEMPLATE", "",
        "link to a scan's logs (Grafana, Kibana) given as the status's `logs_url`, filled in with `{scan_id}` and the "
        "scan's time window, from a minute before it was created to a minute after it ended: `{start}`/`{end}` in ISO "
        "8601 UTC (`2026-11-28T04:00:00Z`, for Kibana's `time:(from:'{start}',to:'{end}')`) or `{start_ms}`/`{end_ms}` "
        "in epoch milliseconds (Grafana's `from={start_ms}&to={end_ms}`); the end is `now` until the scan has ended. "
        "Literal braces are doubled (`{{`) or URL-encoded. Unset: `logs_url` is null",
    )  # fmt: skip
    metrics_token: Secret = setting(
        "METRICS_TOKEN", "",
        "bearer token `/metrics` requires; unset: open without a token to clients in `METRICS_NETWORKS`",
        repr=False,
    )  # fmt: skip
    metrics_networks: Annotated[tuple[IPvAnyNetwork, ...], BeforeValidator(_comma_separated)] = setting(
        "METRICS_NETWORKS", METRICS_NETWORKS,
        "networks (comma-separated CIDRs) whose clients may scrape `/metrics` without a token when `METRICS_TOKEN` is "
        "unset; narrow it to the cluster's pod network when a load balancer hides clients' addresses",
        shown_default="loopback and private (RFC 1918, `fc00::/7`)",
    )  # fmt: skip
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    scanner: ScannerSettings = Field(default_factory=ScannerSettings)

    def __post_init__(self) -> None:
        if not self.mongodb_uri and self.mongodb_host:
            object.__setattr__(self, "mongodb_uri", self._uri_from_parts())
        if not self.instance:
            object.__setattr__(self, "instance", f"{socket.gethostname()}:{self.data_dir}")
        if not self.stall_after:
            object.__setattr__(self, "stall_after", 3.0 * self.scanner.progress_interval)

    def _uri_from_parts(self) -> str:
        address = f"{self.mongodb_host}:{self.mongodb_port}"
        if self.mongodb_user:
            return f"mongodb://{quote_plus(self.mongodb_user)}:{quote_plus(self.mongodb_password)}@{address}"
        return f"mongodb://{address}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check every setting from ``environ`` (the process environment when None)."""
        env = dict(os.environ if environ is None else environ)
        try:
            # each group reads the same variables: its fields are named by their own aliases
            settings = TypeAdapter(cls).validate_python({**env, **{group: env for group in GROUPS}})
        except ValidationError as exc:
            raise ConfigError(describe(exc)) from None
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that are unsafe or cannot work."""
        if not self.auth_enabled and not is_loopback(self.rest_host):
            raise ConfigError(f"SKYDRIVER_AUTH=off is refused when binding a non-loopback address (REST_HOST={self.rest_host})")
        if self.auth_enabled and not (self.auth_secret or self.auth_openid_url):
            raise ConfigError("auth is on: set AUTH_SECRET or AUTH_OPENID_URL (or SKYDRIVER_AUTH=off on loopback)")
        if self.auth_openid_url and not self.auth_audience:
            raise ConfigError("AUTH_OPENID_URL needs AUTH_AUDIENCE")
        if self.scan_timeout and self.scan_timeout <= self.stall_after:
            raise ConfigError(f"SCAN_TIMEOUT={self.scan_timeout:g} must be 0 (never) or longer than STALL_AFTER={self.stall_after:g}")

    def public_address(self, bound_port: int) -> str:
        """The URL scanners call back to, once the bound port is known."""
        return self.skydriver_address or f"http://{self.rest_host}:{bound_port}"


GROUPS = [name for name, field in Settings.__pydantic_fields__.items() if dataclasses.is_dataclass(field.annotation)]


def declarations() -> list[FieldInfo]:
    """Every setting's declaration, the groups' in their place, in declaration order."""
    found = []
    for name, field in Settings.__pydantic_fields__.items():
        group = field.annotation if name in GROUPS else None
        found += list(group.__pydantic_fields__.values()) if group else [field]  # type: ignore[union-attr]
    return found


def secret_variables() -> frozenset[str]:
    """The environment variables holding SkyDriver's own secrets (declared ``repr=False``): never passed to a scan."""
    return frozenset(str(field.alias) for field in declarations() if not field.repr)


def describe(exc: ValidationError) -> str:
    """pydantic's errors as "VARIABLE='value': reason", naming the environment variable."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = [str(p) for p in error["loc"] if p not in GROUPS]  # a group's fields are named by their variables
        name, inner = loc[0], loc[1:]
        value = error["input"]
        shown = f"={value!r}" if not inner and isinstance(value, str) and not name.endswith(("SECRET", "PASSWORD")) else ""
        where = f" at {'.'.join(inner)}" if inner else ""
        parts.append(f"{name}{shown}{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
