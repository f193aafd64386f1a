"""A small async HTTP client for tests (tornado's, so the in-process SkyDriver shares the event loop)."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest


class Response:
    def __init__(self, status: int, body: bytes, headers: Any):
        self.status = status
        self.body = body
        self.headers = headers

    def json(self) -> Any:
        return json.loads(self.body)  # the stdlib parser: keeps NaN, as analysts' scripts do

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


class HttpClient:
    def __init__(self, address: str, token: str | None = None):
        self.address = address
        self.token = token

    async def request(
        self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
        raw: bytes | None = None, headers: dict[str, str] | None = None,
    ) -> Response:  # fmt: skip
        url = self.address + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)  # a list: the argument repeated
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        if raw is None and body is not None:
            raw = json.dumps(body).encode()
        if raw is None and method in ("POST", "PUT", "PATCH"):
            raw = b""
        request = HTTPRequest(
            url, method=method, body=raw, headers=all_headers, request_timeout=60, allow_nonstandard_methods=True
        )
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
        return Response(response.code, response.body or b"", response.headers)

    async def get(self, path: str, **kw: Any) -> Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return await self.request("POST", path, body, **kw)

    async def patch(self, path: str, body: Any = None, **kw: Any) -> Response:
        return await self.request("PATCH", path, body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> Response:
        return await self.request("PUT", path, body, **kw)

    async def delete(self, path: str, **kw: Any) -> Response:
        return await self.request("DELETE", path, **kw)


class EventStream:
    """A server-sent events stream read as it arrives: `await stream.next()` -> (event, id, data) or None at its end."""

    def __init__(self, client: HttpClient, path: str, headers: dict[str, str] | None = None):
        all_headers = {**(headers or {})}
        if client.token:
            all_headers["Authorization"] = f"Bearer {client.token}"
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._buffer = b""
        self.comments = 0
        request = HTTPRequest(client.address + path, headers=all_headers, request_timeout=120,
                              streaming_callback=self._queue.put_nowait)  # fmt: skip
        self.response = asyncio.ensure_future(AsyncHTTPClient().fetch(request, raise_error=False))
        self.response.add_done_callback(lambda _: self._queue.put_nowait(None))

    async def next(self, timeout: float = 60) -> tuple[str, str, Any] | None:
        while b"\n\n" not in self._buffer:
            chunk = await asyncio.wait_for(self._queue.get(), timeout)
            if chunk is None:
                return None
            self._buffer += chunk
        block, self._buffer = self._buffer.split(b"\n\n", 1)
        fields = dict(line.split(": ", 1) for line in block.decode().splitlines() if not line.startswith(":"))
        if not fields:
            self.comments += 1
            return await self.next(timeout)
        return fields["event"], fields["id"], json.loads(fields["data"])
