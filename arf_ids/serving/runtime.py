"""Everything the service runs, wired from :class:`~arf_ids.settings.Settings`.

:class:`ServiceRuntime` owns the model holder, the registry poller, the two log writers
(predictions and labels), the live feed and the scorer; :func:`build_web_app` makes the
FastAPI app whose routes ``bento/service.py`` defines, with the service's error bodies
and middleware. Use, on the server's event loop::

    runtime = ServiceRuntime(Settings())
    await runtime.start()     # writers up, first registry poll scheduled at once
    ...                       # runtime.scorer.predict_json(flow), runtime.status(), ...
    await runtime.stop()      # polling stopped, every queued log record committed
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import threading
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig

from arf_ids.core.logstore import LabelRecord, LogStore, PredictionColumns
from arf_ids.core.registry import ModelRegistry
from arf_ids.serving.api import ServiceError, StatusOut, validation_detail
from arf_ids.serving.broadcast import Broadcaster
from arf_ids.serving.holder import ModelHolder, ServedModel
from arf_ids.serving.localcopy import LocalModelCopy
from arf_ids.serving.logwriter import BatchedWriter, WriterStats
from arf_ids.serving.metrics import ServiceMetrics, service_metrics
from arf_ids.serving.middleware import ApiKeyGuard, BodyLimit, RequestMetrics
from arf_ids.serving.poller import RegistryPoller
from arf_ids.serving.scoring import FlowScorer, feed_message
from arf_ids.settings import Settings

logger = logging.getLogger(__name__)

#: Routes counted by ``prediction_requests_total`` and timed by ``prediction_latency_ms``.
PREDICTION_ROUTES = ("/predict", "/predict/batch")
#: FastAPI's native OpenTelemetry stays off: BentoML's tracing configuration is the service's one
#: (checking for global providers on every request cost about a tenth of a no-op request).
WEB_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
#: Routes that take the larger batch body limit.
BATCH_ROUTES = ("/predict/batch", "/label/batch")
#: Longest the tallied request metrics wait before they are exported (a scrape of ``/metrics`` exports them at once).
METRICS_FLUSH_SECONDS = 1.0
#: Seconds after a model swap before :func:`freeze_heap` (requests holding the old model are done by then).
HEAP_FREEZE_DELAY_SECONDS = 1.0


def freeze_heap() -> None:
    """Collect garbage once, then exempt every surviving object from the cyclic collector (:func:`gc.freeze`).

    A served model is a large, long-lived graph of Python objects (river's trees and their
    statistics), and so are the libraries the worker imports. Without this, every full
    collection triggered by the requests' own short-lived objects walks all of them again,
    a large share of a ``/predict`` request's CPU time. Frozen objects are still freed
    by reference counting; a swap unfreezes, collects and freezes again, so an old model's
    cycles are collected too.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@functools.cache
def package_version() -> str:
    """The installed arf_ids version (``GET /`` ``version``)."""
    try:
        return version("arf-ids")
    except PackageNotFoundError:
        return "unknown"


def protected_path(settings: Settings) -> Callable[[str], bool]:
    """Which paths need the API key: labels, admin, the feed, and predictions if chosen."""
    guarded = ("/label", "/admin", "/ws") + (("/predict",) if settings.service.protect_predict else ())

    def protect(path: str) -> bool:
        return any(path == prefix or path.startswith(prefix + "/") for prefix in guarded)

    return protect


def build_web_app(settings: Settings) -> FastAPI:
    """The FastAPI app for the service's routes: error handlers and middleware installed."""
    app = FastAPI(title="arf_ids", version=package_version(), docs_url="/docs", redoc_url=None,
                  telemetry=WEB_TELEMETRY)

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, error: ServiceError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        refusal = ServiceError(400, "invalid input", validation_detail(error.errors()))
        return JSONResponse(refusal.body(), status_code=refusal.status)

    service = settings.service
    app.add_middleware(BodyLimit, limit=service.max_body_bytes,
                       limits=dict.fromkeys(BATCH_ROUTES, service.max_batch_body_bytes))
    app.add_middleware(ApiKeyGuard, api_key=service.api_key.get_secret_value() if service.api_key else None,
                       protect=protected_path(settings))
    app.add_middleware(RequestMetrics, endpoints=PREDICTION_ROUTES, metrics=service_metrics)
    return app


class ServiceRuntime:
    """The service's moving parts and their start and stop."""

    def __init__(self, settings: Settings, metrics: ServiceMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or service_metrics()
        service = settings.service
        self.holder = ModelHolder()
        self.feed = Broadcaster(
            queue_size=service.websocket_queue_size,
            on_drop=self.metrics.websocket_dropped.inc,
            on_connections=self.metrics.websocket_connections.set,
        )
        self._log_store: LogStore | None = None
        self._log_store_lock = threading.Lock()
        self.prediction_log: BatchedWriter[PredictionColumns] = BatchedWriter(
            "predictions", lambda chunks: self.log_store().write_prediction_columns(chunks), service.log,
            on_drop=self.metrics.log_dropped.labels(log="predictions").inc,
        )
        self.label_log: BatchedWriter[list[LabelRecord]] = BatchedWriter(
            "labels", lambda chunks: self.log_store().write_labels([item for chunk in chunks for item in chunk]),
            service.log,
            on_drop=self.metrics.log_dropped.labels(log="labels").inc,
        )
        self.poller = RegistryPoller(
            lambda: ModelRegistry(settings.registry_config()),
            self.holder,
            LocalModelCopy(settings.service_cache_dir, model_name=settings.model_name),
            poll_seconds=service.poll_seconds,
            on_swap=self._swapped,
            on_refusal=lambda _version, _reason: self.metrics.model_refusals.inc(),
        )
        self.scorer = FlowScorer(
            self.holder, self.prediction_log, self.label_log, self.feed, self.metrics,
            max_batch=service.max_batch, batch_workers=service.batch_workers,
        )
        self._poll_task: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self.metrics.model_version.set(0)
        self.metrics.reload_count.set(0)
        self.metrics.declare_endpoints(PREDICTION_ROUTES)

    def log_store(self) -> LogStore:
        """The log store, opened on first use (so a database that is down at start only delays writes)."""
        with self._log_store_lock:
            if self._log_store is None:
                self._log_store = LogStore(self.settings.log_store_url)
            return self._log_store

    async def start(self) -> None:
        """Open the log store (a failure only delays writes: they retry), start the writers and the poller."""
        try:
            await asyncio.to_thread(self.log_store)
        except Exception as error:  # the writers retry until the store answers
            logger.warning("log store %s not available at start: %s", self.settings.log_store_url, error)
        self.prediction_log.start()
        self.label_log.start()
        self._poll_task = asyncio.create_task(self.poller.run(), name="registry-poller")
        self._flush_task = asyncio.create_task(self._flush_metrics(), name="metrics-flush")

    async def stop(self) -> None:
        """Stop polling, queue the last answered flows, export the tallied metrics, then commit every queued record."""
        for task in (self._poll_task, self._flush_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.flush_metrics()
        await asyncio.gather(asyncio.to_thread(self.prediction_log.close), asyncio.to_thread(self.label_log.close))
        if self._log_store is not None:
            self._log_store.close()

    def flush_metrics(self) -> None:
        """Record the ``/predict`` flows waiting to be logged and counted, then export the tallied metrics."""
        self.scorer.record_answered()
        self.metrics.flush()

    async def _flush_metrics(self) -> None:
        while True:
            await asyncio.sleep(METRICS_FLUSH_SECONDS)
            self.metrics.flush()

    @property
    def ready(self) -> bool:
        return self.holder.current is not None

    def status(self) -> StatusOut:
        model = self.holder.current
        return StatusOut(
            status="ready" if model is not None else "loading",
            version=package_version(),
            model_version=model.version if model else None,
            reload_count=self.holder.reload_count,
            model_source=model.source if model else None,
            model_sha256=model.sha256 if model else None,
            registry=self.poller.status.as_dict(),
            logs={"predictions": _writer_status(self.prediction_log.stats()),
                  "labels": _writer_status(self.label_log.stats()),
                  "store": self._log_store.url if self._log_store else None},
            websocket_connections=self.feed.connections,
        )

    def _swapped(self, model: ServedModel, previous: ServedModel | None) -> None:
        asyncio.get_running_loop().call_later(HEAP_FREEZE_DELAY_SECONDS, freeze_heap)
        self.metrics.model_version.set(model.version)
        self.metrics.reload_count.set(self.holder.reload_count)
        if previous is not None:
            reloads = self.holder.reload_count
            self.feed.publish(feed_message("model_updated", version=model.version, reload_count=reloads))


def _writer_status(stats: WriterStats) -> dict[str, object]:
    return {
        "committed": stats.committed,
        "pending": stats.pending,
        "dropped": stats.dropped,
        "rejected": stats.rejected,
        "failed_writes": stats.failed_writes,
        "last_error": stats.last_error,
        "max_commit_seconds": round(stats.max_commit_seconds, 4),
    }
