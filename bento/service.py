"""The arf_ids BentoML service: the registry's ``production`` model, scoring live traffic.

    make serve                 # = bentoml serve service:IdsService --working-dir bento (127.0.0.1:3001)
    make bento                 # = bentoml build -f bento/bentofile.yaml . (from the project root)

Routes (JSON): ``POST /predict``, ``/predict/batch``, ``/label``, ``/label/batch``,
``/admin/reload``, ``/noop`` (parses a flow like ``/predict``, answers a constant: the
benchmark's floor); ``GET /`` (status), ``/dashboard``, ``WS /ws``
(live feed); BentoML adds ``/metrics``, ``/healthz``, ``/livez`` and ``/readyz`` (503
until a model is loaded).
Configuration: ``ARF_IDS_*`` environment variables (:class:`arf_ids.settings.Settings`).
Loading, prediction and logging live in :mod:`arf_ids.serving`; this file only routes.
One worker: the served model, the feed and the log queues live in its memory. The
routes are plain async functions that read the worker's runtime directly: no class views
(whose synchronous dependency costs a thread hop per request) and no FastAPI dependency
(resolving one cost about a tenth of a ``/predict``). ``/predict``, ``/predict/batch`` and
the no-op route skip BentoML's per-request layers (``DirectRoutesService``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import bentoml
from bentoml import get_current_service  # bound once: ``bentoml.<name>`` re-imports on every access
from fastapi import Request, WebSocket
from fastapi.responses import HTMLResponse, Response

from arf_ids.serving.api import (
    BatchIn,
    BatchOut,
    ColumnBatchOut,
    FlowIn,
    LabelBatchIn,
    LabelIn,
    LabelOut,
    PredictionOut,
    StatusOut,
    openapi_body,
    parse_body,
)
from arf_ids.serving.broadcast import until_disconnected
from arf_ids.serving.middleware import DirectRoutes, FlushBeforeScrape
from arf_ids.serving.runtime import PREDICTION_ROUTES, ServiceRuntime, build_web_app
from arf_ids.settings import Settings

SETTINGS = Settings()
#: BentoML's per-request OpenTelemetry span cost about a fifth of a /predict; the service's other routes skip it.
TRACING_EXCLUDED = ("/predict", "/label", "/admin", "/ws", "/dashboard", "/$")
#: The routes that carry the traffic skip BentoML's per-request layers altogether (see ``DirectRoutesService``).
DIRECT_ROUTES = (*PREDICTION_ROUTES, "/noop")
web = build_web_app(SETTINGS)
#: What ``POST /noop`` answers.
NOOP_ANSWER = b'{"status":"ok"}'
JSON = "application/json"


class DirectRoutesService(bentoml.Service):
    """BentoML's service, whose app hands ``DIRECT_ROUTES`` straight to ``web``.

    BentoML wraps every request in its own request metrics, OpenTelemetry, timeout and
    request-context middleware and its router before a mounted app sees it: about two
    thirds of a no-op request's server time (``make bench`` measures it). The prediction
    routes keep ``web``'s own body limit, API key and Prometheus request metrics; BentoML
    still serves ``/metrics`` (after the service's tallied request metrics are exported),
    the health routes, the lifespan and every other route.
    """

    def to_asgi(self, is_main: bool = True) -> Any:
        bentoml_app = FlushBeforeScrape(super().to_asgi(is_main), flush=lambda: runtime().flush_metrics())
        return DirectRoutes(bentoml_app, direct=web, paths=DIRECT_ROUTES)


@bentoml.service(
    name="arf_ids",
    workers=1,
    http={"host": SETTINGS.service.host, "port": SETTINGS.service.port},
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": list(TRACING_EXCLUDED)},
    service_class=DirectRoutesService,
)
@bentoml.asgi_app(web, path="/")
class IdsService:
    def __init__(self) -> None:
        self.runtime = ServiceRuntime(SETTINGS)
        self.dashboard_page = Path(__file__).with_name("dashboard.html").read_text(encoding="utf-8")

    @bentoml.on_startup
    async def start(self) -> None:
        await self.runtime.start()

    @bentoml.on_shutdown
    async def stop(self) -> None:
        await self.runtime.stop()

    async def __is_ready__(self) -> bool:
        return self.runtime.ready


def runtime() -> ServiceRuntime:
    """This worker's runtime."""
    return get_current_service().runtime


@web.post("/predict", response_model=PredictionOut, openapi_extra=openapi_body(FlowIn))
async def predict(request: Request) -> Response:
    """Classify one flow."""
    flow = parse_body(FlowIn, await request.body())
    return Response(runtime().scorer.predict_json(flow), media_type=JSON)


@web.post("/noop", openapi_extra=openapi_body(FlowIn))
async def noop(request: Request) -> Response:
    """The benchmark's floor: the same body, parsing and middleware as ``/predict``, no model, no log."""
    parse_body(FlowIn, await request.body())
    return Response(NOOP_ANSWER, media_type=JSON)


@web.post("/predict/batch", response_model=BatchOut | ColumnBatchOut, openapi_extra=openapi_body(BatchIn))
async def predict_batch(request: Request) -> Response:
    """Classify many flows with one model: ``flows`` are answered by ``BatchOut``, ``columns`` by ``ColumnBatchOut``."""
    batch = parse_body(BatchIn, await request.body())
    scorer = runtime().scorer
    scored = await asyncio.to_thread(scorer.score_batch, batch)
    scorer.publish(scored.messages)
    return Response(scored.rows_json() if batch.flows is not None else scored.columns_json(), media_type=JSON)


@web.post("/label")
async def label(label: LabelIn) -> LabelOut:
    return runtime().scorer.label([label], batch=False)


@web.post("/label/batch")
async def label_batch(batch: LabelBatchIn) -> LabelOut:
    return runtime().scorer.label(batch.labels, batch=True)


@web.get("/")
async def status() -> StatusOut:
    return runtime().status()


@web.post("/admin/reload")
async def reload() -> StatusOut:
    """Poll the registry now instead of at the next tick."""
    await runtime().poller.poll()
    return runtime().status()


@web.get("/dashboard", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(get_current_service().dashboard_page)


@web.websocket("/ws")
async def feed(websocket: WebSocket) -> None:
    await websocket.accept()
    await runtime().feed.relay(websocket.send_text, lambda: until_disconnected(websocket.receive))
