"""Stratified split, then SMOTE on the train part only."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from arf_ids.core.errors import InvalidFlowError, MalformedDataError
from arf_ids.core.preprocess import prepare_training_data, smote_oversample, stratified_split

FEATURES = ["Flow Duration", "Fwd Packets/s"]


def labelled(counts: dict[str, int], *, seed: int = 0) -> pd.DataFrame:
    """Random 2-D points in general position, one cluster per class, a ``Source`` column."""
    rng = np.random.default_rng(seed)
    parts = [
        pd.DataFrame(rng.normal(loc=10.0 * i, scale=1.0, size=(count, 2)), columns=FEATURES).assign(label=label)
        for i, (label, count) in enumerate(counts.items())
    ]
    return pd.concat(parts, ignore_index=True).assign(Source="DRIFT")


def on_a_train_segment(point: np.ndarray, train: np.ndarray) -> bool:
    """Whether ``point`` lies on the segment between two rows of ``train`` (what SMOTE makes)."""
    for a, b in itertools.combinations(train, 2):
        direction = b - a
        t = float(np.dot(point - a, direction) / np.dot(direction, direction))
        if -1e-9 <= t <= 1 + 1e-9 and np.allclose(a + t * direction, point, atol=1e-7):
            return True
    return False


def test_the_split_is_stratified_disjoint_and_complete() -> None:
    frame = labelled({"BENIGN": 500, "DoS": 100, "Bot": 10})
    train, test = stratified_split(frame, test_size=0.2, seed=3)
    assert test["label"].value_counts().to_dict() == {"BENIGN": 100, "DoS": 20, "Bot": 2}
    assert set(train.index).isdisjoint(test.index)
    assert sorted(train.index.tolist() + test.index.tolist()) == list(range(len(frame)))


def test_single_row_classes_go_to_train_and_two_row_classes_are_split() -> None:
    frame = labelled({"BENIGN": 50, "Pair": 2, "Lonely": 1})
    train, test = stratified_split(frame, test_size=0.2, seed=0)
    assert (train["label"] == "Lonely").sum() == 1 and (test["label"] == "Lonely").sum() == 0
    assert (train["label"] == "Pair").sum() == 1 and (test["label"] == "Pair").sum() == 1


def test_the_split_is_seeded() -> None:
    frame = labelled({"BENIGN": 200, "DoS": 50})
    first, _ = stratified_split(frame, seed=5)
    again, _ = stratified_split(frame, seed=5)
    other, _ = stratified_split(frame, seed=6)
    assert first.index.tolist() == again.index.tolist()
    assert first.index.tolist() != other.index.tolist()


def test_smote_balances_the_train_part_and_marks_synthetic_rows() -> None:
    train = labelled({"BENIGN": 300, "DoS": 40, "Bot": 9})
    resampled = smote_oversample(train, feature_columns=FEATURES, seed=1)
    assert resampled["label"].value_counts().to_dict() == {"BENIGN": 300, "DoS": 300, "Bot": 300}
    originals = resampled[resampled["Source"] == "DRIFT"].reset_index(drop=True)
    pd.testing.assert_frame_equal(originals, train.reset_index(drop=True))
    assert (resampled["Source"] == "SMOTE").sum() == (300 - 40) + (300 - 9)


def test_smote_only_interpolates_train_rows_and_leaves_the_test_part_alone() -> None:
    merged = labelled({"BENIGN": 40, "DoS": 12, "Bot": 6}, seed=2)
    prepared = prepare_training_data(merged, feature_columns=FEATURES, test_size=0.25, seed=4)
    train, test = stratified_split(merged, test_size=0.25, seed=4)
    pd.testing.assert_frame_equal(prepared.test, test)
    test_points = {tuple(row) for row in test[FEATURES].to_numpy()}
    train_points = {tuple(row) for row in prepared.train_resampled[FEATURES].to_numpy()}
    assert test_points.isdisjoint(train_points)
    synthetic = prepared.train_resampled[prepared.train_resampled["Source"] == "SMOTE"]
    assert len(synthetic) > 0
    for label, rows in synthetic.groupby("label"):
        class_train = train.loc[train["label"] == label, FEATURES].to_numpy()
        assert all(on_a_train_segment(point, class_train) for point in rows[FEATURES].to_numpy())


def test_tiny_classes_work() -> None:
    merged = labelled({"BENIGN": 60, "Pair": 2, "Lonely": 1, "Trio": 3})
    prepared = prepare_training_data(merged, feature_columns=FEATURES, test_size=0.2, seed=0)
    counts = prepared.train_resampled["label"].value_counts().to_dict()
    benign_train = 60 - 12
    assert counts == {"BENIGN": benign_train, "Trio": benign_train, "Pair": 1, "Lonely": 1}
    assert prepared.summary.not_oversampled == ("Lonely", "Pair")
    assert prepared.summary.k_neighbours == 1  # Trio keeps two train rows


def test_smote_uses_at_most_five_neighbours() -> None:
    merged = labelled({"BENIGN": 400, "DoS": 100})
    prepared = prepare_training_data(merged, feature_columns=FEATURES, seed=0)
    assert prepared.summary.k_neighbours == 5
    summary = json.loads(json.dumps(prepared.summary.model_dump(mode="json")))
    dos = next(c for c in summary["classes"] if c["label"] == "DoS")
    assert (dos["train_rows"], dos["synthetic_rows"], dos["test_rows"]) == (80, 240, 20)


def test_smote_is_seeded() -> None:
    train = labelled({"BENIGN": 100, "DoS": 10})
    first = smote_oversample(train, feature_columns=FEATURES, seed=9)
    again = smote_oversample(train, feature_columns=FEATURES, seed=9)
    other = smote_oversample(train, feature_columns=FEATURES, seed=10)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first[FEATURES].to_numpy(), other[FEATURES].to_numpy())


def test_a_frame_without_source_gets_original_and_integer_features_may_turn_fractional() -> None:
    train = pd.DataFrame({"Flow Duration": [1, 2, 3, 4, 5, 6, 10, 20, 30], "label": ["BENIGN"] * 6 + ["DoS"] * 3})
    resampled = smote_oversample(train, feature_columns=["Flow Duration"], seed=0)
    assert resampled["Source"].value_counts().to_dict() == {"ORIGINAL": 9, "SMOTE": 3}
    synthetic = resampled.loc[resampled["Source"] == "SMOTE", "Flow Duration"]
    assert ((synthetic >= 10) & (synthetic <= 30)).all()


def test_bad_input_is_refused() -> None:
    frame = labelled({"BENIGN": 20, "DoS": 5})
    with pytest.raises(MalformedDataError, match="test_size must be between 0 and 1"):
        stratified_split(frame, test_size=1.5)
    with pytest.raises(MalformedDataError, match="has no label column"):
        stratified_split(frame.drop(columns="label"))
    with pytest.raises(InvalidFlowError, match="'Bwd Packets/s' is missing"):
        smote_oversample(frame, feature_columns=["Flow Duration", "Bwd Packets/s"])
    frame.loc[2, "Flow Duration"] = np.nan
    with pytest.raises(InvalidFlowError, match="flow 2: feature 'Flow Duration' is missing or not finite"):
        smote_oversample(frame, feature_columns=FEATURES)
