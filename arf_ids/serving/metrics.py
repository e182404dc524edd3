"""The service's Prometheus metrics, next to BentoML's own on ``GET /metrics``.

Latencies are in milliseconds with millisecond buckets. Under ``bentoml serve``
``prometheus_client`` runs in multiprocess mode (BentoML sets its directory before the
worker starts), and BentoML's ``/metrics`` merges these series with its own. Metrics
are process-wide, like Prometheus' default registry: :func:`service_metrics` creates
them once per process.

The per-request series (requests, errors, latency, flows by class) are noted in memory
and written to Prometheus' values by :meth:`ServiceMetrics.flush`: in multiprocess mode
every write of a value takes a lock, asks the process id and writes a memory-mapped
file, once per request and series otherwise. A request is noted as one append to a
queue (no lock, no lookup: it is on every request's path) and tallied at the flush. The
service flushes before every scrape of ``/metrics`` and at least every second; a
request that finds :data:`MAX_UNFLUSHED_REQUESTS` noted flushes them itself.

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> metrics = ServiceMetrics(CollectorRegistry())
>>> metrics.observe_request("/predict", status=200, seconds=0.0042)
>>> metrics.flush()
>>> text = generate_latest(metrics.registry).decode()
>>> 'prediction_latency_ms_bucket{endpoint="/predict",le="5.0"} 1.0' in text
True
>>> 'prediction_requests_total{endpoint="/predict"} 1.0' in text
True
"""

from __future__ import annotations

import bisect
import collections
import functools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

#: Bucket upper bounds of ``prediction_latency_ms``, in milliseconds.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000
)
#: Every bound of ``prediction_latency_ms``, ``+Inf`` last (as ``prometheus_client`` completes them).
_LATENCY_BOUNDS: tuple[float, ...] = (*LATENCY_BUCKETS_MS, float("inf"))
#: Requests noted but not yet flushed past which a request flushes them (bounds the queue without the service's timer).
MAX_UNFLUSHED_REQUESTS = 100_000


@dataclass(slots=True)
class _EndpointTally:
    """One endpoint's requests since the last flush."""

    requests: int = 0
    errors: collections.Counter[int] = field(default_factory=collections.Counter)
    latency_sum_ms: float = 0.0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(_LATENCY_BOUNDS))

    def add(self, status: int, seconds: float) -> None:
        """One request: counted, and timed when it succeeded."""
        self.requests += 1
        if status >= 400:
            self.errors[status] += 1
        else:
            milliseconds = seconds * 1000.0
            self.latency_sum_ms += milliseconds
            self.latency_buckets[bisect.bisect_left(_LATENCY_BOUNDS, milliseconds)] += 1


def add_observations(histogram: Any, bucket_counts: Sequence[int], total: float) -> None:
    """Add observations to one histogram series in bulk: ``bucket_counts[i]`` fell in bucket ``i``, their sum ``total``.

    The same series as one ``observe`` per observation (a test compares them), with one
    write per touched bucket. ``prometheus_client`` has no public call for it: this writes
    the series' sum and its per-bucket (not cumulative) values, the ones ``observe`` writes.
    """
    if not any(bucket_counts):
        return
    histogram._sum.inc(total)
    for value, count in zip(histogram._buckets, bucket_counts, strict=True):
        if count:
            value.inc(count)


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
        self.log_dropped = Counter(
            "log_records_dropped", "Log records dropped because the log store stayed unreachable", ["log"],
            registry=registry,
        )
        # What was observed since the last flush (scoring of batches counts from a worker thread).
        # A deque's append and popleft are atomic: requests are noted without the lock.
        self._requests: collections.deque[tuple[str, int, float]] = collections.deque()
        self._lock = threading.Lock()
        self._by_class: collections.Counter[str] = collections.Counter()

    def observe_request(self, endpoint: str, *, status: int, seconds: float) -> None:
        """One request to a prediction route: counted, and timed when it succeeded (exported at the next flush)."""
        self._requests.append((endpoint, status, seconds))
        if len(self._requests) > MAX_UNFLUSHED_REQUESTS:
            self.flush()

    def count_predictions(self, labels: Iterable[str]) -> None:
        """Count scored flows by predicted class (exported at the next flush)."""
        with self._lock:
            self._by_class.update(labels)

    def flush(self) -> None:
        """Export everything observed since the last flush (thread-safe; cheap when nothing is pending)."""
        with self._lock:
            tallies: dict[str, _EndpointTally] = {}
            for _ in range(len(self._requests)):  # those noted so far; later ones wait for the next flush
                endpoint, status, seconds = self._requests.popleft()
                tally = tallies.get(endpoint)
                if tally is None:
                    tally = tallies[endpoint] = _EndpointTally()
                tally.add(status, seconds)
            by_class, self._by_class = self._by_class, collections.Counter()
        for endpoint, tally in tallies.items():
            self.requests.labels(endpoint=endpoint).inc(tally.requests)
            for status, count in tally.errors.items():
                self.errors.labels(endpoint=endpoint, status=str(status)).inc(count)
            add_observations(self.latency_ms.labels(endpoint=endpoint), tally.latency_buckets, tally.latency_sum_ms)
        for label, count in by_class.items():
            self.predictions.labels(label=label).inc(count)

    def declare_endpoints(self, endpoints: Iterable[str]) -> None:
        """Export the request series of ``endpoints`` at zero before the first request."""
        for endpoint in endpoints:
            self.requests.labels(endpoint=endpoint)
            self.latency_ms.labels(endpoint=endpoint)


@functools.cache
def service_metrics() -> ServiceMetrics:
    """This process's metrics in Prometheus' default registry (created on first use)."""
    return ServiceMetrics()
