"""The tallied request metrics export what one ``observe``/``inc`` per request would have exported."""

from __future__ import annotations

import random
import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from arf_ids.serving.metrics import LATENCY_BUCKETS_MS, MAX_UNFLUSHED_REQUESTS, ServiceMetrics

ENDPOINTS = ("/predict", "/predict/batch")


def _samples(registry: CollectorRegistry, prefix: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name.startswith(prefix) and not sample.name.endswith("_created")
    }


def _requests(seed: int, count: int) -> list[tuple[str, int, float]]:
    """(endpoint, status, seconds): latencies on and around every bucket bound, some errors."""
    rng = random.Random(seed)
    bounds_seconds = [bound / 1000.0 for bound in LATENCY_BUCKETS_MS]
    requests = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.3:
            seconds = rng.choice(bounds_seconds)  # exactly on a bound: that bucket, as observe() decides
        elif kind < 0.9:
            seconds = rng.expovariate(1 / 0.004)
        else:
            seconds = rng.uniform(10.0, 20.0)  # past the last bound: +Inf
        status = rng.choice((200, 200, 200, 200, 400, 413, 503))
        requests.append((rng.choice(ENDPOINTS), status, seconds))
    return requests


def test_flush_exports_what_per_request_observations_export() -> None:
    requests = _requests(seed=7, count=5_000)
    labels = [random.Random(8).choice(("BENIGN", "DoS", "PortScan")) for _ in range(3_000)]

    reference = CollectorRegistry()
    ref_requests = Counter("prediction_requests", "", ["endpoint"], registry=reference)
    ref_errors = Counter("prediction_errors", "", ["endpoint", "status"], registry=reference)
    ref_latency = Histogram("prediction_latency_ms", "", ["endpoint"], buckets=LATENCY_BUCKETS_MS, registry=reference)
    ref_classes = Counter("predictions_by_class", "", ["label"], registry=reference)
    for endpoint, status, seconds in requests:
        ref_requests.labels(endpoint=endpoint).inc()
        if status >= 400:
            ref_errors.labels(endpoint=endpoint, status=str(status)).inc()
        else:
            ref_latency.labels(endpoint=endpoint).observe(seconds * 1000.0)
    for label in labels:
        ref_classes.labels(label=label).inc()

    metrics = ServiceMetrics(CollectorRegistry())
    for start in range(0, len(requests), 1_000):  # several flushes, as a running service does
        for endpoint, status, seconds in requests[start:start + 1_000]:
            metrics.observe_request(endpoint, status=status, seconds=seconds)
        metrics.flush()
    for start in range(0, len(labels), 7):
        metrics.count_predictions(labels[start:start + 7])
    metrics.flush()

    for prefix in ("prediction_requests", "prediction_errors", "prediction_latency_ms", "predictions_by_class"):
        expected, actual = _samples(reference, prefix), _samples(metrics.registry, prefix)
        assert expected, prefix
        assert actual.keys() == expected.keys(), prefix
        for key, value in expected.items():
            if key[0].endswith("_sum"):
                assert actual[key] == pytest.approx(value, rel=1e-12), key
            else:
                assert actual[key] == value, key


def test_nothing_is_exported_before_a_flush_and_nothing_twice() -> None:
    metrics = ServiceMetrics(CollectorRegistry())
    metrics.declare_endpoints(["/predict"])
    metrics.observe_request("/predict", status=200, seconds=0.002)
    metrics.count_predictions(["DoS", "DoS"])
    key = ("prediction_requests_total", (("endpoint", "/predict"),))
    assert _samples(metrics.registry, "prediction_requests")[key] == 0
    metrics.flush()
    metrics.flush()
    assert _samples(metrics.registry, "prediction_requests")[key] == 1
    assert _samples(metrics.registry, "predictions_by_class")[("predictions_by_class_total", (("label", "DoS"),))] == 2


def test_counts_from_threads_survive_concurrent_flushes() -> None:
    metrics = ServiceMetrics(CollectorRegistry())
    per_thread, threads = 20_000, 4
    done = threading.Event()

    def count() -> None:
        for _ in range(per_thread):
            metrics.count_predictions(["DoS"])
            metrics.observe_request("/predict/batch", status=200, seconds=0.001)

    def flush() -> None:
        while not done.is_set():
            metrics.flush()

    flusher = threading.Thread(target=flush)
    flusher.start()
    workers = [threading.Thread(target=count) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    flusher.join()
    metrics.flush()
    assert _samples(metrics.registry, "predictions_by_class")[("predictions_by_class_total", (("label", "DoS"),))] \
        == per_thread * threads
    requests = ("prediction_requests_total", (("endpoint", "/predict/batch"),))
    assert _samples(metrics.registry, "prediction_requests")[requests] == per_thread * threads


def test_requests_past_the_unflushed_limit_flush_themselves() -> None:
    metrics = ServiceMetrics(CollectorRegistry())
    for _ in range(MAX_UNFLUSHED_REQUESTS + 1):
        metrics.observe_request("/predict", status=200, seconds=0.001)
    requests = ("prediction_requests_total", (("endpoint", "/predict"),))
    assert _samples(metrics.registry, "prediction_requests")[requests] == MAX_UNFLUSHED_REQUESTS + 1
