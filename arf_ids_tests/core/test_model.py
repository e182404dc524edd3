"""Tests of arf_ids.core.model: scaler, labels, confident vote, bundle training and artifacts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from river import drift, forest

from arf_ids.core.compiled import AGREEMENT
from arf_ids.core.errors import InvalidFlowError, MalformedDataError, ModelIntegrityError, UnknownLabelError
from arf_ids.core.model import (
    ArfConfig,
    FeatureScaler,
    LabelEncoder,
    ModelBundle,
    confident_vote,
)
from arf_ids.core.schema import DEFAULT_SCHEMA, FlowSchema

CLASSES = ("BENIGN", "DoS", "PortScan", "Worm")  # "Worm" never occurs in training data
CREATED_AT = datetime(2024, 5, 1, tzinfo=UTC)


def labelled_flows(
    n: int, *, seed: int, classes: tuple[str, ...] = CLASSES[:3], flip_y: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic flows: 19 heavy-tailed, partly negative features and string labels."""
    from sklearn.datasets import make_classification

    X, codes = make_classification(
        n_samples=n,
        n_features=len(DEFAULT_SCHEMA),
        n_informative=8,
        n_redundant=2,
        n_classes=len(classes),
        n_clusters_per_class=1,
        flip_y=flip_y,
        random_state=seed,
    )
    return np.sign(X) * np.expm1(np.abs(X) * 2.0), np.asarray(classes)[codes]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return labelled_flows(1800, seed=3)


@pytest.fixture(scope="module")
def bundle(data: tuple[np.ndarray, np.ndarray]) -> ModelBundle:
    X, y = data
    return ModelBundle.train(X[:1200], y[:1200], schema=DEFAULT_SCHEMA, classes=CLASSES, created_at=CREATED_AT)


def tree_distributions(bundle: ModelBundle, flow: np.ndarray) -> list[dict[str, float]]:
    """What each member tree says about one raw flow, keyed by class name."""
    x = bundle.river_row(bundle.scaler.transform(flow))
    return [{bundle.classes[code]: p for code, p in tree.predict_proba_one(x).items()} for tree in bundle.arf]


def hand_vote(dists: list[dict[str, float]], threshold: float, min_trees: int) -> tuple[dict[str, float], int]:
    """The confident-tree rule written out with plain Python."""
    normalised = []
    for dist in dists:
        total = sum(dist.values())
        if total > 0:
            normalised.append({label: p / total for label, p in dist.items()})
    confident = [d for d in normalised if -sum(p * math.log(p) for p in d.values() if p > 0) < threshold]
    chosen = confident if len(confident) >= min_trees else normalised
    summed = {label: sum(d.get(label, 0.0) for d in chosen) for label in CLASSES}
    total = sum(summed.values())
    return {label: v / total for label, v in summed.items()}, len(chosen)


# ------------------------------------------------------------------------ config


def test_arf_config_builds_a_seeded_river_forest_with_its_settings() -> None:
    config = ArfConfig(n_models=4, grace_period=30, drift_delta=0.002, warning_delta=0.02, seed=7)
    arf = config.build_forest()
    assert isinstance(arf, forest.ARFClassifier)
    assert (arf.n_models, arf.grace_period, arf.seed, arf.leaf_prediction) == (4, 30, 7, "nba")
    assert isinstance(arf.drift_detector, drift.ADWIN) and arf.drift_detector.delta == 0.002
    assert isinstance(arf.warning_detector, drift.ADWIN) and arf.warning_detector.delta == 0.02
    with pytest.raises(ValueError):
        ArfConfig(n_models=0)
    with pytest.raises(ValueError):
        config.seed = 2  # type: ignore[misc]  # frozen


# ------------------------------------------------------------------------ scaler


def test_scaler_is_signed_log1p_then_standardised_with_constant_columns_left_unscaled() -> None:
    X = np.array([[-100.0, 3.0, 0.0], [0.0, 3.0, 10.0], [1e6, 3.0, 20.0]])
    scaler = FeatureScaler.fit(X)
    logged = np.sign(X) * np.log1p(np.abs(X))
    expected = (logged - logged.mean(axis=0)) / np.array([logged[:, 0].std(), 1.0, logged[:, 2].std()])
    assert np.allclose(scaler.transform(X), expected)
    assert np.allclose(scaler.transform(X[1]), expected[1])
    assert scaler.stds[1] == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        scaler.means = (0.0, 0.0, 0.0)  # type: ignore[misc]
    with pytest.raises(MalformedDataError):
        scaler.transform(np.zeros((2, 4)))
    with pytest.raises(InvalidFlowError) as info:
        FeatureScaler.fit(np.array([[1.0, 2.0, 3.0], [1.0, np.inf, 3.0]]))
    assert info.value.index == 1 and info.value.feature == "column 1"


def test_learning_more_never_refits_the_scaler(bundle: ModelBundle, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    copy = ModelBundle.from_bytes(bundle.to_bytes())
    copy.learn(X[1200:1500] * 50.0, y[1200:1500])
    assert copy.scaler == bundle.scaler
    assert copy.trained_rows == bundle.trained_rows + 300


# ------------------------------------------------------------------------ labels


def test_label_encoder_round_trips_and_rejects_unknown_labels_and_codes() -> None:
    labels = LabelEncoder(classes=CLASSES)
    codes = labels.encode(["PortScan", "BENIGN", "Worm"])
    assert codes.tolist() == [2, 0, 3]
    assert labels.decode(codes).tolist() == ["PortScan", "BENIGN", "Worm"]
    with pytest.raises(UnknownLabelError) as info:
        labels.encode(["BENIGN", "Botnet"])
    assert info.value.label == "Botnet" and info.value.known == CLASSES
    with pytest.raises(UnknownLabelError):
        labels.encode([0])
    with pytest.raises(UnknownLabelError):
        labels.decode([4])
    with pytest.raises(ValueError):
        LabelEncoder(classes=("BENIGN", "BENIGN"))


# --------------------------------------------------------------- confident vote


def test_confident_rule_matches_a_hand_computation_on_the_trained_forest(
    bundle: ModelBundle, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = data
    config = bundle.config
    confident_cases = fallback_cases = 0
    for flow in X[1500:1650]:
        dists = tree_distributions(bundle, flow)
        expected, expected_used = hand_vote(dists, config.confident_entropy_nats, config.min_confident_trees)
        n_confident = sum(
            1
            for d in dists
            if sum(d.values()) > 0
            and -sum(p * math.log(p) for p in d.values() if p > 0) < config.confident_entropy_nats
        )
        if n_confident >= config.min_confident_trees:
            confident_cases += 1
            assert expected_used == n_confident
        else:
            fallback_cases += 1
            assert expected_used == sum(1 for d in dists if sum(d.values()) > 0)
        prediction = bundle.predict_one(flow)
        assert prediction.trees_used == expected_used
        assert prediction.probabilities == pytest.approx(expected, abs=1e-12)
        best = max(CLASSES, key=lambda label: (expected[label], -CLASSES.index(label)))
        assert prediction.label == best
        assert prediction.confidence == pytest.approx(expected[best], abs=1e-12)
    # both branches of the rule were exercised on real trees
    assert confident_cases > 0 and fallback_cases > 0


def test_fewer_confident_trees_than_required_falls_back_to_every_tree_that_votes(
    bundle: ModelBundle, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = data
    strict = ModelBundle.from_bytes(bundle.to_bytes())
    strict.config = bundle.config.model_copy(update={"min_confident_trees": len(bundle.arf) + 1})
    for flow in X[1500:1530]:
        dists = tree_distributions(bundle, flow)
        voting = [d for d in dists if sum(d.values()) > 0]
        summed = {label: sum(d.get(label, 0.0) / sum(d.values()) for d in voting) for label in CLASSES}
        prediction = strict.predict_one(flow)
        assert prediction.trees_used == len(voting) == len(bundle.arf)
        assert prediction.probabilities == pytest.approx({k: v / len(voting) for k, v in summed.items()}, abs=1e-12)


def test_confident_vote_ignores_trees_that_predict_nothing_and_handles_no_votes() -> None:
    dists = np.array([[0.0, 0.0], [2.0, 0.0], [0.9, 0.1]])  # the unnormalised row counts once, normalised
    probs, used = confident_vote(dists, entropy_threshold=0.25, min_confident_trees=3)
    assert used == 2
    assert probs.tolist() == pytest.approx([0.95, 0.05])
    probs, used = confident_vote(np.zeros((3, 2)), entropy_threshold=0.25, min_confident_trees=3)
    assert used == 0 and probs.tolist() == [0.0, 0.0]


def test_never_seen_classes_get_zero_probability(bundle: ModelBundle, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    batch = bundle.predict_matrix(X[1500:1600])
    assert batch.classes == CLASSES
    assert np.all(batch.probabilities[:, CLASSES.index("Worm")] == 0.0)
    assert np.allclose(batch.probabilities.sum(axis=1), 1.0)


# ---------------------------------------------------------------- predictions


def test_predict_matrix_equals_a_loop_of_predict_one(bundle: ModelBundle, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    flows = X[1500:1600]
    batch = bundle.predict_matrix(flows)
    singles = [bundle.predict_one(dict(zip(DEFAULT_SCHEMA.features, flow, strict=True))) for flow in flows]
    assert len(batch) == len(flows)
    assert batch.labels.tolist() == [p.label for p in singles]
    assert batch.trees_used.tolist() == [p.trees_used for p in singles]
    # the batch is compiled (arf_ids.core.compiled), predict_one asks river: equal within AGREEMENT
    np.testing.assert_allclose(batch.confidences, [p.confidence for p in singles], rtol=0, atol=AGREEMENT)
    np.testing.assert_allclose(
        batch.probabilities, [list(p.probabilities.values()) for p in singles], rtol=0, atol=AGREEMENT
    )
    assert bundle.predict_labels(flows).tolist() == batch.labels.tolist()
    assert len(bundle.predict_matrix(np.empty((0, len(DEFAULT_SCHEMA))))) == 0


def test_the_trained_model_beats_the_majority_class(bundle: ModelBundle, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    majority = pd.Series(y[:1200]).value_counts().index[0]
    accuracy = float((bundle.predict_labels(X[1200:]) == y[1200:]).mean())
    assert accuracy > float((y[1200:] == majority).mean()) + 0.2


def test_bad_flows_raise_invalid_flow_error_naming_the_feature(bundle: ModelBundle) -> None:
    flow = dict.fromkeys(DEFAULT_SCHEMA.features, 1.0)
    missing = {k: v for k, v in flow.items() if k != "Flow IAT Min"}
    with pytest.raises(InvalidFlowError) as info:
        bundle.predict_one(missing)
    assert info.value.feature == "Flow IAT Min"
    with pytest.raises(InvalidFlowError) as info:
        bundle.predict_one({**flow, "Flow Bytes/s": 3.0})
    assert info.value.feature == "Flow Bytes/s"
    with pytest.raises(InvalidFlowError) as info:
        bundle.predict_one({**flow, "Bwd Packets/s": float("nan")})
    assert info.value.feature == "Bwd Packets/s"
    matrix = np.ones((3, len(DEFAULT_SCHEMA)))
    matrix[2, 4] = np.nan
    with pytest.raises(InvalidFlowError) as info:
        bundle.predict_matrix(matrix)
    assert (info.value.feature, info.value.index) == (DEFAULT_SCHEMA.features[4], 2)
    with pytest.raises(InvalidFlowError):
        bundle.predict_matrix(np.ones((3, 5)))


def test_learn_with_an_unknown_label_raises_and_leaves_the_model_untouched(
    bundle: ModelBundle, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    copy = ModelBundle.from_bytes(bundle.to_bytes())
    assert copy.to_bytes() == bundle.to_bytes()  # a round trip re-serialises to the same bytes
    labels = y[1200:1300].copy()
    labels[50] = "Botnet"
    with pytest.raises(UnknownLabelError) as info:
        copy.learn(X[1200:1300], labels)
    assert info.value.label == "Botnet"
    with pytest.raises(MalformedDataError):
        copy.learn(X[1200:1300], y[1200:1299])
    assert copy.to_bytes() == bundle.to_bytes()


def test_training_needs_rows_and_known_labels() -> None:
    X, y = labelled_flows(50, seed=1)
    with pytest.raises(MalformedDataError):
        ModelBundle.train(X[:0], y[:0], schema=DEFAULT_SCHEMA, classes=CLASSES)
    with pytest.raises(UnknownLabelError):
        ModelBundle.train(X, y, schema=DEFAULT_SCHEMA, classes=("BENIGN", "DoS"))


# ------------------------------------------------------------ reproducibility


def test_same_data_and_seed_give_byte_identical_artifacts_and_another_seed_does_not(
    bundle: ModelBundle, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    again = ModelBundle.train(X[:1200], y[:1200], schema=DEFAULT_SCHEMA, classes=CLASSES, created_at=CREATED_AT)
    assert again.to_bytes() == bundle.to_bytes()
    other = ModelBundle.train(
        X[:1200], y[:1200], schema=DEFAULT_SCHEMA, classes=CLASSES, config=ArfConfig(seed=43), created_at=CREATED_AT
    )
    assert other.to_bytes() != bundle.to_bytes()
    held_out = X[1500:]
    other_probabilities = other.predict_matrix(held_out).probabilities
    assert not np.array_equal(other_probabilities, bundle.predict_matrix(held_out).probabilities)


# -------------------------------------------------------------- serialisation


def test_save_and_load_round_trip_gives_identical_predictions(
    bundle: ModelBundle, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    X, _ = data
    bundle = ModelBundle.from_bytes(bundle.to_bytes())
    bundle.info["training_data"] = "synthetic"
    path = tmp_path / "models" / "model.arfb"
    sha = bundle.save(path)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded = ModelBundle.load(path, expected_sha256=sha)
    expected = bundle.predict_matrix(X[1500:])
    actual = loaded.predict_matrix(X[1500:])
    assert np.array_equal(actual.probabilities, expected.probabilities)
    assert np.array_equal(actual.trees_used, expected.trees_used)
    assert (loaded.schema, loaded.classes, loaded.config, loaded.scaler) == (
        bundle.schema,
        bundle.classes,
        bundle.config,
        bundle.scaler,
    )
    assert (loaded.trained_rows, loaded.created_at, loaded.info, loaded.seed) == (1200, CREATED_AT, bundle.info, 42)
    assert loaded.to_bytes() == path.read_bytes()


def test_tampered_or_foreign_bytes_raise_model_integrity_error(bundle: ModelBundle) -> None:
    data = bundle.to_bytes()
    header, payload = data.split(b"\n", 1)
    flipped = bytearray(data)
    flipped[len(header) + 1 + len(payload) // 2] ^= 0x01
    with pytest.raises(ModelIntegrityError, match="payload"):
        ModelBundle.from_bytes(bytes(flipped))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        ModelBundle.from_bytes(data, expected_sha256=hashlib.sha256(b"another model").hexdigest())
    with pytest.raises(ModelIntegrityError):
        ModelBundle.from_bytes(data[: len(data) // 2])
    with pytest.raises(ModelIntegrityError, match="header"):
        ModelBundle.from_bytes(b"\x80\x05not a bundle at all")

    def with_header(**changes: object) -> bytes:
        return json.dumps({**json.loads(header), **changes}).encode() + b"\n" + payload

    with pytest.raises(ModelIntegrityError, match="format version"):
        ModelBundle.from_bytes(with_header(format_version=999))
    with pytest.raises(ModelIntegrityError, match="river"):
        ModelBundle.from_bytes(with_header(river_version="0.1.0"))
    garbage = b"not a pickle"
    with pytest.raises(ModelIntegrityError, match="cannot be decoded"):
        ModelBundle.from_bytes(
            json.dumps({**json.loads(header), "payload_sha256": hashlib.sha256(garbage).hexdigest()}).encode()
            + b"\n"
            + garbage
        )


# ------------------------------------------------------------------ real data


def test_on_real_cic_ids2017_flows_the_model_beats_the_majority_class(shared_data: Path) -> None:
    frame = pd.read_csv(shared_data / "cic-ids2017" / "cic_0.01km.csv", nrows=6000)
    X = DEFAULT_SCHEMA.frame_matrix(frame)
    y = np.where(frame["Labelb"].to_numpy() == 1, "ATTACK", "BENIGN")
    bundle = ModelBundle.train(X[:3000], y[:3000], schema=DEFAULT_SCHEMA, classes=("BENIGN", "ATTACK"))
    # test-then-train over the next rows, as the platform runs in production
    correct = 0
    for i in range(3000, 4500):
        correct += bundle.predict_one(frame.loc[i, list(DEFAULT_SCHEMA.features)].to_dict()).label == y[i]
        bundle.learn(X[i : i + 1], y[i : i + 1])
    majority_share = max(np.mean(y[3000:4500] == "BENIGN"), np.mean(y[3000:4500] == "ATTACK"))
    assert correct / 1500 > majority_share


def test_a_custom_schema_is_kept_in_feature_order() -> None:
    schema = FlowSchema(features=("b", "a"))
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 2))
    y = np.where(X[:, 1] > 0, "ATTACK", "BENIGN")  # column "a" decides
    bundle = ModelBundle.train(X, y, schema=schema, classes=("BENIGN", "ATTACK"), config=ArfConfig(n_models=3))
    assert bundle.predict_one({"a": 3.0, "b": -3.0}).label == "ATTACK"
    assert bundle.predict_one([3.0, -3.0]).label == "BENIGN"
