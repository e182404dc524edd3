"""Measure the BentoML service: /predict latency (1 and 16 clients) and /predict/batch throughput.

    .venv/bin/python scripts/measure_service.py [--flows-trained 6000] [--requests 3000]

A realistic model (ArfConfig defaults: 10 trees) is trained on generated traffic and
registered as production in a throw-away SQLite registry; the service runs under
`bentoml serve` on a free loopback port; an aiohttp client on the same machine (which
shares its cores with the service) sends the load. Prints one JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np

from arf_ids.core.generator import ALL_LABELS, TrafficGenerator
from arf_ids.core.model import ArfConfig, ModelBundle
from arf_ids.core.registry import ModelRegistry
from arf_ids.core.schema import DEFAULT_SCHEMA
from arf_ids.serving.process import ServiceProcess, free_port
from arf_ids.settings import Settings


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    values = np.asarray(latencies_ms)
    return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p99_ms": round(float(np.percentile(values, 99)), 2)}


async def predict_run(url: str, flows: list[dict[str, float]], *, requests: int, clients: int) -> dict[str, object]:
    numbers = itertools.count()
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:

        async def client() -> None:
            nonlocal errors
            while (number := next(numbers)) < requests:
                body = {"flow_id": f"measure-{clients}-{number}", "features": flows[number % len(flows)]}
                started = time.perf_counter()
                async with session.post(f"{url}/predict", json=body) as response:
                    await response.read()
                    errors += response.status != 200
                latencies.append((time.perf_counter() - started) * 1000.0)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        seconds = time.perf_counter() - began
    return {"clients": clients, "requests": requests, "errors": errors,
            "requests_per_second": round(requests / seconds, 1), **percentiles(latencies)}


async def batch_run(url: str, flows: list[dict[str, float]], *, size: int, repeats: int) -> dict[str, object]:
    latencies: list[float] = []
    server_ms: list[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        for repeat in range(repeats):
            body = {"flows": [{"flow_id": f"batch-{size}-{repeat}-{i}", "features": flows[i % len(flows)]}
                              for i in range(size)]}
            started = time.perf_counter()
            async with session.post(f"{url}/predict/batch", json=body) as response:
                answer = await response.json()
                assert response.status == 200, answer
            latencies.append((time.perf_counter() - started) * 1000.0)
            server_ms.append(answer["latency_ms"])
    best = min(latencies) / 1000.0
    return {"batch": size, "repeats": repeats, "flows_per_second": round(size / best),
            "request_ms_median": round(float(np.median(latencies)), 1),
            "server_scoring_ms_median": round(float(np.median(server_ms)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flows-trained", type=int, default=6_000)
    parser.add_argument("--requests", type=int, default=3_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="arf-ids-measure-"))
    settings = Settings(home=home)
    frame = TrafficGenerator(seed=1).sample(args.flows_trained)
    bundle = ModelBundle.train(DEFAULT_SCHEMA.frame_matrix(frame), frame["label"].tolist(), schema=DEFAULT_SCHEMA,
                               classes=ALL_LABELS, config=ArfConfig())
    ModelRegistry(settings.registry_config()).register(
        bundle, metrics={}, params={}, data={"source": "generator"}, alias="production")
    test = TrafficGenerator(seed=2).sample(2_000)
    flows = [dict(zip(DEFAULT_SCHEMA.features, row, strict=True))
             for row in DEFAULT_SCHEMA.frame_matrix(test).tolist()]

    with ServiceProcess({"ARF_IDS_HOME": str(home)}, port=free_port()) as service:
        service.wait_ready()
        asyncio.run(predict_run(service.url, flows, requests=300, clients=4))  # warm up
        report = {
            "model": {"n_models": bundle.config.n_models, "trained_flows": args.flows_trained},
            "sequential": asyncio.run(predict_run(service.url, flows, requests=args.requests, clients=1)),
            "concurrent_16": asyncio.run(predict_run(service.url, flows, requests=2 * args.requests, clients=16)),
            "batch_1000": asyncio.run(batch_run(service.url, flows, size=1_000, repeats=3)),
            "batch_10000": asyncio.run(batch_run(service.url, flows, size=10_000, repeats=3)),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
