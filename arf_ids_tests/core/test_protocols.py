"""Tests of arf_ids.core.protocols: known answers of the prequential, holdout and recovery protocols."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arf_ids.core.errors import MalformedDataError
from arf_ids.core.evaluation import score
from arf_ids.core.lineage import BaseData, LineageConfig, split_base, train_base_model
from arf_ids.core.model import ArfConfig, ModelBundle
from arf_ids.core.protocols import (
    BundleLearner,
    RecoveryConfig,
    RecoveryResult,
    drift_recovery,
    holdout,
    prequential,
    run_recovery,
    window_scores,
)
from arf_ids.core.readers import read_flows
from arf_ids.core.retrain import RetrainConfig
from arf_ids.core.schema import FlowSchema

SCHEMA = FlowSchema(features=("size", "rate"))
CLASSES = ("BENIGN", "DoS", "PortScan")
SMALL_ARF = ArfConfig(n_models=3)


def flows(n: int, *, seed: int, drift_from: int | None = None, second_drift_from: int | None = None) -> pd.DataFrame:
    """Well separated classes: BENIGN near (-6, -6), DoS near (6, -6), PortScan near (-6, 6).

    From ``drift_from`` on, every other DoS flow moves to (-6, -2): next to BENIGN, where no base
    flow is; from ``second_drift_from`` on, every other PortScan flow moves to (-2, -6).
    """
    rng = np.random.default_rng(seed)
    labels = rng.choice(CLASSES, size=n, p=[0.6, 0.2, 0.2])
    centres = {"BENIGN": (-6.0, -6.0), "DoS": (6.0, -6.0), "PortScan": (-6.0, 6.0)}
    X = np.array([centres[label] for label in labels]) + rng.normal(scale=0.5, size=(n, 2))
    if drift_from is not None:
        moved = (np.arange(n) >= drift_from) & (labels == "DoS") & (rng.random(n) < 0.5)
        X[moved] = (-6.0, -2.0) + rng.normal(scale=0.5, size=(int(moved.sum()), 2))
    if second_drift_from is not None:
        moved = (np.arange(n) >= second_drift_from) & (labels == "PortScan") & (rng.random(n) < 0.5)
        X[moved] = (-2.0, -6.0) + rng.normal(scale=0.5, size=(int(moved.sum()), 2))
    frame = pd.DataFrame(X, columns=list(SCHEMA.features))
    frame["label"] = labels
    return frame


@pytest.fixture(scope="module")
def base() -> BaseData:
    return split_base(flows(1_500, seed=1), holdout_fraction=0.2, seed=1)


@pytest.fixture(scope="module")
def model(base: BaseData) -> ModelBundle:
    return train_base_model(base.train, schema=SCHEMA, classes=CLASSES, config=SMALL_ARF)


@pytest.fixture(scope="module")
def drifting() -> pd.DataFrame:
    return flows(5_000, seed=2, drift_from=1_000, second_drift_from=3_000)


@dataclass
class RecordingLearner(BundleLearner):
    """The product's learner, noting how many rows its model had learned at each prediction."""

    learned_at_prediction: list[int] = field(default_factory=list)
    learned_labels: list[str] = field(default_factory=list)

    def predict_one(self, x: np.ndarray) -> str:
        self.learned_at_prediction.append(self.bundle.trained_rows)
        return super().predict_one(x)

    def learn_one(self, x: np.ndarray, label: str) -> None:
        self.learned_labels.append(label)
        super().learn_one(x, label)


def fresh_model(base: BaseData) -> ModelBundle:
    return train_base_model(base.train, schema=SCHEMA, classes=CLASSES, config=SMALL_ARF)


def test_a_perfect_model_scores_one_in_prequential_and_holdout(base: BaseData) -> None:
    stream = flows(600, seed=3)
    X, y = SCHEMA.frame_matrix(stream), stream["label"].to_numpy()
    for predicted in (
        prequential(BundleLearner(fresh_model(base)), X, y, label_delay=50),
        holdout(BundleLearner(fresh_model(base)), X),
    ):
        overall = score(y, predicted)
        assert (overall.accuracy, overall.macro_f1, overall.kappa, overall.f1_attack) == (1.0, 1.0, 1.0, 1.0)
        windows = window_scores(y, predicted, window=250)
        assert [(w.start, w.end) for w in windows] == [(0, 250), (250, 500), (500, 600)]
        assert {w.macro_f1 for w in windows} == {1.0}


def test_a_perfect_model_in_the_recovery_loop_scores_one_and_never_retrains(model: ModelBundle, base: BaseData) -> None:
    stream = flows(1_500, seed=4)
    result = run_recovery(model, SCHEMA.frame_matrix(stream), stream["label"], base, RecoveryConfig(label_delay=100))
    assert score(stream["label"], result.predictions).macro_f1 == 1.0
    assert (result.drift_flows, result.retrains, len(result.models)) == ((), (), 1)
    assert set(result.versions.tolist()) == {0}


@pytest.mark.parametrize("delay", [0, 1, 37])
def test_prequential_labels_arriving_late_are_never_used_early(base: BaseData, delay: int) -> None:
    stream = flows(300, seed=5)
    X, y = SCHEMA.frame_matrix(stream), stream["label"].to_numpy()
    learner = RecordingLearner(fresh_model(base))
    trained_before = learner.bundle.trained_rows
    prequential(learner, X, y, label_delay=delay)
    # when flow i is predicted, exactly flows 0 .. i-delay-1 have been learned, in order
    expected = [trained_before + max(0, i - delay) for i in range(len(y))]
    assert learner.learned_at_prediction == expected
    assert learner.learned_labels == y[: len(y) - delay].tolist()


def test_prequential_with_a_delay_longer_than_the_stream_never_learns(base: BaseData) -> None:
    stream = flows(50, seed=6)
    learner = RecordingLearner(fresh_model(base))
    prequential(learner, SCHEMA.frame_matrix(stream), stream["label"], label_delay=50)
    assert learner.learned_labels == []


@pytest.fixture(scope="module")
def recovered(model: ModelBundle, drifting: pd.DataFrame, base: BaseData) -> RecoveryResult:
    config = RecoveryConfig(
        label_delay=150,
        min_drift_samples=300,
        lineage=LineageConfig(retrain=RetrainConfig(warm_start_rows=500)),
    )
    return run_recovery(model, SCHEMA.frame_matrix(drifting), drifting["label"], base, config)


def test_recovery_detects_the_drift_and_promotes_a_retrained_model(
    recovered: RecoveryResult, drifting: pd.DataFrame
) -> None:
    assert recovered.drift_flows and recovered.drift_flows[0] >= 1_000
    assert recovered.promotions >= 1
    truth = drifting["label"].to_numpy()
    last = recovered.retrains[-1].at_flow + 1
    before = score(
        truth[1_000 : recovered.retrains[0].at_flow], recovered.predictions[1_000 : recovered.retrains[0].at_flow]
    )
    after = score(truth[last:], recovered.predictions[last:])
    assert after.macro_f1 > before.macro_f1


def test_recovery_labels_arriving_late_are_never_used_early(recovered: RecoveryResult) -> None:
    for retrain in recovered.retrains:
        assert retrain.drift_flow <= retrain.at_flow - 150
        assert retrain.last_sample_flow <= retrain.at_flow - 150
        assert retrain.samples == retrain.last_sample_flow - retrain.first_sample_flow + 1


def test_a_promoted_model_takes_over_exactly_at_the_next_flow(
    recovered: RecoveryResult, drifting: pd.DataFrame
) -> None:
    X = SCHEMA.frame_matrix(drifting)
    changes = [0] + [r.at_flow + 1 for r in recovered.retrains if r.promoted] + [len(X)]
    for version, (start, end) in enumerate(zip(changes, changes[1:], strict=False)):
        assert set(recovered.versions[start:end].tolist()) == {version}
        expected = recovered.models[version].predict_labels(X[start:end])
        assert recovered.predictions[start:end].tolist() == expected.tolist()


def test_after_a_retrain_the_detector_watches_only_later_flows(recovered: RecoveryResult) -> None:
    assert len(recovered.retrains) >= 2 and recovered.retrains[-1].drift_flow >= 3_000  # the second drift
    for retrain in recovered.retrains:
        later = [flow for flow in recovered.drift_flows if flow > retrain.drift_flow]
        assert all(flow > retrain.at_flow for flow in later)


def test_a_model_never_retrained_predicts_the_whole_stream(
    model: ModelBundle, drifting: pd.DataFrame, base: BaseData
) -> None:
    X = SCHEMA.frame_matrix(drifting)
    config = RecoveryConfig(label_delay=150, min_drift_samples=300, retrain=False)
    result = run_recovery(model, X, drifting["label"], base, config)
    assert result.drift_flows and result.retrains == ()
    assert result.predictions.tolist() == model.predict_labels(X).tolist()


def test_drift_recovery_counts_the_flows_until_a_whole_window_is_back() -> None:
    truth = np.array(["BENIGN", "DoS"] * 3_000)
    predicted = truth.copy()
    predicted[2_000:3_500] = "BENIGN"  # every DoS flow missed for 1,500 flows from the onset
    result = drift_recovery(truth, predicted, onset=2_000, window=500, step=100)
    assert result.pre_drift_macro_f1 == 1.0
    assert result.flows_to_recover == 2_000  # the first clean window is 3,500 .. 4,000
    assert result.recovered_at == 4_000
    assert result.worst_macro_f1 < 0.5
    assert result.final_macro_f1 == 1.0


def test_drift_recovery_reports_never_when_the_stream_does_not_recover() -> None:
    truth = np.array(["BENIGN", "DoS"] * 1_000)
    predicted = truth.copy()
    predicted[1_000:] = "BENIGN"
    result = drift_recovery(truth, predicted, onset=1_000, window=200)
    assert (result.recovered_at, result.flows_to_recover) == (None, None)


def test_bad_streams_raise_typed_errors(base: BaseData) -> None:
    learner = BundleLearner(fresh_model(base))
    with pytest.raises(MalformedDataError, match="label delay"):
        prequential(learner, np.zeros((3, 2)), ["BENIGN"] * 3, label_delay=-1)
    with pytest.raises(MalformedDataError, match="n labels"):
        prequential(learner, np.zeros((4, 2)), ["BENIGN"] * 3)
    with pytest.raises(MalformedDataError, match="window"):
        window_scores(["BENIGN"], ["BENIGN"], window=0)
    with pytest.raises(MalformedDataError, match="onset"):
        drift_recovery(["BENIGN"] * 100, ["BENIGN"] * 100, onset=10, window=50)


def test_on_a_slice_of_cic_ids2017_the_product_beats_the_majority_class(shared_data: Path, tmp_path: Path) -> None:
    lines = (shared_data / "cic-ids2017" / "cic_0.01km.csv").read_text().splitlines()[:3_001]
    sample = tmp_path / "cic_slice.csv"
    sample.write_text("\n".join(lines) + "\n")
    flows_read = read_flows(sample, "cicflowmeter")
    train, stream = flows_read.frame.iloc[:300], flows_read.frame.iloc[300:]
    bundle = train_base_model(train, schema=flows_read.schema, classes=("BENIGN", "ATTACK"), config=ArfConfig())
    predicted = prequential(BundleLearner(bundle), bundle.schema.frame_matrix(stream), stream["label"], label_delay=0)
    majority = stream["label"].value_counts(normalize=True).max()
    assert score(stream["label"], predicted).accuracy > majority
