"""One request in; verdicts, log records, feed messages and metrics out.

:class:`FlowScorer` reads the served model once per request, validates every flow
against that model's schema before scoring anything (a bad request logs nothing), scores
with the confident-tree vote of the model's compiled form (built when it was loaded),
hands the records to the batched log writers and the messages to the live feed. Batches
are scored by :meth:`FlowScorer.score_batch`, which blocks and belongs in a worker
thread (a large batch may fan out to ``batch_workers`` threads, same answers);
:meth:`FlowScorer.publish` then runs on the event loop. The feed messages are::

    {"type": "prediction", "flow_id": "f1", "prediction": "DoS", "confidence": 0.98, "model_version": 3}
    {"type": "model_updated", "version": 4, "reload_count": 1}
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from arf_ids.core.errors import InvalidFlowError, UnknownLabelError
from arf_ids.core.logstore import LabelRecord, PredictionRecord
from arf_ids.serving.api import (
    BatchItemOut,
    BatchOut,
    FlowIn,
    LabelIn,
    LabelOut,
    PredictionOut,
    ServiceError,
    invalid_flow,
    invalid_input,
)
from arf_ids.serving.broadcast import Broadcaster
from arf_ids.serving.holder import ModelHolder, ServedModel
from arf_ids.serving.logwriter import BatchedWriter
from arf_ids.serving.metrics import ServiceMetrics


@dataclass(frozen=True, slots=True)
class ScoredBatch:
    """A scored batch waiting to be published on the event loop."""

    response: BatchOut
    messages: list[str]


def feed_message(kind: str, **fields: object) -> str:
    """One feed message as compact JSON."""
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


class FlowScorer:
    """Scores flows with the held model and records everything it answers."""

    def __init__(
        self,
        holder: ModelHolder,
        prediction_log: BatchedWriter[PredictionRecord],
        label_log: BatchedWriter[LabelRecord],
        feed: Broadcaster,
        metrics: ServiceMetrics,
        *,
        max_batch: int,
        batch_workers: int = 1,
    ) -> None:
        self.holder = holder
        self.prediction_log = prediction_log
        self.label_log = label_log
        self.feed = feed
        self.metrics = metrics
        self.max_batch = max_batch
        self.batch_workers = batch_workers

    def served(self) -> ServedModel:
        """The model for this request; 503 until one is loaded."""
        model = self.holder.current
        if model is None:
            raise ServiceError(503, "no model loaded yet: the registry and the local copy have none to serve")
        return model

    def predict(self, flow: FlowIn) -> PredictionOut:
        """Score one flow (on the event loop: one flow is cheap)."""
        started = time.perf_counter()
        model = self.served()
        try:
            vector = model.bundle.schema.vector(flow.features)
        except InvalidFlowError as error:
            raise invalid_flow(error) from None
        verdict = model.compiled.predict_one(vector)
        latency_ms = (time.perf_counter() - started) * 1000.0
        messages = self._record(model, [flow.flow_id], vector[np.newaxis, :], [verdict.label],
                                [verdict.confidence], [verdict.trees_used])
        self.publish(messages)
        return PredictionOut(
            flow_id=flow.flow_id,
            prediction=verdict.label,
            confidence=verdict.confidence,
            trees_used=verdict.trees_used,
            model_version=model.version,
            latency_ms=latency_ms,
        )

    def score_batch(self, flows: Sequence[FlowIn]) -> ScoredBatch:
        """Validate and score a batch as one matrix (blocking: run it in a worker thread)."""
        started = time.perf_counter()
        if len(flows) > self.max_batch:
            raise invalid_input(["flows"], f"holds {len(flows)} flows; the limit is {self.max_batch}", "too_long")
        model = self.served()
        schema = model.bundle.schema
        rows = []
        for index, flow in enumerate(flows):
            try:
                rows.append(schema.vector(flow.features, index=index))
            except InvalidFlowError as error:
                raise invalid_flow(error, ["flows", index]) from None
        matrix = np.vstack(rows)
        batch = model.compiled.predict_matrix(matrix, workers=self.batch_workers)
        labels = [str(label) for label in batch.labels]
        confidences = batch.confidences.tolist()
        trees_used = batch.trees_used.tolist()
        flow_ids = [flow.flow_id for flow in flows]
        latency_ms = (time.perf_counter() - started) * 1000.0
        messages = self._record(model, flow_ids, matrix, labels, confidences, trees_used)
        response = BatchOut(
            predictions=[
                BatchItemOut(flow_id=flow_id, prediction=label, confidence=confidence, trees_used=trees)
                for flow_id, label, confidence, trees in zip(flow_ids, labels, confidences, trees_used, strict=True)
            ],
            model_version=model.version,
            latency_ms=latency_ms,
        )
        return ScoredBatch(response, messages)

    def publish(self, messages: Sequence[str]) -> None:
        """Send feed messages to every WebSocket client (on the event loop)."""
        for message in messages:
            self.feed.publish(message)

    def label(self, labels: Sequence[LabelIn], *, batch: bool) -> LabelOut:
        """Queue true labels for the label log; an unknown label refuses the whole request."""
        if len(labels) > self.max_batch:
            raise invalid_input(["labels"], f"holds {len(labels)} labels; the limit is {self.max_batch}", "too_long")
        model = self.served()
        known = model.bundle.classes
        for index, item in enumerate(labels):
            if item.true_label not in known:
                loc = ["labels", index, "true_label"] if batch else ["true_label"]
                raise invalid_input(loc, str(UnknownLabelError(item.true_label, known)), "unknown_label")
        now = datetime.now(UTC)
        self.label_log.submit([LabelRecord(item.flow_id, item.true_label, now) for item in labels])
        self.metrics.labels.inc(len(labels))
        return LabelOut(accepted=len(labels), model_version=model.version)

    def _record(
        self,
        model: ServedModel,
        flow_ids: Sequence[str],
        matrix: np.ndarray,
        labels: Sequence[str],
        confidences: Sequence[float],
        trees_used: Sequence[int],
    ) -> list[str]:
        """Queue the prediction records; return the feed messages."""
        now = datetime.now(UTC)
        features = model.bundle.schema.features
        version = model.version
        records = [
            PredictionRecord(
                flow_id=flow_id,
                predicted_at=now,
                features=dict(zip(features, row, strict=True)),
                predicted_label=label,
                confidence=float(confidence),
                trees_used=int(trees),
                model_version=str(version),
            )
            for flow_id, row, label, confidence, trees in zip(
                flow_ids, matrix.tolist(), labels, confidences, trees_used, strict=True
            )
        ]
        self.prediction_log.submit(records)
        self.metrics.observe_predictions(labels)
        return [
            feed_message("prediction", flow_id=flow_id, prediction=label, confidence=float(confidence),
                         model_version=version)
            for flow_id, label, confidence in zip(flow_ids, labels, confidences, strict=True)
        ]
