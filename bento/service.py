"""The arf_ids BentoML service: the registry's ``production`` model, scoring live traffic.

    make serve                 # = bentoml serve service:IdsService --working-dir bento (127.0.0.1:3001)
    make bento                 # = bentoml build -f bento/bentofile.yaml . (from the project root)

Routes (JSON): ``POST /predict``, ``/predict/batch``, ``/label``, ``/label/batch``,
``/admin/reload``; ``GET /`` (status), ``/dashboard``, ``WS /ws`` (live feed); BentoML
adds ``/metrics``, ``/healthz``, ``/livez`` and ``/readyz`` (503 until a model is loaded).
Configuration: ``ARF_IDS_*`` environment variables (:class:`arf_ids.settings.Settings`).
Loading, prediction and logging live in :mod:`arf_ids.serving`; this file only routes.
One worker: the served model, the feed and the log queues live in its memory. The
routes are plain functions with an async dependency, not class views (whose synchronous
dependency costs a thread hop per request).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import bentoml
from fastapi import Depends, WebSocket
from fastapi.responses import HTMLResponse

from arf_ids.serving.api import BatchIn, BatchOut, FlowIn, LabelBatchIn, LabelIn, LabelOut, PredictionOut, StatusOut
from arf_ids.serving.broadcast import until_disconnected
from arf_ids.serving.runtime import ServiceRuntime, build_web_app
from arf_ids.settings import Settings

SETTINGS = Settings()
#: BentoML's per-request OpenTelemetry span cost about a fifth of a /predict; the service's routes skip it.
TRACING_EXCLUDED = ("/predict", "/label", "/admin", "/ws", "/dashboard", "/$")
web = build_web_app(SETTINGS)


@bentoml.service(
    name="arf_ids",
    workers=1,
    http={"host": SETTINGS.service.host, "port": SETTINGS.service.port},
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": list(TRACING_EXCLUDED)},
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


async def current_runtime() -> ServiceRuntime:
    return bentoml.get_current_service().runtime


Runtime = Annotated[ServiceRuntime, Depends(current_runtime)]


@web.post("/predict")
async def predict(flow: FlowIn, runtime: Runtime) -> PredictionOut:
    return runtime.scorer.predict(flow)


@web.post("/predict/batch")
async def predict_batch(batch: BatchIn, runtime: Runtime) -> BatchOut:
    scored = await asyncio.to_thread(runtime.scorer.score_batch, batch.flows)
    runtime.scorer.publish(scored.messages)
    return scored.response


@web.post("/label")
async def label(label: LabelIn, runtime: Runtime) -> LabelOut:
    return runtime.scorer.label([label], batch=False)


@web.post("/label/batch")
async def label_batch(batch: LabelBatchIn, runtime: Runtime) -> LabelOut:
    return runtime.scorer.label(batch.labels, batch=True)


@web.get("/")
async def status(runtime: Runtime) -> StatusOut:
    return runtime.status()


@web.post("/admin/reload")
async def reload(runtime: Runtime) -> StatusOut:
    """Poll the registry now instead of at the next tick."""
    await runtime.poller.poll()
    return runtime.status()


@web.get("/dashboard", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(bentoml.get_current_service().dashboard_page)


@web.websocket("/ws")
async def feed(websocket: WebSocket, runtime: Runtime) -> None:
    await websocket.accept()
    await runtime.feed.relay(websocket.send_text, lambda: until_disconnected(websocket.receive))
