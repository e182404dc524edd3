"""The service's Prometheus metrics, next to BentoML's own on ``GET /metrics``.

Latencies are in milliseconds with millisecond buckets. Under ``bentoml serve``
``prometheus_client`` runs in multiprocess mode (BentoML sets its directory before the
worker starts), and BentoML's ``/metrics`` merges these series with its own. Metrics
are process-wide, like Prometheus' default registry: :func:`service_metrics` creates
them once per process.

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> metrics = ServiceMetrics(CollectorRegistry())
>>> metrics.observe_request("/predict", status=200, seconds=0.0042)
>>> text = generate_latest(metrics.registry).decode()
>>> 'prediction_latency_ms_bucket{endpoint="/predict",le="5.0"} 1.0' in text
True
>>> 'prediction_requests_total{endpoint="/predict"} 1.0' in text
True
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Iterable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

#: Bucket upper bounds of ``prediction_latency_ms``, in milliseconds.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000
)


class ServiceMetrics:
    """Every metric the service exports, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.requests = Counter(
            "prediction_requests", "Requests to the prediction routes", ["endpoint"], registry=registry
        )
        self.errors = Counter(
            "prediction_errors", "Prediction requests answered with an error status", ["endpoint", "status"],
            registry=registry,
        )
        self.latency_ms = Histogram(
            "prediction_latency_ms", "Server time of successful prediction requests (ms)", ["endpoint"],
            buckets=LATENCY_BUCKETS_MS, registry=registry,
        )
        self.predictions = Counter(
            "predictions_by_class", "Flows scored, by predicted class", ["label"], registry=registry
        )
        self.labels = Counter("labels_received", "True labels accepted for the label log", registry=registry)
        self.model_version = Gauge(
            "model_version", "Registry version of the served model (0: none)", multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.reload_count = Gauge(
            "model_reload_count", "Model swaps since the service started", multiprocess_mode="mostrecent",
            registry=registry,
        )
        self.model_refusals = Counter(
            "model_load_refusals", "Production versions refused (corrupt, unverifiable or undecodable)",
            registry=registry,
        )
        self.websocket_connections = Gauge(
            "active_websocket_connections", "Clients connected to /ws", multiprocess_mode="livesum", registry=registry
        )
        self.websocket_dropped = Counter(
            "websocket_messages_dropped", "Feed messages dropped because a client's queue was full", registry=registry
        )
        # Children by label value, looked up once (``labels()`` costs more than the ``inc()``).
        self._by_class: dict[str, Any] = {}
        self._requests_by_endpoint: dict[str, Any] = {}
        self._latency_by_endpoint: dict[str, Any] = {}
        self.log_dropped = Counter(
            "log_records_dropped", "Log records dropped because the log store stayed unreachable", ["log"],
            registry=registry,
        )

    def observe_request(self, endpoint: str, *, status: int, seconds: float) -> None:
        """One request to a prediction route: counted, and timed when it succeeded."""
        requests = self._requests_by_endpoint.get(endpoint)
        if requests is None:
            self.declare_endpoints([endpoint])
            requests = self._requests_by_endpoint[endpoint]
        requests.inc()
        if status >= 400:
            self.errors.labels(endpoint=endpoint, status=str(status)).inc()
        else:
            self._latency_by_endpoint[endpoint].observe(seconds * 1000.0)

    def count_predictions(self, labels: Iterable[str]) -> None:
        """Count scored flows by predicted class (one increment per class)."""
        for label, count in collections.Counter(labels).items():
            child = self._by_class.get(label)
            if child is None:
                child = self._by_class[label] = self.predictions.labels(label=label)
            child.inc(count)

    def declare_endpoints(self, endpoints: Iterable[str]) -> None:
        """Export the request series of ``endpoints`` at zero before the first request."""
        for endpoint in endpoints:
            self._requests_by_endpoint[endpoint] = self.requests.labels(endpoint=endpoint)
            self._latency_by_endpoint[endpoint] = self.latency_ms.labels(endpoint=endpoint)


@functools.cache
def service_metrics() -> ServiceMetrics:
    """This process's metrics in Prometheus' default registry (created on first use)."""
    return ServiceMetrics()
