"""One error hierarchy: each error's status reaches the client through one mapping; the database layer recognises an
Idempotency-Key clash by the index the server names, not by the message's text."""

from __future__ import annotations

import inspect
import logging
import socket
import uuid
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

from skydriver import docker_tags, errors
from skydriver.server import SkyDriver
from tests.conftest import scan_body
from tests.http_client import HttpClient


def test_every_error_is_a_skydriver_error_with_a_status() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, Exception)]
    assert len(classes) >= 12
    for cls in classes:
        assert issubclass(cls, errors.SkyDriverError), cls
        assert 400 <= cls.status <= 599, cls
    assert errors.DatabaseUnavailable.status == 503 and errors.ArgumentError.status == 400


async def test_the_index_names_an_idempotency_key_clash(driver: SkyDriver) -> None:
    manifests = driver.database.manifests

    def doc(key: str | None = None, scan_id: str | None = None) -> dict[str, Any]:
        fields = {"scan_id": scan_id or uuid.uuid4().hex, "is_deleted": False, "lookup": {}, "created": None}
        return fields | ({"idempotency_key": key} if key else {})

    await manifests.insert(doc("k-1", "a" * 32))
    with pytest.raises(errors.IdempotencyKeyTaken, match="'k-1'"):
        await manifests.insert(doc("k-1"))
    with pytest.raises(DuplicateKeyError):  # another unique index: not a key clash, whatever the message holds
        await manifests.insert(doc("idempotency_key", "a" * 32))


async def test_service_unavailable_is_503_with_retry_after(
    driver: SkyDriver, user: HttpClient, modern_event: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Docker Hub unreachable (a closed local port stands in for it): the client is told to come back, not blamed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setattr(docker_tags, "DOCKERHUB_TAGS_URL", f"http://127.0.0.1:{closed_port}/tags")
    driver.service.tags = docker_tags.DockerTagResolver("dockerhub")
    response = await user.post("/scan", scan_body(modern_event))
    assert response.status == 503 and "cannot list Skymap Scanner tags from Docker Hub" in response.json()["error"]
    assert response.headers["Retry-After"] == str(docker_tags.RETRY_AFTER_SECONDS)
    assert await driver.database.manifests.collection.count_documents({}) == 0


async def test_a_bug_is_a_logged_500_without_details(
    driver: SkyDriver, user: HttpClient, modern_event: dict, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(requested: str) -> str:
        raise KeyError("secret detail")

    monkeypatch.setattr(driver.service.tags, "resolve", broken)
    with caplog.at_level(logging.ERROR):
        response = await user.post("/scan", scan_body(modern_event))
    assert response.status == 500 and response.json() == {"code": 500, "error": "internal error (logged by SkyDriver)"}
    assert any(record.exc_info and "secret detail" in str(record.exc_info[1]) for record in caplog.records)
