"""Tests of the synthetic traffic generator: reproducibility, realism, learnability, drift."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.ensemble import RandomForestClassifier

from arf_ids.core import generator as generator_module
from arf_ids.core.errors import InvalidFlowError, UnknownLabelError
from arf_ids.core.generator import (
    ALL_LABELS,
    BASE_LABELS,
    DEFAULT_CLASS_MIX,
    NOVEL_FAMILY,
    SCENARIOS,
    DriftScenario,
    TrafficGenerator,
)
from arf_ids.core.schema import CIC_IDS2017_FEATURES, FlowSchema

FEATURES = list(CIC_IDS2017_FEATURES)
INTEGER_FEATURES = [
    "Flow Duration",
    "Total Length of Fwd Packets",
    "Fwd Packet Length Max",
    "Bwd Packet Length Max",
    "Bwd Packet Length Min",
    "Flow IAT Min",
    "Fwd IAT Min",
    "Fwd Header Length",
    "Bwd Header Length",
    "Min Packet Length",
    "URG Flag Count",
    "Down/Up Ratio",
    "Init_Win_bytes_forward",
    "Init_Win_bytes_backward",
    "min_seg_size_forward",
]


@pytest.fixture(scope="module")
def base_sample() -> pd.DataFrame:
    return TrafficGenerator(seed=3).sample(20_000)


def test_module_docstring_examples_hold() -> None:
    result = doctest.testmod(generator_module)
    assert result.attempted > 0
    assert result.failed == 0


def test_same_seed_gives_identical_frames_and_other_seeds_differ() -> None:
    first = TrafficGenerator(seed=42).sample(1000)
    second = TrafficGenerator(seed=42).sample(1000)
    pd.testing.assert_frame_equal(first, second)
    other = TrafficGenerator(seed=43).sample(1000)
    assert not np.allclose(first[FEATURES].to_numpy(), other[FEATURES].to_numpy())


def test_same_seed_replays_streams_and_successive_calls_continue_the_stream() -> None:
    scenario = DriftScenario(name="attack_variant", onset_flow=300, drift_share=0.4)
    pd.testing.assert_frame_equal(
        TrafficGenerator(seed=5).stream(600, scenario), TrafficGenerator(seed=5).stream(600, scenario)
    )
    generator = TrafficGenerator(seed=5)
    first, second = generator.sample(500), generator.sample(500)
    assert not np.allclose(first[FEATURES].to_numpy(), second[FEATURES].to_numpy())


def test_columns_dtypes_and_values_are_finite(base_sample: pd.DataFrame) -> None:
    assert list(base_sample.columns) == [*FEATURES, "label"]
    assert all(base_sample[name].dtype == np.float64 for name in FEATURES)
    assert base_sample["label"].map(type).eq(str).all()
    assert np.isfinite(base_sample[FEATURES].to_numpy()).all()
    assert isinstance(base_sample.index, pd.RangeIndex)


def test_every_base_label_appears_and_benign_is_the_majority(base_sample: pd.DataFrame) -> None:
    shares = base_sample["label"].value_counts(normalize=True)
    assert set(shares.index) == set(BASE_LABELS)
    assert NOVEL_FAMILY not in shares.index
    # 20k draws: the binomial standard deviation of a share is below 0.0033.
    for label, expected in DEFAULT_CLASS_MIX.items():
        assert abs(shares[label] - expected) < 0.015, label


def test_integer_valued_features_are_integers_and_windows_can_be_unset(base_sample: pd.DataFrame) -> None:
    for name in INTEGER_FEATURES:
        values = base_sample[name].to_numpy()
        assert np.array_equal(values, np.round(values)), name
    assert (base_sample["Init_Win_bytes_forward"] == -1).any()
    assert (base_sample["Init_Win_bytes_backward"] == -1).any()
    assert set(base_sample["URG Flag Count"].unique()) == {0.0, 1.0}
    assert (base_sample["Flow Duration"] > 0).all()
    assert base_sample["Flow Duration"].max() <= 120_000_000


def test_features_are_derived_consistently(base_sample: pd.DataFrame) -> None:
    flows = base_sample
    fwd_packets = flows["Fwd Header Length"] / flows["min_seg_size_forward"]
    bwd_packets = flows["Bwd Header Length"] / flows["min_seg_size_forward"]
    assert np.array_equal(fwd_packets, np.round(fwd_packets))
    assert (fwd_packets >= 1).all()
    seconds = flows["Flow Duration"] / 1e6
    np.testing.assert_allclose(flows["Fwd Packets/s"], fwd_packets / seconds, rtol=1e-9)
    np.testing.assert_allclose(flows["Bwd Packets/s"], bwd_packets / seconds, rtol=1e-9)
    np.testing.assert_allclose(flows["Fwd Packet Length Mean"] * fwd_packets, flows["Total Length of Fwd Packets"])
    np.testing.assert_allclose(
        flows["Flow IAT Mean"] * (fwd_packets + bwd_packets - 1), flows["Flow Duration"], rtol=1e-9
    )
    np.testing.assert_array_equal(flows["Down/Up Ratio"], np.floor(bwd_packets / fwd_packets))
    assert (flows["Fwd Packet Length Max"] >= flows["Fwd Packet Length Mean"]).all()
    assert (flows["Fwd Packet Length Max"] <= flows["Total Length of Fwd Packets"]).all()
    assert (flows["Bwd Packet Length Min"] <= flows["Bwd Packet Length Max"]).all()
    assert (flows["Flow IAT Min"] <= flows["Flow IAT Mean"]).all()
    assert (flows["Min Packet Length"] <= flows["Fwd Packet Length Mean"]).all()


@pytest.mark.parametrize("feature", ["Flow Duration", "Total Length of Fwd Packets", "Flow IAT Mean"])
def test_feature_distributions_are_heavy_tailed(base_sample: pd.DataFrame, feature: str) -> None:
    values = base_sample[feature]
    assert values.max() / values.median() > 100
    assert values.skew() > 3


def test_schema_subset_is_emitted_in_schema_order() -> None:
    schema = FlowSchema(features=("Init_Win_bytes_forward", "Flow Duration"))
    flows = TrafficGenerator(seed=1, schema=schema).sample(50)
    assert list(flows.columns) == ["Init_Win_bytes_forward", "Flow Duration", "label"]


def test_a_feature_the_generator_cannot_produce_is_rejected() -> None:
    schema = FlowSchema(features=("Flow Duration", "Flow Bytes/s"))
    with pytest.raises(InvalidFlowError, match="Flow Bytes/s"):
        TrafficGenerator(schema=schema)


def test_class_mix_is_validated_and_respected() -> None:
    flows = TrafficGenerator(seed=2, class_mix={"BENIGN": 1, "PortScan": 1}).sample(2000)
    assert set(flows["label"]) == {"BENIGN", "PortScan"}
    with pytest.raises(UnknownLabelError, match="Infiltration"):
        TrafficGenerator(class_mix={"BENIGN": 0.9, NOVEL_FAMILY: 0.1})
    with pytest.raises(ValueError, match="DoS"):
        TrafficGenerator(class_mix={"BENIGN": 1.0, "DoS": -0.1})
    with pytest.raises(ValueError, match="positive weight"):
        TrafficGenerator(class_mix={"BENIGN": 0.0})


def test_bad_sizes_and_scenarios_are_rejected() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        TrafficGenerator().sample(-1)
    with pytest.raises(ValidationError):
        DriftScenario(name="attack_variant", onset_flow=10, drift_share=0.0)
    with pytest.raises(ValidationError):
        DriftScenario(name="unknown_drift", onset_flow=10)  # type: ignore[arg-type]
    assert TrafficGenerator().sample(0).shape == (0, len(FEATURES) + 1)


@pytest.mark.parametrize("name", SCENARIOS)
def test_drift_starts_exactly_at_onset(name: str) -> None:
    onset, n, share = 3000, 8000, 0.25
    stream = TrafficGenerator(seed=11).stream(n, DriftScenario(name=name, onset_flow=onset, drift_share=share))
    assert list(stream.columns) == [*FEATURES, "label", "drifted"]
    assert stream["drifted"].dtype == bool
    assert not stream["drifted"].iloc[:onset].any()
    after = stream["drifted"].iloc[onset:]
    if name == "none":
        assert not after.any()
    else:
        # 5000 post-onset draws: the binomial standard deviation of the share is about 0.006.
        assert abs(after.mean() - share) < 0.03
    novel_rows = stream.index[stream["label"] == NOVEL_FAMILY]
    if name == "novel_attack":
        assert len(novel_rows) > 0
        assert novel_rows.min() >= onset
        assert stream.loc[stream["drifted"], "label"].eq(NOVEL_FAMILY).all()
    else:
        assert len(novel_rows) == 0
    assert set(stream["label"]) <= set(ALL_LABELS)


def test_drifted_flows_carry_the_scenarios_labels() -> None:
    def drifted_labels(name: str) -> set[str]:
        stream = TrafficGenerator(seed=4).stream(4000, DriftScenario(name=name, onset_flow=1000, drift_share=0.5))
        return set(stream.loc[stream["drifted"], "label"])

    assert drifted_labels("attack_variant") == {"DoS", "PortScan"}
    assert drifted_labels("benign_shift") == {"BENIGN"}


def test_onset_beyond_the_stream_gives_no_drift() -> None:
    stream = TrafficGenerator(seed=4).stream(500, DriftScenario(name="novel_attack", onset_flow=10_000))
    assert not stream["drifted"].any()


@pytest.fixture(scope="module")
def base_forest() -> RandomForestClassifier:
    train = TrafficGenerator(seed=21).sample(10_000)
    return RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=2).fit(train[FEATURES], train["label"])


def test_base_traffic_is_learnable_but_not_trivial(base_forest: RandomForestClassifier) -> None:
    test = TrafficGenerator(seed=22).sample(10_000)
    accuracy = float((base_forest.predict(test[FEATURES]) == test["label"]).mean())
    assert accuracy >= 0.9
    assert accuracy < 1.0


def test_attack_variant_evades_a_model_trained_on_base_traffic(base_forest: RandomForestClassifier) -> None:
    stream = TrafficGenerator(seed=23).stream(6000, DriftScenario(name="attack_variant", onset_flow=0, drift_share=0.5))
    drifted = stream[stream["drifted"]]
    original = stream[~stream["drifted"] & stream["label"].isin(["DoS", "PortScan"])]
    variant_recall = float((base_forest.predict(drifted[FEATURES]) == drifted["label"]).mean())
    original_recall = float((base_forest.predict(original[FEATURES]) == original["label"]).mean())
    assert original_recall > 0.9
    assert variant_recall < 0.5
    assert (base_forest.predict(drifted[FEATURES]) == "BENIGN").mean() > 0.5


def test_benign_shift_raises_false_alarms(base_forest: RandomForestClassifier) -> None:
    stream = TrafficGenerator(seed=24).stream(12_000, DriftScenario(name="benign_shift", onset_flow=0, drift_share=0.3))
    benign = stream[stream["label"] == "BENIGN"]
    shifted, usual = benign[benign["drifted"]], benign[~benign["drifted"]]
    base_fpr = float((base_forest.predict(usual[FEATURES]) != "BENIGN").mean())
    shifted_fpr = float((base_forest.predict(shifted[FEATURES]) != "BENIGN").mean())
    assert shifted_fpr > base_fpr + 0.1
    assert shifted_fpr > 3 * base_fpr
