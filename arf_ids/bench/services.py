"""The servers the HTTP section measures: the product's BentoML service and the seed-style app.

The service runs as ``make serve`` does (:class:`~arf_ids.serving.process.ServiceProcess`,
one worker) on a throw-away home whose SQLite registry holds the benchmark model as
``production``; the seed-style app (:mod:`arf_ids.bench.seed_app`) serves the same
bundle from its file. Both listen on free loopback ports and are stopped on exit::

    with running_service(home) as service, running_seed_app(model_path, logs) as seed_url:
        worker_rss(service)      # resident bytes of the service's worker
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil

from arf_ids.core.model import ModelBundle
from arf_ids.core.registry import ModelRegistry
from arf_ids.serving.process import ServiceFailed, ServiceProcess, free_port
from arf_ids.settings import Settings

#: The worker's module in its command line (the server process only supervises it).
WORKER_MODULE = "_bentoml_impl.worker"
STARTUP_SECONDS = 300.0


def register_production(home: Path, bundle: ModelBundle) -> int:
    """Register ``bundle`` as ``production`` in the home's embedded registry; its version."""
    registry = ModelRegistry(Settings(home=home).registry_config())
    info = registry.register(bundle, metrics={}, params={"n_models": len(bundle.arf)},
                             data={"source": "bench"}, alias="production")
    return info.version


def service_env(home: Path) -> dict[str, str]:
    """The service's environment: its own home, open ``/predict`` (no API key on it)."""
    return {"ARF_IDS_HOME": str(home), "ARF_IDS_SERVICE__PROTECT_PREDICT": "false"}


@contextlib.contextmanager
def running_service(home: Path) -> Iterator[ServiceProcess]:
    """The BentoML service on ``home``'s production model, ready (model loaded); stopped on exit."""
    service = ServiceProcess(service_env(home), port=free_port()).start()
    try:
        service.wait_ready(timeout=STARTUP_SECONDS)
        yield service
    finally:
        service.stop()


def _wait_for(url: str, process: subprocess.Popen[bytes], *, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceFailed(f"the seed-style app exited before {url} answered; see {log}")
        with contextlib.suppress(urllib.error.URLError, OSError), \
                urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            if response.status == 200:
                return
        time.sleep(0.25)
    raise ServiceFailed(f"{url} did not answer within {timeout:.0f}s; see {log}")


@contextlib.contextmanager
def running_seed_app(model_path: Path, log_path: Path) -> Iterator[str]:
    """The seed-style FastAPI + uvicorn app on ``model_path``; yields its base URL."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "arf_ids.bench.seed_app", "--model", str(model_path), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/health", process, timeout=STARTUP_SECONDS, log=log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _service_processes(service: ServiceProcess) -> list[psutil.Process]:
    if service.pid is None:
        raise ServiceFailed("the service is not running")
    server = psutil.Process(service.pid)
    return [server, *server.children(recursive=True)]


def worker_rss(service: ServiceProcess) -> int:
    """Resident bytes of the service's worker (the process that holds the model and answers)."""
    processes = _service_processes(service)
    workers = [process for process in processes if any(WORKER_MODULE in part for part in process.cmdline())]
    return max(process.memory_info().rss for process in workers or processes)


def total_rss(service: ServiceProcess) -> int:
    """Resident bytes of the server and all its workers together."""
    return sum(process.memory_info().rss for process in _service_processes(service))
