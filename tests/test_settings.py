"""Settings are declared once: read from a mapping (never os.environ), checked with errors naming the variable, and
the README's table generated from the same declarations."""

from __future__ import annotations

import dataclasses
import os

import pytest

from skydriver.config import DEFAULT_CLUSTERS, Settings, declarations
from skydriver.docs import README, routes_table, settings_table, with_generated_tables
from skydriver.errors import ConfigError

LOOPBACK_NO_AUTH = {"SKYDRIVER_AUTH": "off"}


def test_the_readme_tables_are_generated_from_the_declarations() -> None:
    readme = README.read_text()
    assert settings_table() in readme and routes_table() in readme
    assert with_generated_tables(readme) == readme, "the README's settings or routes table is stale: run `make docs`"


def test_every_setting_is_documented_once() -> None:
    names = [field.alias for field in declarations()]
    assert len(names) == len(set(names)) and all(name and name.isupper() for name in names)
    assert all(field.description for field in declarations())
    for name in names:
        assert f"| `{name}` |" in settings_table()


def test_defaults_and_types_from_an_empty_environment() -> None:
    before = dict(os.environ)
    settings = Settings.from_env(LOOPBACK_NO_AUTH)
    assert dict(os.environ) == before
    assert (settings.rest_host, settings.rest_port, settings.launcher) == ("127.0.0.1", 8080, "local")
    assert settings.clusters == DEFAULT_CLUSTERS and settings.docker_tags[0] == "3.5.2"
    assert settings.data_dir.is_absolute() and settings.mongodb_uri == ""
    assert settings.kubernetes.namespace == "skydriver" and settings.scanner.progress_interval == 300


def test_values_are_parsed_from_text() -> None:
    settings = Settings.from_env(
        LOOPBACK_NO_AUTH | {
            "REST_PORT": " 9000 ", "SKYDRIVER_LAUNCHER": "Kubernetes", "SKYSCAN_DOCKER_TAGS": "3.5.2, 3.4.0,",
            "SKYDRIVER_CLUSTERS": '{"a": {"collector": "c", "schedd": "s"}}', "LAUNCH_INTERVAL": "0.5",
            "MONGODB_HOST": "db.example", "MONGODB_USER": "sky driver", "MONGODB_PASSWORD": "p@ss",
            "K8S_NAMESPACE": "scans", "SKYSCAN_RESULT_INTERVAL_SEC": "30",
        }
    )  # fmt: skip
    assert (settings.rest_port, settings.launcher, settings.docker_tags) == (9000, "kubernetes", ("3.5.2", "3.4.0"))
    assert settings.clusters == {"a": {"collector": "c", "schedd": "s"}} and settings.launch_interval == 0.5
    assert settings.mongodb_uri == "mongodb://sky+driver:p%40ss@db.example:27017"
    assert settings.kubernetes.namespace == "scans" and settings.scanner.result_interval == 30


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"REST_PORT": "eighty"}, "REST_PORT='eighty': Input should be a valid integer"),
        ({"REST_PORT": "-1"}, "REST_PORT='-1': Input should be greater than or equal to 0"),
        ({"SKYDRIVER_LAUNCHER": "slurm"}, "SKYDRIVER_LAUNCHER='slurm': Input should be 'none', 'local' or 'kubernetes'"),
        ({"SKYDRIVER_AUTH": "maybe"}, "SKYDRIVER_AUTH='maybe': Input should be a valid boolean"),
        ({"SKYDRIVER_CLUSTERS": '{"a": {"collector": "c"}}'}, "SKYDRIVER_CLUSTERS at a.schedd: Field required"),
        ({"SKYDRIVER_CLUSTERS": "{not json"}, "SKYDRIVER_CLUSTERS='{not json'"),
        ({"SKYSCAN_BROKER_AUTH_SECRET": "no-key"}, "SKYSCAN_BROKER_AUTH_SECRET: must be 'secret-name/key'"),
        ({"CONDOR_TOKEN_SECRET": "no-key"}, "CONDOR_TOKEN_SECRET: must be 'secret-name/key'"),
        ({"SKYSCAN_PROGRESS_INTERVAL_SEC": "0"}, "SKYSCAN_PROGRESS_INTERVAL_SEC='0': Input should be greater than or equal to 1"),
        ({"SKYDRIVER_AUTH": "on"}, "auth is on: set AUTH_SECRET or AUTH_OPENID_URL"),
        ({"AUTH_OPENID_URL": "https://id.example"}, "AUTH_OPENID_URL needs AUTH_AUDIENCE"),
        ({"REST_HOST": "0.0.0.0"}, "SKYDRIVER_AUTH=off is refused when binding a non-loopback address"),
    ],
)
def test_bad_values_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(LOOPBACK_NO_AUTH | environ)
    assert message in str(raised.value)


def test_secrets_are_taken_exactly_as_given() -> None:
    assert Settings.from_env({"AUTH_SECRET": " padded secret\n"}).auth_secret == " padded secret\n"


def test_secrets_are_neither_echoed_nor_shown() -> None:
    settings = Settings.from_env({"AUTH_SECRET": "s3cret", "MONGODB_HOST": "db", "MONGODB_USER": "u", "MONGODB_PASSWORD": "pw"})
    assert "s3cret" not in repr(settings) and "pw" not in repr(settings)


def test_replace_validates_again() -> None:
    settings = Settings.from_env(LOOPBACK_NO_AUTH)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        dataclasses.replace(settings, launch_max_attempts=0)
