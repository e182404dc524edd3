"""The HTTP load client: closed-loop aiohttp clients, bounded by a request count and a time limit.

Each run is a fresh ``python -m arf_ids.bench.loadgen`` process (:func:`run_in_subprocess`),
so the server under test never shares an interpreter (or a GIL) with the client, and the
client's heap holds nothing but the flows and the bodies. Every request's body is built
before the clock starts (building a 10,000-flow batch body can take the client longer
than the service takes to answer it), so a run times the network and the server only::

    run = run_in_subprocess(LoadSpec(url="http://127.0.0.1:3001", path="/predict", clients=16,
                                     max_requests=20_000, max_seconds=20), features_json)
    run.requests_per_second, run.p50_ms, run.p99_ms

``features_json`` is a list of encoded feature maps (``json.dumps(features).encode()``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import aiohttp
import numpy as np

#: How a ``/predict/batch`` body holds its flows: one object per flow, or one list per feature.
BatchShape = Literal["flows", "columns"]


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One load run: where, how many clients, and when to stop (whichever bound comes first)."""

    url: str
    path: str
    clients: int
    max_requests: int
    max_seconds: float
    flows_per_request: int = 1
    flow_id_prefix: str = "bench"
    #: Shape of a batch body: one object per flow (``flows``) or one list per feature (``columns``).
    batch_shape: BatchShape = "flows"


@dataclass(frozen=True, slots=True)
class LoadRun:
    """What the client saw of one run; latencies are per request, rates over the run's wall time."""

    path: str
    clients: int
    flows_per_request: int
    requests: int
    errors: int
    seconds: float
    requests_per_second: float
    flows_per_second: float
    p50_ms: float
    p99_ms: float
    first_error: str | None


class RequestBodies:
    """The bodies of one run's requests: one flow (``/predict``) or ``flows_per_request`` flows (``/predict/batch``).

    Every flow of every request gets a distinct ``flow_id`` (the service's log keys on it);
    the flows cycle through ``features_json``. A batch comes in either of the service's shapes.

    >>> RequestBodies([b'[1.0]', b'[2.0]'], prefix=b"p")(1)
    b'{"flow_id":"p-1","features":[2.0]}'
    >>> RequestBodies([b'[1.0]'], flows_per_request=2, prefix=b"b")(0)
    b'{"flows":[{"flow_id":"b-0","features":[1.0]},{"flow_id":"b-1","features":[1.0]}]}'
    >>> RequestBodies([b'{"a":1.0}', b'{"a":2.0}'], flows_per_request=2, shape="columns", prefix=b"c")(1)
    b'{"flow_ids":["c-2","c-3"],"columns":{"a":[1.0,2.0]}}'
    """

    def __init__(self, features_json: Sequence[bytes], *, flows_per_request: int = 1,
                 shape: BatchShape = "flows", prefix: bytes) -> None:
        self.features_json = features_json
        self.flows_per_request = flows_per_request
        self.shape = shape
        self.prefix = prefix
        self._columns: dict[int, bytes] = {}  # the columns of a batch, by its first flow's position

    def __call__(self, number: int) -> bytes:
        if self.flows_per_request == 1:
            return self._flow(number)
        first = number * self.flows_per_request
        numbers = range(first, first + self.flows_per_request)
        if self.shape == "flows":
            return b'{"flows":[' + b",".join(self._flow(index) for index in numbers) + b"]}"
        flow_ids = b",".join(b'"%s-%d"' % (self.prefix, index) for index in numbers)
        return b'{"flow_ids":[' + flow_ids + b'],"columns":' + self._columns_from(first) + b"}"

    def _flow(self, index: int) -> bytes:
        features = self.features_json[index % len(self.features_json)]
        return b'{"flow_id":"%s-%d","features":%s}' % (self.prefix, index, features)

    def _columns_from(self, first: int) -> bytes:
        start = first % len(self.features_json)
        if start not in self._columns:
            flows = [json.loads(self.features_json[(start + offset) % len(self.features_json)])
                     for offset in range(self.flows_per_request)]
            columns = {name: [flow[name] for flow in flows] for name in flows[0]}
            self._columns[start] = json.dumps(columns, separators=(",", ":")).encode()
        return self._columns[start]


async def closed_loop(spec: LoadSpec, features_json: Sequence[bytes]) -> LoadRun:
    """``spec.clients`` clients, each sending its next request as soon as the last one is answered."""
    numbers = itertools.count()
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    make_body = RequestBodies(features_json, flows_per_request=spec.flows_per_request, shape=spec.batch_shape,
                              prefix=f"{spec.flow_id_prefix}-{time.time_ns()}".encode())
    bodies = [make_body(number) for number in range(spec.max_requests)]
    headers = {"Content-Type": "application/json"}
    target = spec.url.rstrip("/") + spec.path
    connector = aiohttp.TCPConnector(limit=spec.clients)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        deadline = began + spec.max_seconds

        async def client() -> None:
            nonlocal errors, first_error
            while (number := next(numbers)) < spec.max_requests and time.perf_counter() < deadline:
                body = bodies[number]
                started = time.perf_counter()
                try:
                    async with session.post(target, data=body, headers=headers) as response:
                        payload = await response.read()
                        ok = response.status == 200
                except (aiohttp.ClientError, TimeoutError) as error:
                    ok, payload = False, repr(error).encode()
                latencies.append(time.perf_counter() - started)
                if not ok:
                    errors += 1
                    first_error = first_error or payload[:300].decode(errors="replace")

        await asyncio.gather(*(client() for _ in range(spec.clients)))
        seconds = time.perf_counter() - began
    done = len(latencies)
    values = np.asarray(latencies) * 1000.0 if done else np.zeros(1)
    return LoadRun(
        path=spec.path,
        clients=spec.clients,
        flows_per_request=spec.flows_per_request,
        requests=done,
        errors=errors,
        seconds=seconds,
        requests_per_second=done / seconds,
        flows_per_second=done * spec.flows_per_request / seconds,
        p50_ms=float(np.percentile(values, 50)),
        p99_ms=float(np.percentile(values, 99)),
        first_error=first_error,
    )


def run_closed_loop(spec: LoadSpec, features_json: Sequence[bytes]) -> LoadRun:
    """One load run in this process (what the ``python -m arf_ids.bench.loadgen`` process runs)."""
    return asyncio.run(closed_loop(spec, features_json))


def run_in_subprocess(spec: LoadSpec, features_json: Sequence[bytes], *, timeout: float | None = None) -> LoadRun:
    """Run ``spec`` in a fresh ``python -m arf_ids.bench.loadgen`` process and return what it measured."""
    request = {"spec": asdict(spec), "features": [body.decode() for body in features_json]}
    budget = timeout if timeout is not None else spec.max_seconds + 120.0
    completed = subprocess.run(
        [sys.executable, "-m", "arf_ids.bench.loadgen"], input=json.dumps(request).encode(),
        capture_output=True, timeout=budget, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the load client failed ({completed.returncode}): {completed.stderr.decode()[-2000:]}")
    return LoadRun(**json.loads(completed.stdout))


def main() -> None:
    """Read ``{"spec", "features"}`` as JSON on stdin, run it, write the :class:`LoadRun` as JSON on stdout."""
    request = json.load(sys.stdin)
    run = run_closed_loop(LoadSpec(**request["spec"]), [text.encode() for text in request["features"]])
    json.dump(asdict(run), sys.stdout)


if __name__ == "__main__":
    main()
