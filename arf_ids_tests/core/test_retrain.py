"""Tests of arf_ids.core.retrain: member surgery on a real river ARF, learning, pruning."""

from __future__ import annotations

import collections
import copy
import random
from datetime import UTC, datetime

import numpy as np
import pytest
from river.forest.adaptive_random_forest import BaseTreeClassifier

from arf_ids.core.errors import MalformedDataError, ModelIntegrityError
from arf_ids.core.model import ArfConfig, ModelBundle
from arf_ids.core.retrain import (
    RetrainConfig,
    RetrainReport,
    add_members,
    check_member_layout,
    incremental_retrain,
    keep_members,
    member_accuracies,
)
from arf_ids.core.schema import DEFAULT_SCHEMA
from arf_ids_tests.core.test_model import labelled_flows

CLASSES = ("BENIGN", "ATTACK")
CREATED_AT = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return labelled_flows(3000, seed=11, classes=CLASSES)


@pytest.fixture(scope="module")
def production(data: tuple[np.ndarray, np.ndarray]) -> ModelBundle:
    X, y = data
    return ModelBundle.train(X[:1200], y[:1200], schema=DEFAULT_SCHEMA, classes=CLASSES, created_at=CREATED_AT)


def retrain(
    production: ModelBundle, data: tuple[np.ndarray, np.ndarray], config: RetrainConfig
) -> tuple[ModelBundle, RetrainReport]:
    X, y = data
    return incremental_retrain(
        production, X[1200:1700], y[1200:1700], X[2000:2400], y[2000:2400], config, created_at=CREATED_AT
    )


def leaf_feature_subsets(tree: BaseTreeClassifier) -> list[tuple[str, ...]]:
    return [tuple(leaf.feature_indices) for leaf in tree._find_leaves()]


def test_add_ratio_grows_the_ensemble_and_max_members_caps_it(
    production: ModelBundle, data: tuple[np.ndarray, np.ndarray]
) -> None:
    grown, report = retrain(production, data, RetrainConfig(add_ratio=0.4, max_members=20))
    assert (report.members_before, report.members_added, report.members_after) == (10, 4, 14)
    assert len(grown.arf) == grown.arf.n_models == 14 and report.dropped == ()
    assert report.rows_learned == 500 and grown.trained_rows == production.trained_rows + 500
    check_member_layout(grown.arf)

    capped, report = retrain(production, data, RetrainConfig(add_ratio=0.4, max_members=12))
    assert (report.members_added, report.members_after, len(capped.arf), capped.arf.n_models) == (4, 12, 12, 12)
    assert len(report.dropped) == 2
    assert capped.info == {"members_added": 4, "members_dropped": 2, "retrain_seed": 42}
    check_member_layout(capped.arf)


def test_new_members_are_set_up_as_river_sets_up_a_member(production: ModelBundle) -> None:
    arf = copy.deepcopy(production.arf)
    per_member_lists = ("data", "_metrics", "_warning_detectors", "_drift_detectors")
    old_objects = {name: list(getattr(arf, name)) for name in per_member_lists}
    add_members(arf, [101, 102, 103, 104])
    check_member_layout(arf)
    assert len(arf) == arf.n_models == 14
    for name, old in old_objects.items():
        members = getattr(arf, name)
        assert members[:10] == old and all(a is b for a, b in zip(members, old, strict=False))
        assert len({id(o) for o in members}) == 14  # every member has its own object
    for i, seed in zip(range(10, 14), [101, 102, 103, 104], strict=True):
        member = arf.data[i]
        assert type(member) is BaseTreeClassifier and member._root is None
        assert member.max_features == arf.max_features == round(len(DEFAULT_SCHEMA) ** 0.5)  # "sqrt" of 19
        expected = (ArfConfig().grace_period, "info_gain", "nba")
        assert (member.grace_period, member.split_criterion, member.leaf_prediction) == expected
        assert member.rng is not arf._rng and member.rng.getstate() == random.Random(seed).getstate()
        detectors = ((arf._warning_detectors[i], arf.warning_detector), (arf._drift_detectors[i], arf.drift_detector))
        for detector, prototype in detectors:
            assert type(detector) is type(prototype) and detector.delta == prototype.delta
            assert detector is not prototype and detector.width == 0  # a fresh clone
        assert arf._background[i] is None
        assert type(arf._metrics[i]) is type(arf.metric) and arf._metrics[i].cm.total_weight == 0


def test_new_members_learn_in_their_own_feature_subspaces(
    production: ModelBundle, data: tuple[np.ndarray, np.ndarray]
) -> None:
    grown, _ = retrain(production, data, RetrainConfig(add_ratio=0.4))
    arf = grown.arf
    subspace = arf.max_features
    # members river has not replaced after a drift still carry the generator add_members gave them
    untouched = [i for i in range(10, 14) if arf.n_drifts_detected(i) == 0]
    assert untouched
    for i in range(10, 14):
        member = arf.data[i]
        assert arf._metrics[i].cm.total_weight > 0  # river's learn_one updated the member's own metric
        assert member.n_nodes > 1  # it learned and split
        subsets = [s for s in leaf_feature_subsets(member) if s]  # a leaf samples its subspace on its first row
        assert subsets and all(
            len(s) == subspace and len(set(s)) == subspace and set(s) <= set(DEFAULT_SCHEMA.features) for s in subsets
        )
    for i in untouched:
        assert arf.data[i].rng is not arf._rng
    # the members' subspaces differ from each other
    assert len({tuple(leaf_feature_subsets(arf.data[i])) for i in range(10, 14)}) == 4


def test_the_grown_forest_learns_through_an_abrupt_concept_change_and_new_members_reset_cleanly(
    production: ModelBundle, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    grown, _ = retrain(production, data, RetrainConfig(add_ratio=0.4))
    flipped = np.where(y == "ATTACK", "BENIGN", "ATTACK")  # abrupt change: every label inverts
    new_members_before = [grown.arf.data[i] for i in range(10, 14)]
    assert float((grown.predict_labels(X[2400:]) == flipped[2400:]).mean()) < 0.2  # the change is real
    grown.learn(X[:1500], flipped[:1500])
    check_member_layout(grown.arf)
    drifted_new = [i for i in range(10, 14) if grown.arf.n_drifts_detected(i) > 0]
    assert drifted_new, "no new member's drift detector fired"
    for i in drifted_new:
        assert grown.arf.data[i] is not new_members_before[i - 10]  # river replaced the tree
    accuracy = float((grown.predict_labels(X[2400:]) == flipped[2400:]).mean())
    production_accuracy = float((production.predict_labels(X[2400:]) == y[2400:]).mean())
    assert accuracy >= production_accuracy  # recovered at least to production's level on the old concept
    round_trip = ModelBundle.from_bytes(grown.to_bytes())
    assert np.array_equal(round_trip.predict_labels(X[2400:]), grown.predict_labels(X[2400:]))


def test_production_bundle_is_left_untouched(production: ModelBundle, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, _ = data
    before_bytes = production.to_bytes()
    before = production.predict_matrix(X[2400:])
    retrain(production, data, RetrainConfig(add_ratio=0.4, max_members=12))
    after = production.predict_matrix(X[2400:])
    assert np.array_equal(after.probabilities, before.probabilities)
    assert np.array_equal(after.trees_used, before.trees_used)
    assert production.to_bytes() == before_bytes
    assert len(production.arf) == production.arf.n_models == 10


def test_same_seed_gives_the_same_model_and_another_seed_a_different_one(
    production: ModelBundle, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = data
    held_out = X[2400:]
    first, _ = retrain(production, data, RetrainConfig(seed=5, max_members=12))
    second, _ = retrain(production, data, RetrainConfig(seed=5, max_members=12))
    assert first.to_bytes() == second.to_bytes()
    assert [t.summary for t in first.arf] == [t.summary for t in second.arf]
    assert np.array_equal(first.predict_matrix(held_out).probabilities, second.predict_matrix(held_out).probabilities)

    other, _ = retrain(production, data, RetrainConfig(seed=6, max_members=12))
    assert other.to_bytes() != first.to_bytes()
    other_probabilities = other.predict_matrix(held_out).probabilities
    assert not np.array_equal(other_probabilities, first.predict_matrix(held_out).probabilities)


def test_pruning_drops_a_known_weak_member(production: ModelBundle, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    sabotaged = copy.deepcopy(production)
    weak = sabotaged.arf._new_base_model()  # a real member tree, taught the inverted concept
    weak.rng = random.Random(0)
    inverted = sabotaged.labels.encode(np.where(y[:1200] == "ATTACK", "BENIGN", "ATTACK")).tolist()
    for x, code in zip(sabotaged.river_rows(X[:1200]), inverted, strict=True):
        weak.learn_one(x, code)
    sabotaged.arf.data[3] = weak
    accuracies = member_accuracies(sabotaged, X[2000:2400], y[2000:2400])
    assert int(np.argmin(accuracies)) == 3  # the setup really made member 3 the weakest

    pruned, report = incremental_retrain(
        sabotaged,
        X[1200:1200],  # nothing to learn: a member's own drift detector must not replace the weak tree first
        y[1200:1200],
        X[2000:2400],
        y[2000:2400],
        RetrainConfig(add_ratio=0.0, max_members=9),
        parent_version="7",
    )
    assert [d.index for d in report.dropped] == [3]
    assert report.members_after == 9 and pruned.info["parent_version"] == "7"
    assert all(pruned.arf.data[i] is not None for i in range(9))
    kept_ids = [id(t) for t in pruned.arf.data]
    assert len(set(kept_ids)) == 9
    check_member_layout(pruned.arf)


def test_pruning_ties_keep_the_older_members(production: ModelBundle, data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    # With nothing to learn, the 4 new members never predict anything: all tie at accuracy 0.
    pruned, report = incremental_retrain(
        production, X[:0], y[:0], X[2000:2400], y[2000:2400], RetrainConfig(add_ratio=0.4, max_members=12)
    )
    assert [(d.index, d.accuracy) for d in report.dropped] == [(12, 0.0), (13, 0.0)]
    assert report.rows_learned == 0
    assert [t.summary for t in pruned.arf.data[:10]] == [t.summary for t in production.arf.data]
    assert all(t._root is None for t in pruned.arf.data[10:])  # the kept new members never learned


def test_keep_members_renumbers_the_drift_and_warning_trackers(production: ModelBundle) -> None:
    arf = copy.deepcopy(production.arf)
    arf._drift_tracker = collections.defaultdict(int, {2: 5, 7: 1})
    arf._warning_tracker = collections.defaultdict(int, {7: 3})
    detectors = list(arf._drift_detectors)
    keep_members(arf, [0, 7, 2])
    assert dict(arf._drift_tracker) == {1: 1, 2: 5} and dict(arf._warning_tracker) == {1: 3}
    assert arf._drift_detectors == [detectors[0], detectors[7], detectors[2]]
    assert arf.n_drifts_detected(2) == 5
    with pytest.raises(ValueError):
        keep_members(arf, [0, 0])


def test_broken_layouts_and_unrankable_pruning_raise_typed_errors(
    production: ModelBundle, data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = data
    arf = copy.deepcopy(production.arf)
    arf._metrics.pop()
    with pytest.raises(ModelIntegrityError, match="_metrics"):
        check_member_layout(arf)
    with pytest.raises(ModelIntegrityError):
        add_members(arf, [1])
    with pytest.raises(MalformedDataError, match="recent"):
        incremental_retrain(production, X[:50], y[:50], X[:0], y[:0], RetrainConfig(max_members=10))


def test_the_retrain_replay_replaces_no_tree(production: ModelBundle, data: tuple[np.ndarray, np.ndarray]) -> None:
    """Member detectors are paused while the curated retrain set is learned, and restored after."""
    X, y = data
    flipped = np.where(y[1200:2400] == "ATTACK", "BENIGN", "ATTACK")  # a set that would trip every detector
    candidate, _ = incremental_retrain(
        production, X[1200:2400], list(flipped), X[2000:2400], y[2000:2400], RetrainConfig()
    )
    assert sum(candidate.arf._drift_tracker.values()) == sum(production.arf._drift_tracker.values())
    assert not candidate.arf._drift_detection_disabled and not candidate.arf._warning_detection_disabled
