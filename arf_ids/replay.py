"""Replay labelled flows through the production model into the prediction log.

Each flow is scored by the model that carries the ``production`` alias (a newly
promoted version is picked up within ``poll_seconds``), its prediction is logged, and
its true label follows ``label_delay`` flows later, as a SOC analyst's verdicts would.

>>> config = ReplayConfig(label_delay=100, rate=0)
>>> config.batch_size
250
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from arf_ids.core.lineage import LABEL
from arf_ids.core.logstore import LabelRecord, LogStore, PredictionRecord
from arf_ids.core.registry import LoadedModel, ModelRegistry


class ReplayConfig(BaseModel):
    """How flows are replayed."""

    model_config = ConfigDict(frozen=True)

    label_delay: int = Field(default=200, ge=0, description="labels follow their flow by this many flows")
    rate: float = Field(default=0.0, ge=0, description="flows per second; 0 = as fast as possible")
    batch_size: int = Field(default=250, gt=0)
    poll_seconds: float = Field(default=2.0, gt=0, description="how often to look for a new production model")
    flow_id_prefix: str = "flow"


@dataclass
class ReplayProgress:
    """What the replay has done so far."""

    flows: int = 0
    labels: int = 0
    model_version: int | None = None
    reloads: int = 0
    first_flow_by_version: dict[int, int] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


class Replayer:
    """Scores flows with the production model and logs predictions and delayed labels."""

    def __init__(self, registry: ModelRegistry, log_store: LogStore, config: ReplayConfig | None = None) -> None:
        self.registry = registry
        self.log_store = log_store
        self.config = config or ReplayConfig()
        self.progress = ReplayProgress()
        self._model: LoadedModel | None = None
        self._last_poll = 0.0
        self._pending_labels: deque[tuple[str, str]] = deque()

    def flow_id(self, index: int) -> str:
        return f"{self.config.flow_id_prefix}-{index:08d}"

    def _refresh_model(self) -> LoadedModel:
        now = time.monotonic()
        if self._model is None or now - self._last_poll >= self.config.poll_seconds:
            self._last_poll = now
            version = self.registry.version_for("production")
            if version is None:
                raise RuntimeError("no model carries the production alias; run `arf-ids bootstrap` first")
            if self._model is None or version != self._model.version:
                self.progress.reloads += self._model is not None
                self._model = self.registry.load(version)
                self.progress.first_flow_by_version.setdefault(version, self.progress.flows)
                self.progress.model_version = version
        return self._model

    def _score_batch(self, batch: pd.DataFrame) -> None:
        model = self._refresh_model()
        schema = model.bundle.schema
        matrix = schema.frame_matrix(batch)
        predicted = model.bundle.predict_matrix(matrix)
        now = datetime.now(UTC)
        records = []
        for row, features in enumerate(matrix):
            flow_id = self.flow_id(self.progress.flows + row)
            records.append(
                PredictionRecord(
                    flow_id=flow_id,
                    predicted_at=now,
                    features=dict(zip(schema.features, features.tolist(), strict=True)),
                    predicted_label=str(predicted.labels[row]),
                    confidence=float(predicted.confidences[row]),
                    trees_used=int(predicted.trees_used[row]),
                    model_version=str(model.version),
                )
            )
            self._pending_labels.append((flow_id, str(batch[LABEL].iloc[row])))
        self.log_store.write_predictions(records)
        self.progress.flows += len(records)
        self._release_labels(keep=self.config.label_delay)

    def _release_labels(self, *, keep: int) -> None:
        ready = []
        while len(self._pending_labels) > keep:
            ready.append(self._pending_labels.popleft())
        if ready:
            now = datetime.now(UTC)
            self.log_store.write_labels(
                [LabelRecord(flow_id=f, true_label=label, labelled_at=now) for f, label in ready]
            )
            self.progress.labels += len(ready)

    def run(
        self,
        flows: pd.DataFrame,
        *,
        until: Callable[[ReplayProgress], bool] | None = None,
        show_progress: bool = True,
        description: str = "replay",
    ) -> int:
        """Replay ``flows`` in order, in batches; stop early once ``until(progress)`` is true.

        Returns how many of the given flows were replayed.
        """
        size, rate = self.config.batch_size, self.config.rate
        done = 0
        with tqdm(total=len(flows), desc=description, unit="flow", disable=not show_progress, leave=False) as bar:
            for start in range(0, len(flows), size):
                began = time.perf_counter()
                batch = flows.iloc[start : start + size]
                self._score_batch(batch)
                done += len(batch)
                bar.update(len(batch))
                bar.set_postfix(model=self.progress.model_version, labels=self.progress.labels)
                if rate > 0:
                    time.sleep(max(0.0, len(batch) / rate - (time.perf_counter() - began)))
                if until is not None and until(self.progress):
                    break
        return done

    def flush_labels(self) -> None:
        """Write every label still held back by the delay."""
        self._release_labels(keep=0)
