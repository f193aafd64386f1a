"""Resolve the docker tag a user asks for (``latest``, ``v3``, ``3.5``, a branch tag) to one concrete image tag.

The scan's provenance records the concrete tag, so "latest" today and "latest" next month stay distinguishable.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

import requests

from .errors import DockerTagSourceUnavailable, UnknownDockerTag

LOGGER = logging.getLogger(__name__)

DOCKERHUB_TAGS_URL = "https://hub.docker.com/v2/repositories/icecube/skymap_scanner/tags?page_size=100"
CACHE_SECONDS = 600.0
RETRY_AFTER_SECONDS = 30  # what a client is told to wait when Docker Hub cannot be asked
VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


def _semver(tag: str) -> tuple[int, int, int] | None:
    match = VERSION.match(tag)
    if not match or match.group(3) is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def resolve_tag(requested: str, known_tags: list[str] | tuple[str, ...]) -> str:
    """``latest`` -> newest X.Y.Z; ``v3``/``3`` -> newest 3.Y.Z; ``3.5`` -> newest 3.5.Z; else an exact match."""
    releases = sorted((v, t) for t in known_tags if (v := _semver(t)) is not None)
    wanted = requested.strip()
    if wanted == "latest" and releases:
        return _plain(releases[-1][1])
    match = VERSION.match(wanted)
    if match:
        prefix = tuple(int(g) for g in match.groups() if g is not None)
        candidates = [t for v, t in releases if v[: len(prefix)] == prefix]
        if candidates:
            return _plain(candidates[-1])
    elif wanted in known_tags:
        return wanted
    newest = ", ".join(_plain(t) for _, t in releases[-5:][::-1])
    raise UnknownDockerTag(f"no Skymap Scanner image matches {requested!r} (newest: {newest or 'none known'})")


def _plain(tag: str) -> str:
    return tag[1:] if tag.startswith("v") and _semver(tag) else tag


class DockerTagResolver:
    """Tags from a fixed list (embedded default, tests) or from Docker Hub (production), cached."""

    def __init__(self, source: str, tags: tuple[str, ...] = ()):
        self.source = source
        self._tags = list(tags)
        self._fetched_at = 0.0 if source == "dockerhub" else float("inf")

    async def resolve(self, requested: str) -> str:
        if time.monotonic() - self._fetched_at > CACHE_SECONDS:
            await self._refresh()
        return resolve_tag(requested, self._tags)

    async def _refresh(self) -> None:
        try:
            self._tags = await asyncio.to_thread(_fetch_dockerhub_tags)
            self._fetched_at = time.monotonic()
        except (requests.RequestException, ValueError) as exc:
            if not self._tags:
                message = f"cannot list Skymap Scanner tags from Docker Hub: {exc}"
                raise DockerTagSourceUnavailable(message, retry_after=RETRY_AFTER_SECONDS) from exc
            LOGGER.warning("Docker Hub tag list unavailable, using the cached one: %s", exc)


def _fetch_dockerhub_tags() -> list[str]:
    tags: list[str] = []
    url: str | None = DOCKERHUB_TAGS_URL
    while url and len(tags) < 2000:
        page = requests.get(url, timeout=10)
        page.raise_for_status()
        body = page.json()
        tags.extend(r["name"] for r in body.get("results", []))
        url = body.get("next")
    return tags
