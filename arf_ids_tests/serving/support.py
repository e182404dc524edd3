"""Helpers of the service tests: real bundles, a real MLflow server, real ``bentoml serve`` processes.

The registry is MLflow's tracking-server app in its own process, reached through a TCP
forwarder in the test process: :meth:`RegistryServer.down` closes the forwarder (the
service then meets refused connections, as when the registry host is down) and
:meth:`RegistryServer.up` reopens it on the same port. The tests write to the registry
directly through its SQLite store, the way the retraining job does. Each test module
uses its own model name, so modules do not see each other's promotions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import selectors
import socket
import socketserver
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from arf_ids.core.generator import ALL_LABELS, TrafficGenerator
from arf_ids.core.model import ArfConfig, ModelBundle
from arf_ids.core.registry import ModelRegistry, ModelVersionInfo, RegistryConfig
from arf_ids.core.schema import DEFAULT_SCHEMA
from arf_ids.serving.process import ServiceProcess, free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTRACT_API_KEY = "contract-key"
T = TypeVar("T")


def train_bundle(seed: int) -> ModelBundle:
    frame = TrafficGenerator(seed=seed).sample(1_500)
    return ModelBundle.train(
        DEFAULT_SCHEMA.frame_matrix(frame), frame["label"].tolist(), schema=DEFAULT_SCHEMA, classes=ALL_LABELS,
        config=ArfConfig(n_models=4, seed=seed),
    )


def flows_frame(n: int, seed: int) -> pd.DataFrame:
    """``n`` generated flows (features and ``label``)."""
    return TrafficGenerator(seed=seed).sample(n)


def feature_maps(frame: pd.DataFrame) -> list[dict[str, float]]:
    values = frame.loc[:, list(DEFAULT_SCHEMA.features)].to_numpy(dtype=np.float64).tolist()
    return [dict(zip(DEFAULT_SCHEMA.features, row, strict=True)) for row in values]


class _Forwarder(socketserver.ThreadingTCPServer):
    """Forwards every connection on 127.0.0.1:port to ``upstream``; ``close_all`` cuts them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Pipe)

    def close_all(self) -> None:
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.sockets.clear()


class _Pipe(socketserver.BaseRequestHandler):
    server: _Forwarder

    def handle(self) -> None:
        try:
            upstream = socket.create_connection(self.server.upstream, timeout=10)
        except OSError:
            return
        with self.server.lock:
            self.server.sockets |= {self.request, upstream}
        selector = selectors.DefaultSelector()
        selector.register(self.request, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, self.request)
        try:
            while True:
                for key, _ in selector.select(timeout=30):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            upstream.close()


class RegistryServer:
    """An MLflow tracking server (SQLite store, file artifacts) behind a switchable forwarder."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.store_uri = f"sqlite:///{home / 'mlflow.db'}"
        self.artifacts = (home / "mlartifacts").as_uri()
        self.port = free_port()
        self._backend_port = free_port()
        self._forwarder: _Forwarder | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.writer("bootstrap").version_for("production")  # creates and migrates the store first
        log = (self.home / "mlflow-server.log").open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "arf_ids_tests.serving.mlflow_app", "--store", self.store_uri,
             "--port", str(self._backend_port)],
            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.up()

    def wait(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None and self._process.poll() is None, "the MLflow server exited"
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"MLflow server at {self.url} did not start; see {self.home / 'mlflow-server.log'}")

    def up(self) -> None:
        """Accept connections again (the registry is back)."""
        self._forwarder = _Forwarder(self.port, ("127.0.0.1", self._backend_port))
        threading.Thread(target=self._forwarder.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones (the registry host is down)."""
        if self._forwarder is not None:
            self._forwarder.shutdown()
            self._forwarder.server_close()
            self._forwarder.close_all()
            self._forwarder = None

    def stop(self) -> None:
        self.down()
        if self._process is not None:
            self._process.terminate()
            self._process.wait(30)

    def writer(self, model_name: str) -> ModelRegistry:
        """The registry as the retraining job sees it (direct store access)."""
        return ModelRegistry(RegistryConfig(tracking_uri=self.store_uri, artifact_location=self.artifacts,
                                            model_name=model_name))

    def publish(self, model_name: str, bundle: ModelBundle, *, promote: bool) -> ModelVersionInfo:
        return self.writer(model_name).register(
            bundle, metrics={"macro_f1": 0.9}, params={"n_models": 4}, data={"source": "test"},
            alias="production" if promote else None,
        )


def service_env(home: Path, registry_url: str, model_name: str, **settings: str) -> dict[str, str]:
    """The environment of a service on the registry's model ``model_name``, with state in ``home``."""
    return {
        "ARF_IDS_HOME": str(home),
        "ARF_IDS_MLFLOW_TRACKING_URI": registry_url,
        "ARF_IDS_MODEL_NAME": model_name,
        "ARF_IDS_SERVICE__POLL_SECONDS": "1",
        **{f"ARF_IDS_SERVICE__{name.upper()}": value for name, value in settings.items()},
    }


def start_service(env: Mapping[str, str], *, ready: bool = True) -> ServiceProcess:
    service = ServiceProcess(env, port=free_port()).start()
    try:
        service.wait_ready() if ready else service.wait()
    except BaseException:
        service.stop()
        raise
    return service




def wait_for(condition: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something other than None or False; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s (last value: {value!r})")
        time.sleep(interval)


def metric_samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``GET /metrics`` as ``{(sample name, sorted labels): value}``."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def logged_flow_ids(home: Path, table: str, prefix: str) -> set[str]:
    """Flow ids in the service's SQLite log (``predictions`` or ``labels``) starting with ``prefix``."""
    assert table in ("predictions", "labels")
    with sqlite3.connect(home / "logs.db", timeout=30) as connection:
        rows = connection.execute(f"SELECT flow_id FROM {table} WHERE flow_id LIKE ?", (prefix + "%",)).fetchall()
    return {row[0] for row in rows}


@dataclass(frozen=True, slots=True)
class Answer:
    """One ``/predict`` request of a load run, as the client saw it (status 0: no answer)."""

    flow_id: str
    flow: int
    status: int
    body: dict[str, Any] | None
    received_at: float


async def predict_load(
    url: str, flows: Sequence[Mapping[str, float]], *, clients: int, stop: asyncio.Event, prefix: str
) -> list[Answer]:
    """``clients`` concurrent clients posting ``flows`` round-robin to ``/predict`` until ``stop`` is set."""
    answers: list[Answer] = []
    sent = itertools.count()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients),
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def client() -> None:
            while not stop.is_set():
                number = next(sent)
                flow_id, flow = f"{prefix}-{number}", number % len(flows)
                try:
                    async with session.post(f"{url}/predict", json={"flow_id": flow_id, "features": flows[flow]}) as r:
                        body = await r.json(content_type=None)
                        answers.append(Answer(flow_id, flow, r.status, body, time.monotonic()))
                except (aiohttp.ClientError, TimeoutError, ValueError):
                    answers.append(Answer(flow_id, flow, 0, None, time.monotonic()))
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(client() for _ in range(clients)))
    return answers
