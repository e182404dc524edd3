"""Run the BentoML service (``bento/``) as a child process, on the loopback interface.

For the demo and the tests::

    with ServiceProcess({"ARF_IDS_HOME": "/tmp/state"}, port=free_port()) as service:
        service.wait_ready()              # /readyz is 200 once a model is loaded
        print(service.url)                # http://127.0.0.1:<port>

``stop()`` sends SIGTERM (the service flushes its logs) and SIGKILL after a timeout;
``kill()`` sends SIGKILL to the server and its workers at once (BentoML starts each worker
in a session of its own, so a signal to the server's process group would miss them).
BentoML's state (its Prometheus directory above all) goes to ``BENTOML_HOME``, by default
``<ARF_IDS_HOME>/bentoml``, so that two services on one machine never share it; BentoML's
usage tracking is turned off.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import psutil

from arf_ids.core.errors import ArfIdsError

BENTO_DIR = Path(__file__).resolve().parents[2] / "bento"


class ServiceFailed(ArfIdsError):
    """The service process did not start, or did not answer in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class ServiceProcess:
    """One ``bentoml serve`` of the service, its environment and its log file."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        port: int,
        host: str = "127.0.0.1",
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        home = Path(env.get("ARF_IDS_HOME") or os.environ.get("ARF_IDS_HOME") or ".arf_ids").resolve()
        self.host = host
        self.port = port
        self.env = {
            **os.environ,
            "BENTOML_HOME": str(home / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "True",
            **env,
            "ARF_IDS_SERVICE__HOST": host,
            "ARF_IDS_SERVICE__PORT": str(port),
        }
        self.log_path = Path(log_path) if log_path else home / "logs" / f"service-{port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> ServiceProcess:
        command = [str(Path(sys.executable).parent / "bentoml"), "serve", "service:IdsService",
                   "--working-dir", str(BENTO_DIR), "--host", self.host, "--port", str(self.port)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, env=self.env, cwd=BENTO_DIR.parent, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait(self, path: str = "/healthz", *, timeout: float = 180.0) -> None:
        """Wait until ``GET path`` answers 200; :class:`ServiceFailed` if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise ServiceFailed(f"the service exited before {path} answered; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=5) as response:  # noqa: S310 (loopback)
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise ServiceFailed(f"{self.url}{path} did not answer 200 within {timeout:.0f}s; see {self.log_path}")

    def wait_ready(self, *, timeout: float = 180.0) -> None:
        """Wait until a model is loaded (``/readyz`` 200)."""
        self.wait("/readyz", timeout=timeout)

    def stop(self, *, timeout: float = 60.0) -> int | None:
        """SIGTERM the server (its workers shut down gracefully and flush), SIGKILL what is left after ``timeout``."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            processes = self._processes()
            self._process.send_signal(signal.SIGTERM)
            _, alive = psutil.wait_procs(processes, timeout=timeout)
            for process in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            self._process.wait()
        return self._process.returncode

    def kill(self) -> None:
        """SIGKILL the server and every worker at once (a crash)."""
        if self._process is not None:
            processes = self._processes()
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            psutil.wait_procs(processes, timeout=30)
            self._process.wait()

    def _processes(self) -> list[psutil.Process]:
        """The server and its workers (which BentoML starts in sessions of their own)."""
        assert self._process is not None
        try:
            server = psutil.Process(self._process.pid)
            return [*server.children(recursive=True), server]
        except psutil.NoSuchProcess:
            return []

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
