"""Evaluation protocols over a time-ordered labelled flow stream: prequential, holdout, recovery.

* :func:`prequential`: flow ``i`` is predicted, then the label of flow ``i - label_delay``
  is learned (test-then-train; ``label_delay=0`` learns flow ``i`` right after predicting
  it). A label is never learned before its delay is over.
* :func:`holdout`: every flow is predicted by a model that learns nothing more.
* :func:`run_recovery`: the platform's own loop, offline. The production model predicts
  every flow and the prediction goes to a :class:`LogStore`; the true label of flow ``j``
  arrives after flow ``j + label_delay`` is predicted and feeds a
  :class:`ConfirmedDriftDetector` with the error bit. A confirmed drift start runs
  :func:`run_retrain_lineage` (merge, SMOTE, incremental retrain, gate) on the drift
  samples read back from the log; a promoted candidate predicts from the NEXT flow on.
  After a retrain request the detector starts afresh and watches only flows predicted
  after it, as ``drift_sensor`` does (it looks at the log since the last retrain).
* :func:`window_scores` and :func:`drift_recovery`: figures per window of the stream,
  and how many flows after a drift's onset macro-F1 is back near its pre-drift level.

Choices where production has a clock and this loop has flow numbers:

* onset and drift samples: as ``drift_sensor``, the onset is the labelled flow ``K``
  samples before the one that confirmed the drift (``K`` = the confirm window); the
  retrain waits until ``min_drift_samples`` labelled flows since the onset exist (the
  sensor's poll and the run's start let labels accumulate the same way), then reads the
  first ``LineageConfig.max_drift_samples`` of them back from the log, through
  :func:`select_drift_samples`, exactly as the ``drift_samples`` asset does;
* history: in production the detector has seen the model's errors on traffic like its
  training data before a drift; here it first sees the initial model's errors on the
  base hold-out (``warm_up_on_holdout``), which are never drift samples;
* the log: an in-memory SQLite :class:`LogStore`, written in batches of ``LOG_BATCH``
  flows (and before each retrain); flow ``i`` is predicted at ``stream_start + i *
  flow_interval_seconds``, its label is stamped when it arrives.

>>> import numpy as np
>>> from arf_ids.core.model import ArfConfig, ModelBundle
>>> from arf_ids.core.schema import FlowSchema
>>> X = np.array([[-5.0], [5.0]] * 200)
>>> y = np.array(["BENIGN", "ATTACK"] * 200)
>>> bundle = ModelBundle.train(X, y, schema=FlowSchema(features=("x",)), classes=("BENIGN", "ATTACK"),
...                            config=ArfConfig(n_models=3))
>>> predicted = prequential(BundleLearner(bundle), X[:20], y[:20], label_delay=5)
>>> window_scores(y[:20], predicted, window=10)[0].accuracy
1.0
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from river.base import Classifier

from arf_ids.core.drift import ConfirmedDriftDetector, DriftConfig
from arf_ids.core.errors import MalformedDataError
from arf_ids.core.evaluation import score
from arf_ids.core.lineage import LABEL, BaseData, LineageConfig, run_retrain_lineage, select_drift_samples
from arf_ids.core.logstore import LabelRecord, LogStore, PredictionRecord
from arf_ids.core.model import ModelBundle

#: Flows between two writes of the prediction and label buffers to the log.
LOG_BATCH = 1_000
#: Flows between two progress updates.
PROGRESS_STEP = 250
#: Stands for a warm-up sample (the base hold-out) in the detector's flow list: not a stream flow.
HISTORY_FLOW = -1


class Progress(Protocol):
    """Anything with tqdm's ``update(n)``."""

    def update(self, n: float = 1) -> object: ...


class StreamLearner(Protocol):
    """A model the prequential and holdout protocols can drive, one raw feature vector at a time."""

    def predict_one(self, x: np.ndarray) -> str: ...

    def learn_one(self, x: np.ndarray, label: str) -> None: ...


@dataclass
class BundleLearner:
    """The product's model: a ``ModelBundle`` (frozen scaler, confident vote)."""

    bundle: ModelBundle

    def predict_one(self, x: np.ndarray) -> str:
        return str(self.bundle.predict_matrix(x[np.newaxis]).labels[0])

    def learn_one(self, x: np.ndarray, label: str) -> None:
        self.bundle.learn(x[np.newaxis], [label])


@dataclass
class RiverLearner:
    """A plain river classifier on raw features; ``fallback`` is its answer before it can predict."""

    model: Classifier
    features: tuple[str, ...]
    fallback: str

    def _row(self, x: np.ndarray) -> dict[str, float]:
        return dict(zip(self.features, x.tolist(), strict=True))

    def predict_one(self, x: np.ndarray) -> str:
        predicted = self.model.predict_one(self._row(x))
        return self.fallback if predicted is None else str(predicted)

    def learn_one(self, x: np.ndarray, label: str) -> None:
        self.model.learn_one(self._row(x), label)


def _check_stream(X: np.ndarray, y: Sequence[str] | np.ndarray, label_delay: int) -> tuple[np.ndarray, np.ndarray]:
    matrix, labels = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=object)
    if matrix.ndim != 2 or labels.ndim != 1 or matrix.shape[0] != labels.shape[0]:
        raise MalformedDataError(
            "flow stream", f"needs an (n, features) matrix and n labels, got {matrix.shape} and {labels.shape}"
        )
    if label_delay < 0:
        raise MalformedDataError("flow stream", f"the label delay must be >= 0 flows, not {label_delay}")
    return matrix, labels


def _tick(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None and (done % PROGRESS_STEP == 0 or done == total):
        progress.update(PROGRESS_STEP if done % PROGRESS_STEP == 0 else done % PROGRESS_STEP)


def prequential(
    learner: StreamLearner,
    X: np.ndarray,
    y: Sequence[str] | np.ndarray,
    *,
    label_delay: int = 0,
    progress: Progress | None = None,
) -> np.ndarray:
    """Test-then-train: predict flow ``i``, then learn flow ``i - label_delay``; the predictions."""
    matrix, labels = _check_stream(X, y, label_delay)
    predictions = np.empty(len(labels), dtype=object)
    waiting: deque[int] = deque()
    for i, x in enumerate(matrix):
        predictions[i] = learner.predict_one(x)
        waiting.append(i)
        while len(waiting) > label_delay:
            j = waiting.popleft()
            learner.learn_one(matrix[j], str(labels[j]))
        _tick(progress, i + 1, len(labels))
    return predictions.astype(str)


def holdout(learner: StreamLearner, X: np.ndarray, *, progress: Progress | None = None) -> np.ndarray:
    """Predict every flow; the learner learns nothing."""
    matrix = np.asarray(X, dtype=np.float64)
    predictions = np.empty(matrix.shape[0], dtype=object)
    for i, x in enumerate(matrix):
        predictions[i] = learner.predict_one(x)
        _tick(progress, i + 1, matrix.shape[0])
    return predictions.astype(str)


# ---------------------------------------------------------------------------------- recovery


class RecoveryConfig(BaseModel):
    """The offline production loop: label delay, drift detection, retrain lineage."""

    model_config = ConfigDict(frozen=True)

    label_delay: int = Field(500, ge=0, description="a flow's label arrives after this many more flows")
    drift: DriftConfig = DriftConfig()
    lineage: LineageConfig = LineageConfig()
    retrain: bool = Field(True, description="False: drift is detected but the model is never retrained")
    min_drift_samples: int = Field(1_500, ge=1, description="labelled flows since the onset a retrain waits for")
    warm_up_on_holdout: bool = Field(
        True, description="the detector first sees the initial model's errors on the base hold-out (the log's history)"
    )
    stream_start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    flow_interval_seconds: float = Field(1.0, gt=0)


class RetrainRecord(BaseModel):
    """One run of the retrain lineage on a confirmed drift."""

    model_config = ConfigDict(frozen=True)

    drift_flow: int = Field(description="the flow whose label confirmed the drift")
    at_flow: int = Field(description="the retrain ran after this flow was predicted")
    first_sample_flow: int = Field(description="the drift's onset: first flow of the drift samples")
    last_sample_flow: int = Field(description="the newest labelled flow among the drift samples")
    samples: int
    promoted: bool
    version: int = Field(description="production version from at_flow + 1 on")
    f1_gain: float
    kappa_gain: float
    forgetting: float
    reasons: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class RecoveryResult:
    """What the loop did: per-flow predictions and model versions, drifts, retrains, models.

    ``models[v]`` is production version ``v`` (``models[0]`` the initial model);
    ``versions[i]`` is the version that predicted flow ``i``.
    """

    predictions: np.ndarray
    versions: np.ndarray
    drift_flows: tuple[int, ...]
    retrains: tuple[RetrainRecord, ...]
    models: tuple[ModelBundle, ...]

    @property
    def promotions(self) -> int:
        return sum(record.promoted for record in self.retrains)


@dataclass
class _PendingRetrain:
    drift_flow: int
    onset_flow: int


class _RecoveryLoop:
    """The state of one ``run_recovery`` pass (kept out of the module, one per run)."""

    def __init__(self, production: ModelBundle, X: np.ndarray, y: np.ndarray, base: BaseData, config: RecoveryConfig):
        self.X, self.y, self.base, self.config = X, y, base, config
        self.models = [production]
        self.schema = production.schema
        self.log = LogStore("sqlite://")
        self.prediction_buffer: list[PredictionRecord] = []
        self.label_buffer: list[LabelRecord] = []
        self.predictions = np.empty(len(y), dtype=object)
        self.versions = np.zeros(len(y), dtype=np.int64)
        self.detector = ConfirmedDriftDetector(config.drift)
        self.detector_flows: list[int] = []  # flow of each sample the current detector has seen
        self.watch_from = 0  # the current detector ignores flows predicted before this one
        self.pending: _PendingRetrain | None = None
        self.drift_flows: list[int] = []
        self.retrains: list[RetrainRecord] = []
        if config.warm_up_on_holdout:
            self.warm_up()

    def warm_up(self) -> None:
        """Feed the detector the initial model's errors on the base hold-out, timed before the stream."""
        holdout = self.base.holdout
        predicted = self.models[0].predict_labels(self.schema.frame_matrix(holdout))
        errors = predicted != holdout[LABEL].to_numpy(dtype=str)
        for k, error in enumerate(errors.tolist()):
            self.detector.update(error, self.time_of(k - len(errors)))
            self.detector_flows.append(HISTORY_FLOW)

    def time_of(self, flow: int) -> datetime:
        return self.config.stream_start + timedelta(seconds=flow * self.config.flow_interval_seconds)

    def predict(self, i: int) -> None:
        production = self.models[-1]
        batch = production.predict_matrix(self.X[i : i + 1])
        self.predictions[i] = str(batch.labels[0])
        self.versions[i] = len(self.models) - 1
        self.prediction_buffer.append(
            PredictionRecord(
                flow_id=f"flow-{i:09d}",
                predicted_at=self.time_of(i),
                features=dict(zip(self.schema.features, self.X[i].tolist(), strict=True)),
                predicted_label=self.predictions[i],
                confidence=float(batch.confidences[0]),
                trees_used=int(batch.trees_used[0]),
                model_version=str(self.versions[i]),
            )
        )

    def flush_log(self) -> None:
        self.log.write_predictions(self.prediction_buffer)
        self.log.write_labels(self.label_buffer)
        self.prediction_buffer, self.label_buffer = [], []

    def label_arrives(self, j: int, now_flow: int) -> None:
        """Flow ``j``'s label arrives after flow ``now_flow`` was predicted."""
        self.label_buffer.append(LabelRecord(f"flow-{j:09d}", str(self.y[j]), self.time_of(now_flow)))
        if j < self.watch_from:
            return
        self.detector_flows.append(j)
        event = self.detector.update(bool(self.predictions[j] != self.y[j]), self.time_of(j))
        if event is not None and event.kind == "start" and self.pending is None:
            self.drift_flows.append(j)
            # as drift_sensor does: the onset is K samples before the confirming one
            window = self.detector_flows[max(0, len(self.detector_flows) - 1 - self.config.drift.confirm_window) :]
            onset = next(flow for flow in window if flow != HISTORY_FLOW)
            self.pending = _PendingRetrain(drift_flow=j, onset_flow=onset)
        if self.pending is not None and j - self.pending.onset_flow + 1 >= self.config.min_drift_samples:
            self.handle_drift(self.pending, now_flow)

    def handle_drift(self, drift: _PendingRetrain, now_flow: int) -> None:
        self.pending = None
        if not self.config.retrain:
            return
        self.flush_log()
        labelled = self.log.labelled_frame(
            self.time_of(drift.onset_flow), self.time_of(now_flow + 1), feature_names=self.schema.features
        )
        samples = select_drift_samples(
            labelled,
            since=self.time_of(drift.onset_flow),
            schema=self.schema,
            limit=self.config.lineage.max_drift_samples,
        )
        started = time.perf_counter()
        outcome = run_retrain_lineage(self.models[-1], samples, self.base, self.config.lineage)
        decision = outcome.evaluation.decision
        if decision.promote:
            self.models.append(outcome.candidate)
        sample_flows = labelled["flow_id"].head(len(samples)).str.removeprefix("flow-").astype(int)
        self.retrains.append(
            RetrainRecord(
                drift_flow=drift.drift_flow,
                at_flow=now_flow,
                first_sample_flow=int(sample_flows.min()),
                last_sample_flow=int(sample_flows.max()),
                samples=len(samples),
                promoted=decision.promote,
                version=len(self.models) - 1,
                f1_gain=decision.f1_gain,
                kappa_gain=decision.kappa_gain,
                forgetting=decision.forgetting,
                reasons=tuple(decision.reasons),
                seconds=time.perf_counter() - started,
            )
        )
        # drift_sensor looks at the log since the last retrain: a fresh detector on later flows
        self.detector = ConfirmedDriftDetector(self.config.drift)
        self.detector_flows = []
        self.watch_from = now_flow + 1


def run_recovery(
    production: ModelBundle,
    X: np.ndarray,
    y: Sequence[str] | np.ndarray,
    base: BaseData,
    config: RecoveryConfig | None = None,
    *,
    progress: Progress | None = None,
) -> RecoveryResult:
    """Stream ``X, y`` through the platform's loop (see the module docstring); ``production`` is not changed."""
    config = config or RecoveryConfig()
    matrix, labels = _check_stream(X, y, config.label_delay)
    loop = _RecoveryLoop(production, matrix, labels, base, config)
    waiting: deque[int] = deque()
    for i in range(len(labels)):
        loop.predict(i)
        waiting.append(i)
        while len(waiting) > config.label_delay:
            loop.label_arrives(waiting.popleft(), now_flow=i)
        if len(loop.prediction_buffer) >= LOG_BATCH:
            loop.flush_log()
        _tick(progress, i + 1, len(labels))
    loop.log.close()
    return RecoveryResult(
        predictions=loop.predictions.astype(str),
        versions=loop.versions,
        drift_flows=tuple(loop.drift_flows),
        retrains=tuple(loop.retrains),
        models=tuple(loop.models),
    )


# ---------------------------------------------------------------------------------- figures


class WindowScore(BaseModel):
    """Figures over flows ``start <= i < end`` of the scored stream."""

    model_config = ConfigDict(frozen=True)

    start: int
    end: int
    accuracy: float
    macro_f1: float
    f1_attack: float
    kappa: float


def window_scores(
    y_true: Sequence[str] | np.ndarray,
    y_pred: Sequence[str] | np.ndarray,
    *,
    window: int,
    step: int | None = None,
    benign_label: str = "BENIGN",
) -> list[WindowScore]:
    """Scores of windows of ``window`` flows, one every ``step`` (default ``window``: no overlap).

    The last window ends at the end of the stream and may be shorter when ``step`` is
    ``window``; with an explicit ``step`` only full windows are scored.
    """
    truth, predicted = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    if window < 1 or (step is not None and step < 1):
        raise MalformedDataError("window_scores", f"window and step must be >= 1 flow, got {window} and {step}")
    if len(truth) != len(predicted):
        raise MalformedDataError("window_scores", f"{len(truth)} true labels but {len(predicted)} predictions")
    if step is None:
        bounds = [(start, min(start + window, len(truth))) for start in range(0, len(truth), window)]
    else:
        bounds = [(start, start + window) for start in range(0, len(truth) - window + 1, step)]
    scores = []
    for start, end in bounds:
        part = score(truth[start:end], predicted[start:end], benign_label=benign_label)
        scores.append(
            WindowScore(
                start=start,
                end=end,
                accuracy=part.accuracy,
                macro_f1=part.macro_f1,
                f1_attack=part.f1_attack,
                kappa=part.kappa,
            )
        )
    return scores


class DriftRecovery(BaseModel):
    """How fast macro-F1 came back after a drift that started at flow ``onset``."""

    model_config = ConfigDict(frozen=True)

    onset: int
    window: int
    tolerance: float
    pre_drift_macro_f1: float = Field(description="over the window just before the onset")
    worst_macro_f1: float = Field(description="the lowest window after the onset")
    recovered_at: int | None = Field(description="end of the first window after the onset back within tolerance")
    flows_to_recover: int | None = Field(description="recovered_at - onset")
    final_macro_f1: float = Field(description="over the last window of the stream")


def drift_recovery(
    y_true: Sequence[str] | np.ndarray,
    y_pred: Sequence[str] | np.ndarray,
    *,
    onset: int,
    window: int = 1_000,
    step: int = 100,
    tolerance: float = 0.02,
    benign_label: str = "BENIGN",
) -> DriftRecovery:
    """Compare windows that lie wholly after ``onset`` with the window just before it."""
    truth, predicted = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    if not window <= onset <= len(truth) - window:
        raise MalformedDataError(
            "drift_recovery", f"onset {onset} needs {window} flows before it and after it (stream of {len(truth)})"
        )
    before = score(truth[onset - window : onset], predicted[onset - window : onset], benign_label=benign_label)
    after = window_scores(truth[onset:], predicted[onset:], window=window, step=step, benign_label=benign_label)
    threshold = before.macro_f1 - tolerance
    recovered = next((onset + part.end for part in after if part.macro_f1 >= threshold), None)
    final = score(truth[-window:], predicted[-window:], benign_label=benign_label)
    return DriftRecovery(
        onset=onset,
        window=window,
        tolerance=tolerance,
        pre_drift_macro_f1=before.macro_f1,
        worst_macro_f1=min(part.macro_f1 for part in after),
        recovered_at=recovered,
        flows_to_recover=None if recovered is None else recovered - onset,
        final_macro_f1=final.macro_f1,
    )
