"""The retrain lineage as plain functions, one per step.

The Dagster assets call these steps one by one (``drift_samples`` → ``merged_dataset``
→ ``smote_dataset`` → ``candidate_model`` → gate), and ``arf-ids evaluate --protocol
recovery`` calls :func:`run_retrain_lineage`, which chains the very same steps, so
the offline evaluation measures the code that runs in production.

>>> from arf_ids.core.generator import TrafficGenerator
>>> base = split_base(TrafficGenerator(seed=1).sample(3_000), holdout_fraction=0.2, seed=1)
>>> len(base.train), len(base.holdout)
(2400, 600)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from arf_ids.core.evaluation import GateConfig, GateDecision, Scores, promotion_gate, score
from arf_ids.core.merge import MergeConfig, MergeResult, concept_balanced_merge
from arf_ids.core.model import ArfConfig, ModelBundle
from arf_ids.core.preprocess import PreparedData, prepare_training_data, stratified_split
from arf_ids.core.retrain import RetrainConfig, RetrainReport, incremental_retrain
from arf_ids.core.schema import FlowSchema

LABEL = "label"
SOURCE = "Source"


class LineageConfig(BaseModel):
    """Every knob of the retrain lineage, in one place."""

    model_config = ConfigDict(frozen=True)

    merge: MergeConfig = MergeConfig()
    retrain: RetrainConfig = RetrainConfig()
    gate: GateConfig = GateConfig()
    test_size: float = 0.2
    max_drift_samples: int = Field(
        default=3_000, gt=0, description="the first N labelled flows from the onset: the new concept, at a bounded cost"
    )
    seed: int = 42


@dataclass(frozen=True)
class BaseData:
    """The base data set, split into what models learn and what tests forgetting."""

    train: pd.DataFrame
    holdout: pd.DataFrame


@dataclass(frozen=True)
class CandidateEvaluation:
    """Candidate and production side by side on the drift and base hold-outs."""

    decision: GateDecision
    candidate_drift: Scores
    production_drift: Scores
    candidate_base: Scores
    production_base: Scores


@dataclass(frozen=True)
class LineageOutcome:
    """What one pass of the retrain lineage produced."""

    merged: MergeResult
    prepared: PreparedData
    candidate: ModelBundle
    retrain_report: RetrainReport
    evaluation: CandidateEvaluation
    seconds: float


def split_base(frame: pd.DataFrame, *, holdout_fraction: float, seed: int) -> BaseData:
    """Keep a stratified hold-out of the base data that no model ever learns."""
    train, holdout = stratified_split(frame, test_size=holdout_fraction, seed=seed)
    return BaseData(train=train.reset_index(drop=True), holdout=holdout.reset_index(drop=True))


def train_base_model(
    base_train: pd.DataFrame, *, schema: FlowSchema, classes: Sequence[str], config: ArfConfig
) -> ModelBundle:
    """The first production model: an ARF that learns the base training rows once, in order."""
    return ModelBundle.train(
        schema.frame_matrix(base_train), base_train[LABEL].tolist(), schema=schema, classes=classes, config=config
    )


def select_drift_samples(labelled: pd.DataFrame, *, since: datetime, schema: FlowSchema, limit: int) -> pd.DataFrame:
    """The first ``limit`` labelled flows predicted at or after the drift's onset: features and
    true label, in time order."""
    recent = labelled.loc[labelled["predicted_at"] >= pd.Timestamp(since)].sort_values(["predicted_at", "flow_id"])
    return recent.loc[:, [*schema.features, LABEL]].head(limit).reset_index(drop=True)


def merge_with_base(drift_samples: pd.DataFrame, base_train: pd.DataFrame, config: LineageConfig) -> MergeResult:
    """Concept-balanced merge: drift samples whole, base rows replayed per class."""
    return concept_balanced_merge(drift_samples, base_train, config.merge)


def prepare(merged: pd.DataFrame, *, schema: FlowSchema, config: LineageConfig) -> PreparedData:
    """Stratified split of the merged set, SMOTE on its training part only."""
    return prepare_training_data(
        merged, test_size=config.test_size, seed=config.seed, feature_columns=list(schema.features)
    )


def build_candidate(
    production: ModelBundle, train: pd.DataFrame, base_train: pd.DataFrame, config: LineageConfig
) -> tuple[ModelBundle, RetrainReport]:
    """Production's ARF plus new members (warm-started on base rows), taught the SMOTE set,
    pruned on recent drift rows."""
    schema = production.schema
    recent = train.loc[train[SOURCE] == "DRIFT"] if SOURCE in train else train
    if recent.empty:
        recent = train
    return incremental_retrain(
        production,
        schema.frame_matrix(train),
        train[LABEL].tolist(),
        schema.frame_matrix(recent),
        recent[LABEL].tolist(),
        config.retrain,
        X_old=schema.frame_matrix(base_train),
        y_old=base_train[LABEL].tolist(),
    )


def drift_holdout(test: pd.DataFrame) -> pd.DataFrame:
    """The test rows that came from the drift samples (all test rows if none did)."""
    drifted = test.loc[test[SOURCE] == "DRIFT"] if SOURCE in test else test
    return drifted if len(drifted) else test


def _scores(bundle: ModelBundle, frame: pd.DataFrame) -> Scores:
    """Scores over the hold-out's own classes: predicting a class the hold-out lacks (a novel
    family on old traffic) counts as an error for the true class, not as an extra zero-F1 class."""
    truth = frame[LABEL].to_numpy()
    predicted = bundle.predict_labels(bundle.schema.frame_matrix(frame))
    return score(truth, np.asarray(predicted), labels=sorted(set(truth.tolist())))


def evaluate_candidate(
    candidate: ModelBundle,
    production: ModelBundle,
    *,
    drift_test: pd.DataFrame,
    base_holdout: pd.DataFrame,
    config: LineageConfig,
) -> CandidateEvaluation:
    """Score both models on the drift hold-out and on the base hold-out; apply the gate."""
    candidate_drift, production_drift = _scores(candidate, drift_test), _scores(production, drift_test)
    candidate_base, production_base = _scores(candidate, base_holdout), _scores(production, base_holdout)
    decision = promotion_gate(
        candidate_drift=candidate_drift,
        production_drift=production_drift,
        candidate_base=candidate_base,
        production_base=production_base,
        config=config.gate,
    )
    return CandidateEvaluation(decision, candidate_drift, production_drift, candidate_base, production_base)


def run_retrain_lineage(
    production: ModelBundle, drift_samples: pd.DataFrame, base: BaseData, config: LineageConfig
) -> LineageOutcome:
    """Every step of the lineage in order, exactly as the Dagster assets run them."""
    started = time.perf_counter()
    merged = merge_with_base(drift_samples, base.train, config)
    prepared = prepare(merged.frame, schema=production.schema, config=config)
    candidate, report = build_candidate(production, prepared.train_resampled, base.train, config)
    evaluation = evaluate_candidate(
        candidate, production, drift_test=drift_holdout(prepared.test), base_holdout=base.holdout, config=config
    )
    return LineageOutcome(merged, prepared, candidate, report, evaluation, time.perf_counter() - started)
