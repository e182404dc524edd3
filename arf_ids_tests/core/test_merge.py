"""Concept-balanced merge: the old binary rule, its multi-class generalisation, edge cases."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from arf_ids.core.errors import ClassCannotBeFilledError, MalformedDataError
from arf_ids.core.merge import MergeConfig, concept_balanced_merge


def flows(counts: dict[str, int], *, first_id: int) -> pd.DataFrame:
    """Rows with a unique ``flow_id`` feature (to trace them), a second feature and a label."""
    labels = [label for label, count in counts.items() for _ in range(count)]
    ids = range(first_id, first_id + len(labels))
    return pd.DataFrame({"flow_id": [float(i) for i in ids], "Flow Duration": [i * 0.5 for i in ids], "label": labels})


def totals(frame: pd.DataFrame) -> dict[str, int]:
    return frame["label"].value_counts().to_dict()


def by_source(frame: pd.DataFrame) -> dict[tuple[str, str], int]:
    return frame.groupby(["label", "Source"]).size().to_dict()


@pytest.mark.parametrize(("drift_attack", "drift_benign"), [(30, 40), (10, 50), (25, 0)])
def test_the_binary_rule_reproduces_the_old_numbers(drift_attack: int, drift_benign: int) -> None:
    drift = flows({"BENIGN": drift_benign, "ATTACK": drift_attack}, first_id=0)
    base = flows({"BENIGN": 200, "ATTACK": 150}, first_id=10_000)
    result = concept_balanced_merge(drift, base)
    # the old system: replay D_attack base attacks and max(0, 2 D_attack - D_benign) base benign rows
    expected_benign_replay = max(0, 2 * drift_attack - drift_benign)
    counts = by_source(result.frame)
    assert counts[("ATTACK", "BASE")] == drift_attack
    assert counts.get(("BENIGN", "BASE"), 0) == expected_benign_replay
    assert counts[("ATTACK", "DRIFT")] == drift_attack
    assert counts.get(("BENIGN", "DRIFT"), 0) == drift_benign
    assert result.summary.target_per_class == 2 * drift_attack


def test_every_class_totals_t_and_old_attacks_absent_from_drift_are_replayed() -> None:
    drift = flows({"BENIGN": 30, "DoS": 20, "PortScan": 5}, first_id=0)
    base = flows({"BENIGN": 200, "DoS": 100, "PortScan": 100, "Bot": 60, "WebAttack": 70}, first_id=10_000)
    result = concept_balanced_merge(drift, base)
    target = 2 * 20
    assert result.summary.target_per_class == target
    assert totals(result.frame) == dict.fromkeys(["BENIGN", "DoS", "PortScan", "Bot", "WebAttack"], target)
    assert by_source(result.frame)[("Bot", "BASE")] == target
    assert by_source(result.frame)[("WebAttack", "BASE")] == target
    assert result.summary.resampled_classes == () and result.summary.novel_classes == ()


def test_drift_rows_are_kept_whole_and_replayed_rows_come_from_base_without_repeats() -> None:
    drift = flows({"BENIGN": 60, "DoS": 20}, first_id=0)
    base = flows({"BENIGN": 200, "DoS": 100, "Bot": 60}, first_id=10_000)
    frame = concept_balanced_merge(drift, base).frame
    drift_part = frame[frame["Source"] == "DRIFT"]
    base_part = frame[frame["Source"] == "BASE"]
    assert sorted(drift_part["flow_id"]) == sorted(drift["flow_id"])  # all 60 benign kept, though T is 40
    assert base_part["flow_id"].is_unique
    replayed = base_part.merge(base, on=["flow_id", "Flow Duration", "label"], how="left", indicator=True)
    assert (replayed["_merge"] == "both").all()
    assert list(frame.columns) == ["flow_id", "Flow Duration", "label", "Source"]


def test_a_short_class_raises_in_error_mode() -> None:
    drift = flows({"BENIGN": 10, "DoS": 20}, first_id=0)
    base = flows({"BENIGN": 200, "DoS": 100, "Bot": 7}, first_id=10_000)
    with pytest.raises(ClassCannotBeFilledError) as caught:
        concept_balanced_merge(drift, base, MergeConfig(on_short_class="error"))
    assert (caught.value.label, caught.value.needed, caught.value.available) == ("Bot", 40, 7)


def test_a_short_class_is_resampled_using_every_base_row() -> None:
    drift = flows({"BENIGN": 10, "DoS": 20}, first_id=0)
    base = flows({"BENIGN": 200, "DoS": 100, "Bot": 7}, first_id=10_000)
    result = concept_balanced_merge(drift, base, MergeConfig(on_short_class="resample"))
    bots = result.frame[result.frame["label"] == "Bot"]
    assert len(bots) == 40
    assert set(bots["flow_id"]) == set(base.loc[base["label"] == "Bot", "flow_id"])
    assert result.summary.resampled_classes == ("Bot",)
    bot = next(c for c in result.summary.classes if c.label == "Bot")
    assert (bot.base_rows, bot.base_available, bot.resampled) == (40, 7, True)


def test_a_novel_class_is_kept_as_its_drift_rows_and_reported() -> None:
    drift = flows({"BENIGN": 10, "DoS": 20, "Infiltration": 8}, first_id=0)
    base = flows({"BENIGN": 200, "DoS": 100}, first_id=10_000)
    result = concept_balanced_merge(drift, base, MergeConfig(on_short_class="error"))
    assert result.summary.novel_classes == ("Infiltration",)
    assert by_source(result.frame)[("Infiltration", "DRIFT")] == 8
    assert totals(result.frame)["Infiltration"] == 8
    assert "Infiltration" in result.summary.note


def test_a_drift_set_without_attacks_replays_nothing() -> None:
    drift = flows({"BENIGN": 50}, first_id=0)
    base = flows({"BENIGN": 200, "DoS": 100}, first_id=10_000)
    result = concept_balanced_merge(drift, base)
    assert not result.summary.replayed and result.summary.target_per_class == 0
    assert "nothing was replayed" in result.summary.note
    assert sorted(result.frame["flow_id"]) == sorted(drift["flow_id"])


def test_max_rows_per_class_caps_the_target() -> None:
    drift = flows({"BENIGN": 10, "DoS": 50}, first_id=0)
    base = flows({"BENIGN": 200, "DoS": 100, "Bot": 60}, first_id=10_000)
    result = concept_balanced_merge(drift, base, MergeConfig(max_rows_per_class=30))
    assert result.summary.target_per_class == 30
    assert totals(result.frame) == {"DoS": 50, "BENIGN": 30, "Bot": 30}


def test_the_replay_factor_sets_the_target() -> None:
    drift = flows({"BENIGN": 10, "DoS": 20}, first_id=0)
    base = flows({"BENIGN": 200, "DoS": 100}, first_id=10_000)
    result = concept_balanced_merge(drift, base, MergeConfig(replay_factor=3))
    assert totals(result.frame) == {"BENIGN": 60, "DoS": 60}


def test_the_merge_is_seeded() -> None:
    drift = flows({"BENIGN": 10, "DoS": 20, "PortScan": 15}, first_id=0)
    base = flows({"BENIGN": 300, "DoS": 100, "PortScan": 100, "Bot": 90}, first_id=10_000)
    first = concept_balanced_merge(drift, base, MergeConfig(seed=7)).frame
    again = concept_balanced_merge(drift, base, MergeConfig(seed=7)).frame
    other = concept_balanced_merge(drift, base, MergeConfig(seed=8)).frame
    pd.testing.assert_frame_equal(first, again)
    assert set(first["flow_id"]) != set(other["flow_id"])


def test_mismatched_columns_are_refused() -> None:
    drift = flows({"BENIGN": 10, "DoS": 20}, first_id=0)
    base = flows({"BENIGN": 200, "DoS": 100}, first_id=10_000).rename(columns={"Flow Duration": "duration"})
    with pytest.raises(MalformedDataError, match="only in drift \\['Flow Duration'\\], only in base \\['duration'\\]"):
        concept_balanced_merge(drift, base)


def test_missing_labels_are_refused() -> None:
    drift = flows({"BENIGN": 10, "DoS": 20}, first_id=0)
    base = flows({"BENIGN": 200, "DoS": 100}, first_id=10_000).drop(columns="label")
    with pytest.raises(MalformedDataError, match="base data: column 'label': has no label column"):
        concept_balanced_merge(drift, base)
    drift.loc[3, "label"] = None
    with pytest.raises(MalformedDataError, match="1 rows have no label"):
        concept_balanced_merge(drift, flows({"BENIGN": 5}, first_id=10_000))


def test_the_summary_is_json_serialisable() -> None:
    drift = flows({"BENIGN": 10, "DoS": 20}, first_id=0)
    base = flows({"BENIGN": 200, "DoS": 100, "Bot": 5}, first_id=10_000)
    summary = json.loads(json.dumps(concept_balanced_merge(drift, base).summary.model_dump(mode="json")))
    assert summary["resampled_classes"] == ["Bot"]
    assert {c["label"]: c["drift_rows"] + c["base_rows"] for c in summary["classes"]} == dict.fromkeys(
        ["BENIGN", "Bot", "DoS"], 40
    )
