"""Preprocessing for a retrain: a stratified train/test split, then SMOTE on the train part.

SMOTE must never see the test rows, or the test set holds near-copies of training
rows and the scores lie; ``prepare_training_data`` splits first and oversamples the
train part only, so use it rather than calling the two steps yourself.

* ``stratified_split``: every class keeps about ``test_size`` of its rows in the test
  part; a class with at least two rows puts at least one in each part; a class with a
  single row goes to train (it cannot be in both). Both parts keep the input's index.
* ``smote_oversample``: imbalanced-learn's ``SMOTE`` brings every class with at least
  two rows up to the largest class, with ``k_neighbors = min(5, smallest such class - 1)``.
  A class with a single row cannot be interpolated and is left as it is (copying one
  flow thousands of times would only teach that one flow). Original rows keep their
  ``Source`` (``"ORIGINAL"`` when the frame has none); synthetic rows get
  ``Source="SMOTE"``, their label, interpolated features and missing values in any
  other column. Synthetic features are interpolated, so integer-valued features
  (ports, flag counts) may come back fractional; the models read floats, so that is
  fine. The result has a fresh ``RangeIndex``: the original rows first, in order.

>>> import pandas as pd
>>> frame = pd.DataFrame({"x": [float(i) for i in range(12)], "label": ["BENIGN"] * 9 + ["DoS"] * 3})
>>> prepared = prepare_training_data(frame, feature_columns=["x"], test_size=0.25, seed=1)
>>> prepared.test["label"].value_counts().to_dict()
{'BENIGN': 2, 'DoS': 1}
>>> prepared.train_resampled.groupby(["label", "Source"]).size().to_dict()
{('BENIGN', 'ORIGINAL'): 7, ('DoS', 'ORIGINAL'): 2, ('DoS', 'SMOTE'): 5}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from pydantic import BaseModel, ConfigDict, Field

from arf_ids.core.errors import MalformedDataError
from arf_ids.core.merge import LABEL_COLUMN, SOURCE_COLUMN, require_labels
from arf_ids.core.schema import FlowSchema

ORIGINAL_SOURCE = "ORIGINAL"
SMOTE_SOURCE = "SMOTE"
MAX_SMOTE_NEIGHBOURS = 5


def stratified_split(
    frame: pd.DataFrame, *, test_size: float = 0.2, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, test)``, stratified on ``label``; seeded; single-row classes go to train."""
    if not 0.0 < test_size < 1.0:
        raise MalformedDataError("stratified_split", f"test_size must be between 0 and 1, got {test_size}")
    require_labels(frame, "split input")
    rng = np.random.default_rng(seed)
    labels = frame[LABEL_COLUMN].astype(str).to_numpy()
    test_positions: list[np.ndarray] = []
    for label in sorted(set(labels.tolist())):
        positions = rng.permutation(np.flatnonzero(labels == label))
        n = len(positions)
        n_test = 0 if n < 2 else min(max(round(n * test_size), 1), n - 1)
        test_positions.append(positions[:n_test])
    in_test = np.zeros(len(frame), dtype=bool)
    if test_positions:
        in_test[np.concatenate(test_positions)] = True
    return frame.iloc[np.flatnonzero(~in_test)], frame.iloc[np.flatnonzero(in_test)]


def smote_neighbours(class_counts: pd.Series) -> int | None:
    """The SMOTE ``k_neighbors`` for these class counts; ``None`` when there is nothing to SMOTE."""
    counts = class_counts[class_counts >= 2]
    if len(counts) < 2 or counts.min() == class_counts.max():
        return None
    return int(min(MAX_SMOTE_NEIGHBOURS, counts.min() - 1))


def smote_oversample(train: pd.DataFrame, *, feature_columns: Sequence[str], seed: int = 42) -> pd.DataFrame:
    """Oversample the TRAIN part with SMOTE (see the module docstring)."""
    require_labels(train, "SMOTE input")
    features = FlowSchema(features=tuple(feature_columns))
    matrix = features.frame_matrix(train)
    labels = train[LABEL_COLUMN].astype(str).to_numpy()
    original = train.reset_index(drop=True)
    if SOURCE_COLUMN not in original.columns:
        original = original.assign(**{SOURCE_COLUMN: ORIGINAL_SOURCE})
    counts = pd.Series(labels).value_counts()
    k_neighbours = smote_neighbours(counts)
    if k_neighbours is None:
        return original
    largest = int(counts.max())
    strategy = {label: largest for label, count in counts.items() if 2 <= count < largest}
    sampler = SMOTE(sampling_strategy=strategy, k_neighbors=k_neighbours, random_state=seed)
    resampled_matrix, resampled_labels = sampler.fit_resample(matrix, labels)
    synthetic = pd.DataFrame(resampled_matrix[len(train) :], columns=list(features.features))
    synthetic[LABEL_COLUMN] = resampled_labels[len(train) :]
    synthetic[SOURCE_COLUMN] = SMOTE_SOURCE
    return pd.concat([original, synthetic], ignore_index=True)[list(original.columns)]


class ClassPreparation(BaseModel):
    """One class through the split and SMOTE."""

    model_config = ConfigDict(frozen=True)

    label: str
    train_rows: int = Field(description="before SMOTE")
    synthetic_rows: int
    test_rows: int


class PreparationSummary(BaseModel):
    """What ``prepare_training_data`` did; ``model_dump(mode="json")`` gives JSON."""

    model_config = ConfigDict(frozen=True)

    test_size: float
    seed: int
    k_neighbours: int | None = Field(description="SMOTE k_neighbors; None when nothing was oversampled")
    classes: tuple[ClassPreparation, ...]
    not_oversampled: tuple[str, ...] = Field(description="single-row train classes SMOTE cannot interpolate")


@dataclass(frozen=True)
class PreparedData:
    """The SMOTE-balanced train part, the untouched test part, and what was done."""

    train_resampled: pd.DataFrame
    test: pd.DataFrame
    summary: PreparationSummary


def prepare_training_data(
    merged: pd.DataFrame, *, feature_columns: Sequence[str], test_size: float = 0.2, seed: int = 42
) -> PreparedData:
    """Split ``merged`` (stratified), then SMOTE the train part only."""
    train, test = stratified_split(merged, test_size=test_size, seed=seed)
    train_resampled = smote_oversample(train, feature_columns=feature_columns, seed=seed)
    train_counts = train[LABEL_COLUMN].astype(str).value_counts()
    test_counts = test[LABEL_COLUMN].astype(str).value_counts()
    synthetic = train_resampled.loc[train_resampled[SOURCE_COLUMN] == SMOTE_SOURCE, LABEL_COLUMN].value_counts()
    labels = sorted(set(train_counts.index) | set(test_counts.index))
    summary = PreparationSummary(
        test_size=test_size,
        seed=seed,
        k_neighbours=smote_neighbours(train_counts),
        classes=tuple(
            ClassPreparation(
                label=label,
                train_rows=int(train_counts.get(label, 0)),
                synthetic_rows=int(synthetic.get(label, 0)),
                test_rows=int(test_counts.get(label, 0)),
            )
            for label in labels
        ),
        not_oversampled=tuple(
            sorted(label for label, count in train_counts.items() if count == 1 and count < train_counts.max())
        ),
    )
    return PreparedData(train_resampled=train_resampled, test=test, summary=summary)
