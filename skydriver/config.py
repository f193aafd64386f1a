"""Every setting of SkyDriver, read once from the environment into one typed object.

Each field's comment is what the README's settings table says; keep the two in step.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
from pathlib import Path

from .errors import ConfigError

DEFAULT_CLUSTERS = {
    "sub-2": {"collector": "glidein-cm.icecube.wisc.edu", "schedd": "sub-2.icecube.wisc.edu"},
    "local": {"collector": "localhost", "schedd": "localhost"},
}
# the embedded default's stand-in for Docker Hub's tag list of icecube/skymap_scanner
DEFAULT_LOCAL_DOCKER_TAGS = "3.5.2,3.5.1,3.5.0,3.4.2,3.4.1,3.4.0,3.3.0,3.2.1,3.1.4,3.1.3,3.0.1,2.9.3"

LAUNCHERS = ("none", "local", "kubernetes")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default).strip()


def _int(name: str, default: int, minimum: int | None = None) -> int:
    raw = _env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} must be >= {minimum}")
    return value


def _float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be >= {minimum}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = _env(name, "on" if default else "off").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} must be on/off")


def _clusters(name: str) -> dict[str, dict[str, str]]:
    raw = os.environ.get(name)
    if not raw:
        return dict(DEFAULT_CLUSTERS)
    try:
        clusters = json.loads(raw)
        if not isinstance(clusters, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("collector"), str) and isinstance(v.get("schedd"), str)
            for v in clusters.values()
        ):
            raise ValueError
    except ValueError:
        raise ConfigError(
            f'{name} must be a JSON object {{"name": {{"collector": "...", "schedd": "..."}}}}'
        ) from None
    return clusters


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclasses.dataclass(frozen=True)
class Settings:
    # --- REST server
    rest_host: str  # REST_HOST: address to bind
    rest_port: int  # REST_PORT: port to bind (0 = any free port)
    max_body_bytes: int  # SKYDRIVER_MAX_BODY_BYTES: larger request bodies get 413
    skydriver_address: str  # SKYDRIVER_ADDRESS: URL scanners use to reach SkyDriver

    # --- database
    data_dir: Path  # SKYDRIVER_DATA_DIR: embedded database files, local scans' logs
    mongodb_uri: str  # MONGODB_URI, or built from MONGODB_HOST/PORT/USER/PASSWORD; "" = embedded
    mongodb_database: str  # MONGODB_DATABASE
    event_cache_mb: int  # SKYDRIVER_EVENT_CACHE_MB: recently read events kept in memory (they never change)

    # --- auth
    auth_enabled: bool  # SKYDRIVER_AUTH: on/off (off only on a loopback address)
    auth_secret: str  # AUTH_SECRET: HS512 symmetric secret (development, tests)
    auth_openid_url: str  # AUTH_OPENID_URL: OpenID provider (production)
    auth_audience: str  # AUTH_AUDIENCE: expected token audience
    user_groups_regex: str  # AUTH_USER_GROUPS: token `groups` pattern for role `user`

    # --- scan arguments
    clusters: dict[str, dict[str, str]]  # SKYDRIVER_CLUSTERS: JSON name -> {collector, schedd}
    docker_tags_source: str  # SKYSCAN_DOCKER_TAGS_SOURCE: "list" or "dockerhub"
    docker_tags: tuple[str, ...]  # SKYSCAN_DOCKER_TAGS: the tags known when the source is "list"

    # --- launching
    launcher: str  # SKYDRIVER_LAUNCHER: none | local | kubernetes
    launch_interval: float  # LAUNCH_INTERVAL: seconds between launches (rate limit; priority>=100 skips it)
    launch_max_attempts: int  # LAUNCH_MAX_ATTEMPTS: tries before a scan is marked failed
    launch_retry_backoff: float  # LAUNCH_RETRY_BACKOFF: seconds before the first retry (doubles each time)
    launch_timeout: float  # LAUNCH_TIMEOUT: seconds one launch or teardown may take before it counts as failed
    reconcile_interval: float  # RECONCILE_INTERVAL: seconds between polls of running scans' launchers
    wait_before_teardown: float  # WAIT_BEFORE_TEARDOWN: seconds after the final result
    k8s_namespace: str  # K8S_NAMESPACE: where scan Jobs run
    scanner_image: str  # SKYSCAN_SERVER_IMAGE: scanner server image, tag appended
    client_singularity_dir: str  # SKYSCAN_SINGULARITY_DIR: CVMFS dir of the workers' images
    starter_image: str  # SKYDRIVER_STARTER_IMAGE: image holding scanner_client
    condor_token_secret: str  # CONDOR_TOKEN_SECRET: Secret name/key with the HTCondor IDTOKEN
    scanner_auth_secret: str  # SKYSCAN_SKYDRIVER_AUTH_SECRET: Secret name/key with the scanner's SkyDriver token
    broker_address: str  # SKYSCAN_BROKER_ADDRESS: the scanner's message broker
    broker_auth_secret: str  # SKYSCAN_BROKER_AUTH_SECRET: Secret name/key with the broker token
    progress_interval: int  # SKYSCAN_PROGRESS_INTERVAL_SEC: scanner progress report interval
    result_interval: int  # SKYSCAN_RESULT_INTERVAL_SEC: scanner partial result interval

    @classmethod
    def from_env(cls) -> Settings:
        rest_host = _env("REST_HOST", "127.0.0.1")
        rest_port = _int("REST_PORT", 8080, minimum=0)
        launcher = _env("SKYDRIVER_LAUNCHER", "local").lower()
        if launcher not in LAUNCHERS:
            raise ConfigError(f"SKYDRIVER_LAUNCHER={launcher!r} must be one of {', '.join(LAUNCHERS)}")
        tags_source = _env("SKYSCAN_DOCKER_TAGS_SOURCE", "list").lower()
        if tags_source not in ("list", "dockerhub"):
            raise ConfigError(f"SKYSCAN_DOCKER_TAGS_SOURCE={tags_source!r} must be 'list' or 'dockerhub'")
        settings = cls(
            rest_host=rest_host,
            rest_port=rest_port,
            max_body_bytes=_int("SKYDRIVER_MAX_BODY_BYTES", 64 * 1024 * 1024, minimum=1024),
            skydriver_address=_env("SKYDRIVER_ADDRESS", ""),
            data_dir=Path(_env("SKYDRIVER_DATA_DIR", ".skydriver-data")).absolute(),
            mongodb_uri=_mongodb_uri(),
            mongodb_database=_env("MONGODB_DATABASE", "skydriver"),
            event_cache_mb=_int("SKYDRIVER_EVENT_CACHE_MB", 96, minimum=0),
            auth_enabled=_bool("SKYDRIVER_AUTH", True),
            auth_secret=os.environ.get("AUTH_SECRET", ""),
            auth_openid_url=_env("AUTH_OPENID_URL", ""),
            auth_audience=_env("AUTH_AUDIENCE", ""),
            user_groups_regex=_env("AUTH_USER_GROUPS", "/institutions/IceCube.*"),
            clusters=_clusters("SKYDRIVER_CLUSTERS"),
            docker_tags_source=tags_source,
            docker_tags=tuple(t.strip() for t in _env("SKYSCAN_DOCKER_TAGS", DEFAULT_LOCAL_DOCKER_TAGS).split(",") if t.strip()),
            launcher=launcher,
            launch_interval=_float("LAUNCH_INTERVAL", 5.0),
            launch_max_attempts=_int("LAUNCH_MAX_ATTEMPTS", 5, minimum=1),
            launch_retry_backoff=_float("LAUNCH_RETRY_BACKOFF", 10.0),
            launch_timeout=_float("LAUNCH_TIMEOUT", 120.0, minimum=1.0),
            reconcile_interval=_float("RECONCILE_INTERVAL", 60.0, minimum=0.1),
            wait_before_teardown=_float("WAIT_BEFORE_TEARDOWN", 60.0),
            k8s_namespace=_env("K8S_NAMESPACE", "skydriver"),
            scanner_image=_env("SKYSCAN_SERVER_IMAGE", "icecube/skymap_scanner"),
            client_singularity_dir=_env(
                "SKYSCAN_SINGULARITY_DIR", "/cvmfs/icecube.opensciencegrid.org/containers/realtime/skymap_scanner"
            ),
            starter_image=_env("SKYDRIVER_STARTER_IMAGE", "ghcr.io/wipacrepo/skydriver:latest"),
            condor_token_secret=_env("CONDOR_TOKEN_SECRET", "skydriver-secrets/condor-token"),
            scanner_auth_secret=_env("SKYSCAN_SKYDRIVER_AUTH_SECRET", "skydriver-secrets/skydriver-token"),
            broker_address=_env("SKYSCAN_BROKER_ADDRESS", ""),
            broker_auth_secret=_env("SKYSCAN_BROKER_AUTH_SECRET", "skydriver-secrets/broker-token"),
            progress_interval=_int("SKYSCAN_PROGRESS_INTERVAL_SEC", 300, minimum=1),
            result_interval=_int("SKYSCAN_RESULT_INTERVAL_SEC", 600, minimum=1),
        )
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
        for name in ("condor_token_secret", "scanner_auth_secret", "broker_auth_secret"):
            if "/" not in getattr(self, name):
                raise ConfigError(f"{name.upper()} must be 'secret-name/key'")

    def public_address(self, bound_port: int) -> str:
        """The URL scanners call back to, once the bound port is known."""
        return self.skydriver_address or f"http://{self.rest_host}:{bound_port}"


def _mongodb_uri() -> str:
    if uri := os.environ.get("MONGODB_URI"):
        return uri
    host = os.environ.get("MONGODB_HOST")
    if not host:
        return ""
    port = _int("MONGODB_PORT", 27017, minimum=1)
    user = os.environ.get("MONGODB_USER", "")
    if user:
        from urllib.parse import quote_plus

        return f"mongodb://{quote_plus(user)}:{quote_plus(os.environ.get('MONGODB_PASSWORD', ''))}@{host}:{port}"
    return f"mongodb://{host}:{port}"
