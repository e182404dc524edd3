"""The benchmark's model and flows, and the one place that chooses the product's prediction path.

Every section measures the same model on the same flows: an ARF with the platform's
default configuration (:class:`~arf_ids.core.model.ArfConfig`, 10 members) that learned
``train_flows`` generated base flows, and fresh generated flows (another seed) to score.
The baselines see exactly that model: river's loop asks its ``arf``, and scikit-learn's
forest learns the same rows with as many trees, as deep as the ARF's deepest member.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier

from arf_ids.core.generator import ALL_LABELS, TrafficGenerator
from arf_ids.core.lineage import LABEL
from arf_ids.core.model import ArfConfig, ModelBundle, Prediction, PredictionBatch
from arf_ids.core.schema import DEFAULT_SCHEMA, Flow

#: Generator seeds: the flows the model learns, and the flows every section scores.
TRAIN_SEED = 1
TEST_SEED = 2


class Predictor(Protocol):
    """What the benchmark asks of the product's prediction path."""

    def predict_one(self, flow: Flow) -> Prediction: ...

    def predict_matrix(self, X: np.ndarray) -> PredictionBatch: ...


@dataclass(frozen=True)
class BenchModel:
    """The trained bundle, what it learned, how long that took, and the flows to score."""

    bundle: ModelBundle
    train: pd.DataFrame
    learn_seconds: float
    test: np.ndarray

    @property
    def train_matrix(self) -> np.ndarray:
        return DEFAULT_SCHEMA.frame_matrix(self.train)

    def test_maps(self, n: int) -> list[dict[str, float]]:
        """The first ``n`` test flows as ``{feature: value}`` maps (what a client sends)."""
        return [dict(zip(DEFAULT_SCHEMA.features, row, strict=True)) for row in self.test[:n].tolist()]


def build_bench_model(*, train_flows: int, test_flows: int, config: ArfConfig | None = None) -> BenchModel:
    """Train the benchmark's ARF on ``train_flows`` generated flows (timed: the product's learning)."""
    train = TrafficGenerator(seed=TRAIN_SEED).sample(train_flows)
    test = DEFAULT_SCHEMA.frame_matrix(TrafficGenerator(seed=TEST_SEED).sample(test_flows))
    started = time.perf_counter()
    bundle = ModelBundle.train(
        DEFAULT_SCHEMA.frame_matrix(train), train[LABEL].tolist(), schema=DEFAULT_SCHEMA, classes=ALL_LABELS,
        config=config or ArfConfig(),
    )
    return BenchModel(bundle=bundle, train=train, learn_seconds=time.perf_counter() - started, test=test)


def product_predictor(bundle: ModelBundle) -> Predictor:
    """The product's prediction path for ``bundle``: its compiled form, as the service builds it at load time.

    The one place the benchmark chooses it; ``bundle`` itself is the river reference path.
    """
    return bundle.compile()


def member_depths(bundle: ModelBundle) -> list[int]:
    """The height of each ARF member (river's ``HoeffdingTree.height``)."""
    return [int(member.height) for member in bundle.arf]


def sklearn_forest(model: BenchModel) -> RandomForestClassifier:
    """scikit-learn's forest on the same rows: as many trees as ARF members, as deep as the deepest member.

    One thread (``n_jobs=None``), like the product's prediction.
    """
    forest = RandomForestClassifier(
        n_estimators=len(model.bundle.arf), max_depth=max(member_depths(model.bundle)), random_state=0
    )
    forest.fit(model.train_matrix, model.train[LABEL].to_numpy())
    return forest
