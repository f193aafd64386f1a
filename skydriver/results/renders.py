"""Summaries, PNG sky maps and FITS files of stored results: made in worker processes, each one once per version.

Plotting clients and dashboards poll the same map while a scan runs, and several may ask at once. The last outputs
are kept (by the result's version and what was asked, up to a byte budget), and requests for an output being made
wait for that one job instead of starting their own. What is made runs in the ``WorkerPool`` (bounded: a full queue
is a 503), so neither the event loop nor memory grows with the number of requests. A result kept in its document
(up to 12 MiB) is passed to the worker and versioned by its digest; a larger one's GridFS file is read by the worker
itself and versioned by the file's id, so SkyDriver neither reads, hashes nor pickles it (for 40 MB: 0.13 s of its
CPU and 40 MB of its memory per render, and ~0.1 s in the render process to receive it, against 0.08 s to read it).

This module stays light to import: healpy, matplotlib and astropy are imported by the worker processes only.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
from typing import Literal

from ..database.blob_reader import BlobAddress, read_blob
from ..workers import WorkerPool

Kind = Literal["summary", "png", "png-zoom", "fits", "fits-flat"]
WORKER_MODULES = ("skydriver.results.analysis", "skydriver.results.skymap", "skydriver.results.skymap_fits",
                  "skydriver.database.blob_reader")  # fmt: skip
DIGEST_ON_LOOP_BYTES = 1024 * 1024  # a larger text is hashed in a thread (hashlib lets go of the GIL)


@dataclasses.dataclass(frozen=True)
class Request:
    """What to make of a result: ``kind``, the nside of a flat FITS file, and the scan's provenance (FITS header)."""

    kind: Kind
    flat_nside: int | None = None
    scan_id: str = ""
    skydriver_version: str = ""
    scanner_image_tag: str = ""
    reco_algo: str = ""
    requested_nsides: tuple[tuple[str, int], ...] = ()


def make(request: Request, version: bytes, source: bytes | BlobAddress) -> bytes:
    """The output for a validated result, its text or where to read it, named by `version` (in a worker process:
    imports healpy, matplotlib, astropy). BlobGone when its GridFS file was replaced before it was read."""
    from .analysis import analysed

    analysis = analysed(version, lambda: source if isinstance(source, bytes) else read_blob(source))
    if request.kind == "summary":
        return analysis.summary_json
    if request.kind in ("png", "png-zoom"):
        from .skymap import render_png

        return render_png(analysis, request.kind == "png-zoom")
    from .skymap_fits import Provenance, flat_fits, multi_order_fits

    provenance = Provenance(request.scan_id, request.skydriver_version, request.scanner_image_tag, request.reco_algo,
                            dict(request.requested_nsides))  # fmt: skip
    if request.kind == "fits":
        return multi_order_fits(analysis, provenance)
    assert request.flat_nside is not None
    return flat_fits(analysis, provenance, request.flat_nside)


class Renders:
    """Outputs of results, made in ``pool``, the latest kept up to ``cache_bytes``."""

    def __init__(self, pool: WorkerPool, cache_bytes: int):
        self.pool = pool
        self.cache_bytes = cache_bytes
        self._done: collections.OrderedDict[tuple[bytes, Request], bytes] = collections.OrderedDict()
        self._held = 0
        self._making: dict[tuple[bytes, Request], asyncio.Future[bytes]] = {}
        self.made = 0  # outputs made; and requests that waited for one being made: what the sharing saves
        self.joined = 0

    async def get(self, request: Request, source: bytes | BlobAddress) -> bytes:
        """The output for a stored result (its text, or where its GridFS file is); BlobGone when that file was
        replaced before the worker read it (read the result's document again)."""
        version = await _version(source)
        key = (version, request)
        if (output := self._done.get(key)) is not None:
            self._done.move_to_end(key)
            return output
        if (making := self._making.get(key)) is not None:
            self.joined += 1
            return await asyncio.shield(making)
        making = self._making[key] = asyncio.get_running_loop().create_future()
        try:
            output = await self.pool.run(make, request, version, source)
        except asyncio.CancelledError:
            making.cancel()
            raise
        except Exception as exc:
            making.set_exception(exc)
            making.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._making[key]
        making.set_result(output)
        self.made += 1
        self._keep(key, output)
        return output

    def _keep(self, key: tuple[bytes, Request], output: bytes) -> None:
        if len(output) > self.cache_bytes:
            return
        self._done[key] = output
        self._held += len(output)
        while self._held > self.cache_bytes:
            _, dropped = self._done.popitem(last=False)
            self._held -= len(dropped)


async def _version(source: bytes | BlobAddress) -> bytes:
    """What names a stored result's text for good: its GridFS file's id (files are never changed), else its digest."""
    if isinstance(source, BlobAddress):
        return b"gridfs:" + source.file_id.binary
    if len(source) <= DIGEST_ON_LOOP_BYTES:
        return b"sha1:" + hashlib.sha1(source).digest()
    return b"sha1:" + await asyncio.to_thread(lambda: hashlib.sha1(source).digest())
