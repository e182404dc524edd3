"""Replay labelled flows through the HTTP service, as live traffic would arrive.

:class:`HttpReplayer` has the interface of :class:`arf_ids.replay.Replayer` (``run``,
``progress``, ``flush_labels``), but each flow is a ``POST /predict`` (up to
``concurrency`` in flight) and the true labels follow ``label_delay`` flows later through
``POST /label/batch``. The service scores, hot-swaps and logs; the replayer only
measures: requests, errors, client latency, and when each model version was first
served. Switching the demo to HTTP::

    replayer = HttpReplayer(service.url, ReplayConfig(label_delay=100, rate=400, flow_id_prefix="demo"),
                            api_key=settings.service.api_key)
    replayer.run(flows, until=promoted)                  # the same `until(progress)` as Replayer
    replayer.flush_labels()
    report |= replayer.service_report(promoted_at=...)   # service_requests, latency_p99_ms, ...
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import numpy as np
import pandas as pd
from pydantic import SecretStr
from tqdm import tqdm

from arf_ids.core.lineage import LABEL
from arf_ids.replay import ReplayConfig, Replayer, ReplayProgress

#: Frame columns that are not features.
NON_FEATURES = (LABEL, "drifted")


@dataclass
class HttpReplayProgress(ReplayProgress):
    """:class:`ReplayProgress` plus what the client saw of the service."""

    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    first_served_at_by_version: dict[int, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Answer:
    index: int
    version: int | None
    latency_ms: float
    error: str | None


class HttpReplayer:
    """Posts flows to ``/predict`` and their delayed true labels to ``/label/batch``."""

    #: The same flow ids as the in-process replayer.
    flow_id = Replayer.flow_id

    def __init__(
        self,
        base_url: str,
        config: ReplayConfig | None = None,
        *,
        api_key: str | SecretStr | None = None,
        concurrency: int = 8,
        timeout_seconds: float = 30.0,
        label_batch_size: int = 1_000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.config = config or ReplayConfig()
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self.headers = {"X-API-Key": key} if key else {}
        self.concurrency = concurrency
        self.label_batch_size = label_batch_size
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.progress = HttpReplayProgress()
        self._pending_labels: deque[tuple[str, str]] = deque()

    def run(
        self,
        flows: pd.DataFrame,
        *,
        until: Callable[[ReplayProgress], bool] | None = None,
        show_progress: bool = True,
        description: str = "replay",
    ) -> int:
        """Replay ``flows`` in order, ``batch_size`` at a time; stop once ``until(progress)`` is true."""
        return asyncio.run(self._run(flows, until, show_progress, description))

    def flush_labels(self) -> None:
        """Post every label still held back by the delay."""
        asyncio.run(self._with_session(lambda session: self._release_labels(session, keep=0)))

    def status(self) -> dict[str, object]:
        """The service's ``GET /``."""
        async def get(session: aiohttp.ClientSession) -> dict[str, object]:
            async with session.get(f"{self.base_url}/") as response:
                response.raise_for_status()
                return await response.json()

        return asyncio.run(self._with_session(get))

    def service_report(self, *, promoted_at: datetime | None = None) -> dict[str, object]:
        """The demo report's service fields; ``promoted_at`` is when the current version was promoted."""
        latencies = np.asarray(self.progress.latencies_ms)
        version = self.progress.model_version
        first_served = self.progress.first_served_at_by_version.get(version) if version is not None else None
        return {
            "service_requests": self.progress.requests,
            "service_errors": self.progress.errors,
            "service_error_samples": self.progress.error_samples,
            "latency_p50_ms": round(float(np.percentile(latencies, 50)), 3) if latencies.size else None,
            "latency_p99_ms": round(float(np.percentile(latencies, 99)), 3) if latencies.size else None,
            "reload_count": self.status()["reload_count"],
            "seconds_from_promotion_to_new_version_served": (
                round((first_served - promoted_at).total_seconds(), 3)
                if first_served is not None and promoted_at is not None
                else None
            ),
        }

    # ------------------------------------------------------------------ internals

    async def _with_session(self, work: Callable[[aiohttp.ClientSession], object]) -> object:
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=self.timeout, headers=self.headers) as session:
            return await work(session)  # type: ignore[misc]

    async def _run(
        self,
        flows: pd.DataFrame,
        until: Callable[[ReplayProgress], bool] | None,
        show_progress: bool,
        description: str,
    ) -> int:
        features = [name for name in flows.columns if name not in NON_FEATURES]
        size, rate = self.config.batch_size, self.config.rate
        done = 0

        async def replay(session: aiohttp.ClientSession) -> None:
            nonlocal done
            with tqdm(total=len(flows), desc=description, unit="flow", disable=not show_progress, leave=False) as bar:
                for start in range(0, len(flows), size):
                    began = time.perf_counter()
                    batch = flows.iloc[start : start + size]
                    await self._score_batch(session, batch, features)
                    done += len(batch)
                    bar.update(len(batch))
                    bar.set_postfix(model=self.progress.model_version, errors=self.progress.errors)
                    await self._release_labels(session, keep=self.config.label_delay)
                    if rate > 0:
                        await asyncio.sleep(max(0.0, len(batch) / rate - (time.perf_counter() - began)))
                    if until is not None and until(self.progress):
                        break

        await self._with_session(replay)
        return done

    async def _score_batch(self, session: aiohttp.ClientSession, batch: pd.DataFrame, features: Sequence[str]) -> None:
        first = self.progress.flows
        values = batch[list(features)].to_numpy(dtype=np.float64).tolist()
        gate = asyncio.Semaphore(self.concurrency)

        async def post(row: int) -> _Answer:
            body = {"flow_id": self.flow_id(first + row), "features": dict(zip(features, values[row], strict=True))}
            async with gate:
                started = time.perf_counter()
                try:
                    async with session.post(f"{self.base_url}/predict", json=body) as response:
                        answer = await response.json(content_type=None)
                        latency_ms = (time.perf_counter() - started) * 1000.0
                        if response.status != 200:
                            return _Answer(row, None, latency_ms, f"HTTP {response.status}: {answer}")
                        return _Answer(row, int(answer["model_version"]), latency_ms, None)
                except (TimeoutError, aiohttp.ClientError, ValueError, KeyError) as error:
                    return _Answer(row, None, (time.perf_counter() - started) * 1000.0, repr(error))

        answers = await asyncio.gather(*(post(row) for row in range(len(batch))))
        now = datetime.now(UTC)
        labels = batch[LABEL].astype(str).tolist()
        for answer in sorted(answers, key=lambda a: a.index):
            self.progress.requests += 1
            if answer.error is not None:
                self.progress.errors += 1
                if len(self.progress.error_samples) < 10:
                    self.progress.error_samples.append(answer.error)
                continue
            self.progress.latencies_ms.append(answer.latency_ms)
            self._pending_labels.append((self.flow_id(first + answer.index), labels[answer.index]))
            self._saw_version(answer.version, first + answer.index, now)
        self.progress.flows += len(batch)

    def _saw_version(self, version: int | None, flow: int, at: datetime) -> None:
        """Answers come in flow order: the last version seen is the one the service serves now."""
        if version is None:
            return
        if version not in self.progress.first_flow_by_version:
            self.progress.first_flow_by_version[version] = flow
            self.progress.first_served_at_by_version[version] = at
            self.progress.reloads += self.progress.model_version is not None
        self.progress.model_version = version

    async def _release_labels(self, session: aiohttp.ClientSession, *, keep: int) -> None:
        ready = []
        while len(self._pending_labels) > keep:
            ready.append(self._pending_labels.popleft())
        for start in range(0, len(ready), self.label_batch_size):
            chunk = ready[start : start + self.label_batch_size]
            body = {"labels": [{"flow_id": flow_id, "true_label": label} for flow_id, label in chunk]}
            self.progress.requests += 1
            try:
                async with session.post(f"{self.base_url}/label/batch", json=body) as response:
                    answer = await response.json(content_type=None)
                    if response.status == 200:
                        self.progress.labels += len(chunk)
                        continue
                    error = f"HTTP {response.status}: {answer}"
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                error = repr(exc)
            self.progress.errors += 1
            if len(self.progress.error_samples) < 10:
                self.progress.error_samples.append(error)
