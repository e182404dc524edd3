"""The local stack for a person or a script to drive: Dagster daemon + webserver and the service.

``arf-ids demo`` and ``arf-ids up`` both run inside it::

    with local_stack(env, dagster_port=3000, service_port=3001) as service:
        replayer = HttpReplayer(service.url, ...)

Every process listens on 127.0.0.1, writes its log under ``<ARF_IDS_HOME>/logs`` and is
stopped on exit whatever happens (SIGTERM, so the service flushes its logs; SIGKILL
after a timeout).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from arf_ids.core.errors import ArfIdsError
from arf_ids.serving.process import ServiceProcess

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class StackFailed(ArfIdsError):
    """A process of the local stack did not start or answer in time."""


def wait_for_http(url: str, *, timeout: float) -> None:
    """Wait until ``GET url`` answers 200; :class:`StackFailed` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback only)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise StackFailed(f"{url} did not answer within {timeout:.0f}s")


@contextmanager
def dagster_services(env: Mapping[str, str], port: int) -> Iterator[None]:
    """The Dagster daemon and webserver on 127.0.0.1:``port``."""
    bin_dir = Path(sys.executable).parent
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    commands = [
        [str(bin_dir / "dagster-daemon"), "run", "-w", workspace],
        [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", workspace],
    ]
    log_dir = Path(env["ARF_IDS_HOME"]) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            with (log_dir / f"{Path(command[0]).name}.log").open("ab") as log:
                processes.append(
                    subprocess.Popen(
                        command, env=dict(env), cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        wait_for_http(f"http://127.0.0.1:{port}/server_info", timeout=120)
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def local_stack(env: Mapping[str, str], *, dagster_port: int, service_port: int) -> Iterator[ServiceProcess]:
    """Dagster (daemon + UI) and the BentoML service, ready: the service has loaded ``production``."""
    with dagster_services(env, dagster_port), ServiceProcess(env, port=service_port) as service:
        service.wait_ready()
        log_dir = Path(env["ARF_IDS_HOME"]) / "logs"
        print(f"Dagster UI   http://127.0.0.1:{dagster_port}")
        print(f"dashboard    {service.url}/dashboard    metrics {service.url}/metrics    (logs in {log_dir})")
        yield service
