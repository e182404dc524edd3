"""Over HTTP: the running service beside its own no-op route and beside the seed-style app, and its memory.

Order of a run (both servers up, the load client a process of its own each run):

1. resident memory of the service's worker once the model is loaded, before any request;
2. warm-up of both servers;
3. memory: the worker's resident memory before and after ``memory_requests`` ``/predict``
   requests from 16 clients (before any batch request, whose large bodies would raise
   the high-water mark first and hide a slow growth);
4. ``/noop`` and ``/predict`` of the service and ``/predict`` and ``/noop``
   of the seed-style app, with 16 clients and then 1, in ``http_rounds`` alternating
   rounds (each figure is its best round: on a shared machine a neighbour's burst only
   ever slows a run down);
5. after one warm-up request of each shape, ``/predict/batch`` of the service, with the
   flows as columns (``batch``) and as one object each (``batch_flows``), in
   ``http_rounds`` alternating rounds of ``http_batch_requests`` requests (best round).

The seed-style app has no batch route (neither had the seeds): its flows per second are
its ``/predict`` requests per second with 16 clients.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from arf_ids.bench.config import HTTP_ROUTES, BenchSizes
from arf_ids.bench.fixtures import BenchModel
from arf_ids.bench.loadgen import BatchShape, LoadRun, LoadSpec, run_in_subprocess
from arf_ids.bench.services import register_production, running_seed_app, running_service, total_rss, worker_rss

#: Distinct flows the clients cycle through.
CLIENT_FLOWS = 2_000
WARM_UP_REQUESTS = 3_000
CONCURRENCIES = (16, 1)
#: ``/predict/batch`` in both body shapes; ``columns`` (the compact one) is the batch figure.
BATCH_SHAPES: tuple[BatchShape, ...] = ("columns", "flows")


def _run(url: str, path: str, features: list[bytes], *, clients: int, requests: int, seconds: float,
         flows_per_request: int = 1, batch_shape: BatchShape = "flows") -> dict[str, Any]:
    spec = LoadSpec(url=url, path=path, clients=clients, max_requests=requests, max_seconds=seconds,
                    flows_per_request=flows_per_request, batch_shape=batch_shape)
    run: LoadRun = run_in_subprocess(spec, features)
    return asdict(run)


def _keep_best(best: dict[str, dict[str, Any]], key: str, run: dict[str, Any]) -> None:
    """Keep the run with the most requests per second under ``key``; every round's rate goes in ``rounds``."""
    rounds = [*best.get(key, {}).get("rounds_requests_per_second", []), run["requests_per_second"]]
    if key not in best or run["requests_per_second"] > best[key]["requests_per_second"]:
        best[key] = run
    best[key]["rounds_requests_per_second"] = rounds


def http_bench(model: BenchModel, sizes: BenchSizes, *, work_dir: Path) -> dict[str, Any]:
    """Every HTTP and memory figure of the run (see the module's docstring for the order)."""
    features = [json.dumps(flow).encode() for flow in model.test_maps(CLIENT_FLOWS)]
    home = work_dir / "service-home"
    version = register_production(home, model.bundle)
    model_path = work_dir / "model.arfids"
    model.bundle.save(model_path)
    budget = {"requests": sizes.http_requests, "seconds": sizes.http_seconds}
    with running_service(home) as service, running_seed_app(model_path, work_dir / "seed-app.log") as seed_url:
        rss_ready = worker_rss(service)
        total_ready = total_rss(service)
        for url in (service.url, seed_url):
            _run(url, "/predict", features, clients=16, requests=WARM_UP_REQUESTS, seconds=60)
        _run(service.url, "/noop", features, clients=16, requests=WARM_UP_REQUESTS // 3, seconds=60)
        rss_before = worker_rss(service)
        memory_run = _run(service.url, "/predict", features, clients=16, requests=sizes.memory_requests,
                          seconds=max(600.0, sizes.http_seconds))
        rss_after = worker_rss(service)
        service_runs: dict[str, dict[str, Any]] = {route: {} for route in ("noop", "predict")}
        seed_runs: dict[str, dict[str, Any]] = {route: {} for route in ("predict", "noop")}
        for _ in range(sizes.http_rounds):
            for clients in CONCURRENCIES:
                for url, runs in ((service.url, service_runs), (seed_url, seed_runs)):
                    for route in runs:
                        _keep_best(runs[route], str(clients),
                                   _run(url, HTTP_ROUTES[route], features, clients=clients, **budget))
        batch_budget = {"requests": sizes.http_batch_requests, "seconds": max(120.0, sizes.http_seconds),
                        "flows_per_request": sizes.http_batch_flows}
        batches: dict[str, dict[str, Any]] = {}
        for shape in BATCH_SHAPES:  # warm-up: the first large body of each shape
            _run(service.url, "/predict/batch", features, clients=1, batch_shape=shape,
                 **{**batch_budget, "requests": 1})
        for _ in range(sizes.http_rounds):
            for shape in BATCH_SHAPES:
                _keep_best(batches, shape,
                           _run(service.url, "/predict/batch", features, clients=1, batch_shape=shape, **batch_budget))
    return {
        "model_version": version,
        "rounds": sizes.http_rounds,
        "service": {**service_runs, "batch": batches["columns"], "batch_flows": batches["flows"]},
        "seed_app": {**seed_runs, "flows_per_second": seed_runs["predict"]["16"]["flows_per_second"]},
        "memory": {
            "artifact_bytes": model_path.stat().st_size,
            "worker_rss_ready_bytes": rss_ready,
            "service_rss_ready_bytes": total_ready,
            "worker_rss_before_bytes": rss_before,
            "worker_rss_after_bytes": rss_after,
            "requests": memory_run["requests"],
            "errors": memory_run["errors"],
            "requests_per_second": memory_run["requests_per_second"],
            "growth_fraction": (rss_after - rss_before) / rss_before,
        },
    }
