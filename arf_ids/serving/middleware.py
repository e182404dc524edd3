"""Plain ASGI middleware of the service: body limit, API key, prediction-request metrics, metrics flush.

The first three wrap the service's own routes (not BentoML's ``/metrics`` and health
routes, which stay open). Refusals use the service's error body (:mod:`arf_ids.serving.api`)::

    app = RequestMetrics(ApiKeyGuard(BodyLimit(app, limit=1 << 20), api_key="s3cret", protect=is_admin_path),
                         endpoints={"/predict"}, metrics=service_metrics)

:class:`DirectRoutes` sits in front of BentoML's whole app and hands the hot routes
straight to the service's own app (``DirectRoutes(bentoml_app, direct=web, paths={"/predict"})``);
:class:`FlushBeforeScrape` exports the tallied request metrics before BentoML answers
``GET /metrics``.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import parse_qs

from arf_ids.serving.api import ServiceError, field_error
from arf_ids.serving.metrics import ServiceMetrics

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]

#: The header that carries the API key (``Authorization: Bearer <key>`` works too).
API_KEY_HEADER = "x-api-key"
#: The query parameter that carries the API key on the WebSocket.
API_KEY_QUERY = "api_key"


async def send_error(send: Send, error: ServiceError, headers: Mapping[str, str] | None = None) -> None:
    """Answer an HTTP request with ``error``'s status and JSON body."""
    body = json.dumps(error.body()).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": error.status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class DirectRoutes:
    """HTTP requests for ``paths`` go straight to ``direct``; all else (lifespan, WebSocket, other paths) to ``app``.

    In front of BentoML's app it skips BentoML's per-request layers (request metrics,
    OpenTelemetry, timeout, request context and its router) on the routes that carry the
    traffic; they keep ``direct``'s own middleware (body limit, API key, request metrics).

    >>> import asyncio
    >>> async def bentoml_app(scope, receive, send): print("bentoml", scope["path"])
    >>> async def web(scope, receive, send): print("direct", scope["path"])
    >>> app = DirectRoutes(bentoml_app, direct=web, paths={"/predict"})
    >>> for path in ("/predict", "/metrics"):
    ...     asyncio.run(app({"type": "http", "path": path}, None, None))
    direct /predict
    bentoml /metrics
    """

    def __init__(self, app: ASGIApp, *, direct: ASGIApp, paths: Collection[str]) -> None:
        self.app = app
        self.direct = direct
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            await self.direct(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class BodyLimit:
    """Refuses request bodies over the limit with 413, before the route reads them.

    ``limits`` maps a path to its own limit; every other path gets ``limit``.
    """

    def __init__(self, app: ASGIApp, *, limit: int, limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.limits = dict(limits or {})

    def _too_large(self, limit: int) -> ServiceError:
        return ServiceError(413, "request body too large",
                            [field_error(["body"], f"the body exceeds {limit} bytes", "body_too_large")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.limit)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_error(send, self._too_large(limit))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await send_error(send, self._too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class ApiKeyGuard:
    """Requires the API key on the paths ``protect`` selects (HTTP header or WebSocket query).

    Without a key (``api_key`` None) every path is open. A request without the right key
    gets 401; so does a WebSocket handshake (or a 1008 close where the server cannot
    answer a handshake with HTTP).
    """

    def __init__(self, app: ASGIApp, *, api_key: str | None, protect: Callable[[str], bool]) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.protect = protect

    def _presented(self, scope: Scope) -> bytes | None:
        if scope["type"] == "websocket":
            values = parse_qs(scope.get("query_string", b"").decode(errors="replace")).get(API_KEY_QUERY)
            return values[0].encode() if values else None
        headers = dict(scope["headers"])
        if API_KEY_HEADER.encode() in headers:
            return headers[API_KEY_HEADER.encode()]
        authorization = headers.get(b"authorization", b"")
        return authorization[7:] if authorization[:7].lower() == b"bearer " else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.api_key is None or scope["type"] not in ("http", "websocket") or not self.protect(scope["path"]):
            await self.app(scope, receive, send)
            return
        presented = self._presented(scope)
        if presented is not None and hmac.compare_digest(presented, self.api_key):
            await self.app(scope, receive, send)
            return
        where = ["query", API_KEY_QUERY] if scope["type"] == "websocket" else ["header", API_KEY_HEADER]
        error = ServiceError(401, "unauthorized", [field_error(where, "a valid API key is required", "api_key")])
        if scope["type"] == "http":
            await send_error(send, error, {"www-authenticate": "Bearer"})
        elif "websocket.http.response" in scope.get("extensions", {}):
            await send_error(_websocket_denial(send), error)
        else:
            await send({"type": "websocket.close", "code": 1008})


def _websocket_denial(send: Send) -> Send:
    """``send`` for an HTTP answer to a WebSocket handshake (the ASGI denial-response extension)."""

    async def deny(message: Message) -> None:
        await send({**message, "type": message["type"].replace("http.", "websocket.http.", 1)})

    return deny


class _StatusSpy:
    """``send``, noting the response's status on the way (a plain call that returns ``send``'s awaitable)."""

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500

    def __call__(self, message: Message) -> Any:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        return self.send(message)


class RequestMetrics:
    """Counts and times every request to ``endpoints``, whatever answers it (route or middleware)."""

    def __init__(self, app: ASGIApp, *, endpoints: Collection[str], metrics: Callable[[], ServiceMetrics]) -> None:
        self.app = app
        self.endpoints = frozenset(endpoints)
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.endpoints:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        spy = _StatusSpy(send)
        try:
            await self.app(scope, receive, spy)
        finally:
            self.metrics().observe_request(scope["path"], status=spy.status, seconds=time.perf_counter() - started)


class FlushBeforeScrape:
    """Calls ``flush`` before every request for ``path`` goes on to ``app`` (so a scrape sees every answered request).

    >>> import asyncio
    >>> async def bentoml_app(scope, receive, send): print("scraped", scope["path"])
    >>> app = FlushBeforeScrape(bentoml_app, flush=lambda: print("flushed"))
    >>> asyncio.run(app({"type": "http", "path": "/metrics"}, None, None))
    flushed
    scraped /metrics
    """

    def __init__(self, app: ASGIApp, *, flush: Callable[[], None], path: str = "/metrics") -> None:
        self.app = app
        self.flush = flush
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            self.flush()
        await self.app(scope, receive, send)
