"""One request in; verdicts, log records, feed messages and metrics out.

:class:`FlowScorer` reads the served model once per request, validates every flow
against that model's schema before scoring anything (a bad request logs nothing), scores
with the confident-tree vote of the model's compiled form (built when it was loaded),
hands the predictions to the batched log writer as one chunk of columns and, when
someone watches the live feed, the messages to it. A ``/predict`` flow is scored and
answered at once; the flows answered within :data:`RECORD_DELAY_SECONDS` are logged as
one chunk and counted once (:meth:`FlowScorer.predict_json`). Batches are scored by
:meth:`FlowScorer.score_batch`, which blocks and belongs in a worker thread (a large
batch may fan out to ``batch_workers`` threads, same answers); :meth:`FlowScorer.publish`
then runs on the event loop. The feed messages are::

    {"type": "prediction", "flow_id": "f1", "prediction": "DoS", "confidence": 0.98, "model_version": 3}
    {"type": "model_updated", "version": 4, "reload_count": 1}
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from pydantic_core import to_json

from arf_ids.core.errors import InvalidFlowError, UnknownLabelError
from arf_ids.core.logstore import LabelRecord, PredictionColumns
from arf_ids.serving.api import (
    BatchIn,
    FlowIn,
    LabelIn,
    LabelOut,
    ServiceError,
    invalid_flow,
    invalid_input,
)
from arf_ids.serving.broadcast import Broadcaster
from arf_ids.serving.holder import ModelHolder, ServedModel
from arf_ids.serving.logwriter import BatchedWriter
from arf_ids.serving.metrics import ServiceMetrics

#: How long a ``/predict`` flow's log record waits after its answer, so that the flows answered meanwhile share one
#: log chunk (about 60 at 6,000 req/s): each chunk has a fixed cost, on the event loop and in the log writer.
RECORD_DELAY_SECONDS = 0.01


#: A ``/predict`` flow answered and not yet logged or counted: flow id, feature values, label, confidence, trees
#: used (a plain tuple: a named one costs a Python-level call per request).
_AnsweredFlow = tuple[str, tuple[float, ...], str, float, int]


@dataclass(frozen=True, slots=True)
class ScoredBatch:
    """A scored batch: the verdicts column by column, and the feed messages to publish on the event loop."""

    flow_ids: list[str]
    labels: list[str]
    confidences: list[float]
    trees_used: list[int]
    model_version: int
    latency_ms: float
    messages: list[str]

    def rows_json(self) -> bytes:
        """The answer to a batch of ``flows``: :class:`~arf_ids.serving.api.BatchOut` as JSON."""
        predictions = [
            {"flow_id": flow_id, "prediction": label, "confidence": confidence, "trees_used": trees}
            for flow_id, label, confidence, trees in zip(
                self.flow_ids, self.labels, self.confidences, self.trees_used, strict=True
            )
        ]
        return to_json({"predictions": predictions, "model_version": self.model_version, "latency_ms": self.latency_ms})

    def columns_json(self) -> bytes:
        """The answer to a batch of ``columns``: :class:`~arf_ids.serving.api.ColumnBatchOut` as JSON."""
        return to_json({
            "flow_ids": self.flow_ids,
            "predictions": self.labels,
            "confidences": self.confidences,
            "trees_used": self.trees_used,
            "model_version": self.model_version,
            "latency_ms": self.latency_ms,
        })


def prediction_json(flow_id: str, label: str, confidence: float, trees_used: int, model_version: int,
                    latency_ms: float) -> bytes:
    """One ``/predict`` answer, :class:`~arf_ids.serving.api.PredictionOut`, as compact JSON (its fields in order).

    Serialised by pydantic's compiled core (:func:`pydantic_core.to_json`), as the batch answers are.

    >>> json.loads(prediction_json('f"1', "DoS", 0.75, 7, 3, 0.5))
    {'flow_id': 'f"1', 'prediction': 'DoS', 'confidence': 0.75, 'trees_used': 7, 'model_version': 3, 'latency_ms': 0.5}
    """
    return to_json({"flow_id": flow_id, "prediction": label, "confidence": confidence, "trees_used": trees_used,
                    "model_version": model_version, "latency_ms": latency_ms})


def feed_message(kind: str, **fields: object) -> str:
    """One feed message as compact JSON."""
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


class FlowScorer:
    """Scores flows with the held model and records everything it answers."""

    def __init__(
        self,
        holder: ModelHolder,
        prediction_log: BatchedWriter[PredictionColumns],
        label_log: BatchedWriter[list[LabelRecord]],
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
        self._answered: list[_AnsweredFlow] = []  # /predict flows answered and not yet logged
        self._answered_by: ServedModel | None = None  # the model that answered them

    def served(self) -> ServedModel:
        """The model for this request; 503 until one is loaded."""
        model = self.holder.current
        if model is None:
            raise ServiceError(503, "no model loaded yet: the registry and the local copy have none to serve")
        return model

    def predict_json(self, flow: FlowIn) -> bytes:
        """Score one flow; the answer, :class:`~arf_ids.serving.api.PredictionOut`, as JSON.

        The flow is validated (a bad one raises and is not logged) and scored at once by the
        compiled model's one-flow vote. Its log record waits :data:`RECORD_DELAY_SECONDS`
        (:meth:`record_answered`, a callback scheduled by the first flow answered since the
        last record), and the flows answered meanwhile are logged as one chunk and counted
        once: under load that spares a log chunk per request. A model swap records the flows
        the previous model answered first, so a chunk is always one model's; a ``/metrics``
        scrape and the runtime's shutdown record what is waiting.
        """
        started = time.perf_counter()
        model = self.served()
        try:
            values = model.bundle.schema.checked_values(flow.features)
        except InvalidFlowError as error:
            raise invalid_flow(error) from None
        compiled = model.compiled
        best, confidence, trees_used = compiled.vote_one(values)
        label = compiled.classes[best]
        if model is not self._answered_by:
            self.record_answered()
            self._answered_by = model
        if not self._answered:
            asyncio.get_running_loop().call_later(RECORD_DELAY_SECONDS, self.record_answered)
        self._answered.append((flow.flow_id, values, label, confidence, trees_used))
        return prediction_json(flow.flow_id, label, confidence, trees_used, model.version,
                               (time.perf_counter() - started) * 1000.0)

    def record_answered(self) -> None:
        """Log and count the ``/predict`` flows answered since the last call, as one chunk (one model answered them)."""
        answered, model = self._answered, self._answered_by
        if not answered or model is None:
            return
        self._answered = []
        flow_ids, values, labels, confidences, trees_used = zip(*answered, strict=True)
        self._log(model, flow_ids, np.array(values), labels, np.array(confidences),
                  np.array(trees_used, dtype=np.int64))
        self.metrics.count_predictions(labels)
        if self.feed.connections:
            self.publish(self._messages(model, flow_ids, labels, confidences))

    def score_batch(self, batch: BatchIn) -> ScoredBatch:
        """Validate and score a batch (either shape) as one matrix (blocking: run it in a worker thread)."""
        started = time.perf_counter()
        rows = len(batch.flows) if batch.flows is not None else len(batch.flow_ids or ())
        if rows > self.max_batch:
            field = "flows" if batch.flows is not None else "flow_ids"
            raise invalid_input([field], f"holds {rows} flows; the limit is {self.max_batch}", "too_long")
        model = self.served()
        flow_ids, matrix = self._matrix(model, batch)
        scored = model.compiled.predict_matrix(matrix, workers=self.batch_workers)
        labels = scored.labels.tolist()
        confidences = scored.confidences.tolist()
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._log(model, flow_ids, matrix, labels, scored.confidences, scored.trees_used)
        self.metrics.count_predictions(labels)
        messages = self._messages(model, flow_ids, labels, confidences) if self.feed.connections else []
        return ScoredBatch(flow_ids, labels, confidences, scored.trees_used.tolist(), model.version, latency_ms,
                           messages)

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

    @staticmethod
    def _matrix(model: ServedModel, batch: BatchIn) -> tuple[list[str], np.ndarray]:
        """The batch's flow ids and its validated feature matrix in the model's order (400 naming a bad value)."""
        schema = model.bundle.schema
        if batch.flows is not None:
            try:
                return [flow.flow_id for flow in batch.flows], schema.matrix([flow.features for flow in batch.flows])
            except InvalidFlowError as error:
                raise invalid_flow(error, ["flows", error.index]) from None
        flow_ids, columns = batch.flow_ids or [], batch.columns or {}
        try:
            return flow_ids, schema.column_matrix(columns, len(flow_ids), numbers_checked=True)
        except InvalidFlowError as error:
            where = [error.feature] + ([error.index] if error.index is not None else [])
            raise invalid_input(["columns", *where], error.problem) from None

    def _log(
        self,
        model: ServedModel,
        flow_ids: Sequence[str],
        matrix: np.ndarray,
        labels: Sequence[str],
        confidences: np.ndarray,
        trees_used: np.ndarray,
    ) -> None:
        """Queue one request's predictions for the prediction log, as one chunk of columns."""
        self.prediction_log.submit(PredictionColumns(
            flow_ids=flow_ids,
            predicted_at=datetime.now(UTC),
            feature_names=model.bundle.schema.features,
            features=matrix,
            predicted_labels=labels,
            confidences=confidences,
            trees_used=trees_used,
            model_version=str(model.version),
        ))

    @staticmethod
    def _messages(model: ServedModel, flow_ids: Sequence[str], labels: Sequence[str],
                  confidences: Sequence[float]) -> list[str]:
        return [
            feed_message("prediction", flow_id=flow_id, prediction=label, confidence=confidence,
                         model_version=model.version)
            for flow_id, label, confidence in zip(flow_ids, labels, confidences, strict=True)
        ]
