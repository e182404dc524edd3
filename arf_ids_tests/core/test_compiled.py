"""Tests of arf_ids.core.compiled: the compiled forest answers as river and the bundle do.

Every comparison is against river itself (each member's ``predict_proba_one``, the
ARF's weighted vote) or against ``ModelBundle.predict_matrix_reference`` (the confident
vote over river's members), on models trained with the traffic generator, on models
that drifted, on edge-case models and on real CIC-IDS2017 flows when they are present:
the same class and trees used on every flow, every probability within ``AGREEMENT``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from river import forest
from river.tree.nodes.branch import DTBranch, NumericBinaryBranch
from river.tree.nodes.leaf import HTLeaf

from arf_ids.core import compiled as compiled_module
from arf_ids.core.compiled import AGREEMENT, CompiledForest, CompiledModel, UnsupportedModelError
from arf_ids.core.errors import InvalidFlowError
from arf_ids.core.generator import ALL_LABELS, NOVEL_FAMILY, DriftScenario, TrafficGenerator
from arf_ids.core.model import COMPILE_MIN_ROWS, ArfConfig, FeatureScaler, LabelEncoder, ModelBundle, confident_vote
from arf_ids.core.readers import read_flows
from arf_ids.core.schema import DEFAULT_SCHEMA, FlowSchema

SMALL = ArfConfig(n_models=5)
#: Leaf kinds of ``CompiledForest.leaf_index``.
FIXED, NAIVE_BAYES, ONE_CLASS = 0, 1, 2


def generated(seed: int, n: int, *, labels: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """``n`` generator flows of the given labels (all base labels by default)."""
    mix = None if labels is None else {label: 1.0 for label in labels}
    frame = TrafficGenerator(seed=seed, class_mix=mix).sample(n)
    return DEFAULT_SCHEMA.frame_matrix(frame), frame["label"].tolist()


def probe_flows(X: np.ndarray) -> np.ndarray:
    """Held-out flows plus flows far outside the training range (huge, negated, zero)."""
    return np.vstack([X, X[:100] * 1e6, X[:100] * 1e15, -X[:100], np.zeros((3, X.shape[1]))])


def river_member_rows(arf: forest.ARFClassifier, x: dict[str, float], classes: Sequence[Hashable]) -> np.ndarray:
    """Each member's own ``predict_proba_one`` of ``x`` as a ``(n_members, n_classes)`` array."""
    column = {key: i for i, key in enumerate(classes)}
    rows = np.zeros((len(arf), len(classes)))
    for m, tree in enumerate(arf):
        for key, probability in tree.predict_proba_one(x).items():
            rows[m, column[key]] = probability
    return rows


def assert_members_match_river(
    compiled: CompiledForest, arf: forest.ARFClassifier, scaled: np.ndarray, *, equal_nan: bool = False
) -> np.ndarray:
    """Every member's compiled distribution is river's within ``AGREEMENT`` (and picks the same class) on every row."""
    got = compiled.member_distributions(scaled)
    assert got.shape == (scaled.shape[0], len(arf), len(compiled.classes))
    for i, row in enumerate(scaled):
        expected = river_member_rows(arf, dict(zip(compiled.features, row.tolist(), strict=True)), compiled.classes)
        np.testing.assert_allclose(got[i], expected, rtol=0, atol=AGREEMENT, equal_nan=equal_nan, err_msg=f"row {i}")
        predicts = expected.sum(axis=1) > 0
        assert (got[i][predicts].argmax(axis=1) == expected[predicts].argmax(axis=1)).all(), f"row {i}"
    return got


def assert_river_weighted_vote(compiled: CompiledForest, arf: forest.ARFClassifier, scaled: np.ndarray) -> None:
    """Compiled member distributions combined with river's weighted vote give ``arf.predict_proba_one``."""
    members = compiled.member_distributions(scaled)
    weights = np.array([metric.get() for metric in arf._metrics])
    weights = np.where((weights > 0.0) & (not arf.disable_weighted_vote), weights, 1.0)
    for i, row in enumerate(scaled):
        combined = (members[i] * weights[:, np.newaxis]).sum(axis=0)
        total = combined.sum()
        combined = combined / total if total > 0 else combined
        expected = np.zeros(len(compiled.classes))
        for key, probability in arf.predict_proba_one(dict(zip(compiled.features, row.tolist(), strict=True))).items():
            expected[compiled.classes.index(key)] = probability
        np.testing.assert_allclose(combined, expected, rtol=0, atol=AGREEMENT, err_msg=f"row {i}")


def assert_vote_matches_river(
    compiled: CompiledForest, arf: forest.ARFClassifier, scaled: np.ndarray, *, entropy_threshold: float = 0.25,
    min_confident_trees: int = 3,
) -> None:
    """The vote kernel on scaled rows gives ``confident_vote`` of river's own member rows."""
    probabilities, trees_used, best = compiled.confident_vote(
        scaled, entropy_threshold=entropy_threshold, min_confident_trees=min_confident_trees
    )
    for i, row in enumerate(scaled):
        members = river_member_rows(arf, dict(zip(compiled.features, row.tolist(), strict=True)), compiled.classes)
        expected, used = confident_vote(members, entropy_threshold=entropy_threshold,
                                        min_confident_trees=min_confident_trees)
        np.testing.assert_allclose(probabilities[i], expected, rtol=0, atol=AGREEMENT, err_msg=f"row {i}")
        assert (trees_used[i], best[i]) == (used, int(np.argmax(expected))), f"row {i}"


def real_leaves(compiled: CompiledForest) -> np.ndarray:
    """The kinds of the members' leaves (the leaf tables end with the row of a member without a tree)."""
    return compiled.leaf_index[: compiled.n_leaves, 0]


def assert_same_batch(bundle: ModelBundle, compiled: CompiledModel, X: np.ndarray) -> None:
    """The compiled confident vote gives the reference's labels, trees used and probabilities."""
    expected = bundle.predict_matrix_reference(X)
    got = compiled.predict_matrix(X)
    assert got.classes == expected.classes
    assert got.labels.tolist() == expected.labels.tolist()
    assert got.labels.dtype == expected.labels.dtype
    assert got.trees_used.tolist() == expected.trees_used.tolist()
    assert got.trees_used.dtype == expected.trees_used.dtype
    np.testing.assert_allclose(got.probabilities, expected.probabilities, rtol=0, atol=AGREEMENT)
    np.testing.assert_allclose(got.confidences, expected.confidences, rtol=0, atol=AGREEMENT)


def assert_one_flow_vote_is_the_batch_vote(compiled: CompiledModel, X: np.ndarray) -> None:
    """``vote_one`` (the service's per-request path) answers every flow as ``predict_matrix`` does.

    The same class and trees used; the confidence within ``AGREEMENT`` (its ``log1p`` is
    the C library's, the batch's NumPy's). A tuple of NumPy floats is answered as one of
    Python floats, to the bit.
    """
    batch = compiled.predict_matrix(X)
    for i, flow in enumerate(X):
        answers = [compiled.vote_one(tuple(flow.tolist())), compiled.vote_one(tuple(flow))]
        assert answers[0] == answers[1], f"row {i}"
        best, confidence, trees_used = answers[0]
        assert (compiled.classes[best], trees_used) == (batch.labels[i], batch.trees_used[i]), f"row {i}"
        assert abs(confidence - batch.confidences[i]) <= AGREEMENT, f"row {i}"


def assert_exact_everywhere(bundle: ModelBundle, X: np.ndarray) -> CompiledModel:
    """All the comparisons, on raw flows ``X``; returns the compiled model."""
    compiled = bundle.compile()
    scaled = bundle.scaler.transform(X)
    assert_members_match_river(compiled.forest, bundle.arf, scaled)
    assert_river_weighted_vote(compiled.forest, bundle.arf, scaled[:200])
    assert_same_batch(bundle, compiled, X)
    assert_one_flow_vote_is_the_batch_vote(compiled, X)
    for flow in X[:20]:
        expected = bundle.predict_one(dict(zip(bundle.schema.features, flow.tolist(), strict=True)))
        got = compiled.predict_one(dict(zip(bundle.schema.features, flow.tolist(), strict=True)))
        assert (got.label, got.trees_used) == (expected.label, expected.trees_used)
        assert got.confidence == pytest.approx(expected.confidence, abs=AGREEMENT)
        assert got.probabilities == pytest.approx(expected.probabilities, abs=AGREEMENT)
    return compiled


def leaves(tree: object) -> list[HTLeaf]:
    root = tree._root
    if root is None:
        return []
    return list(root.iter_leaves()) if isinstance(root, DTBranch) else [root]


# ------------------------------------------------------------------------ trained models

SEEDED = {
    "seed 1, 7 classes": (1, None),
    "seed 2, 3 classes": (2, ("BENIGN", "DoS", "PortScan")),
    "seed 3, 2 classes": (3, ("BENIGN", "DDoS")),
}


@pytest.fixture(scope="module", params=list(SEEDED), ids=list(SEEDED))
def seeded(request: pytest.FixtureRequest) -> tuple[ModelBundle, np.ndarray]:
    seed, labels = SEEDED[request.param]
    X, y = generated(seed, 1800, labels=labels)
    bundle = ModelBundle.train(
        X[:1400], y[:1400], schema=DEFAULT_SCHEMA, classes=ALL_LABELS, config=SMALL.model_copy(update={"seed": seed})
    )
    return bundle, probe_flows(X[1400:])


def test_compiled_forest_matches_river_on_generated_traffic(seeded: tuple[ModelBundle, np.ndarray]) -> None:
    bundle, X = seeded
    compiled = assert_exact_everywhere(bundle, X)
    # classes the forest never saw (Infiltration at least) get probability 0 everywhere
    unseen = [i for i, label in enumerate(bundle.classes) if all(i not in tree.classes for tree in bundle.arf)]
    assert NOVEL_FAMILY in [bundle.classes[i] for i in unseen]
    assert np.all(compiled.predict_matrix(X).probabilities[:, unseen] == 0.0)
    # the trees are real: branches, naive-Bayes leaves and majority-class (nba) leaves all answer
    kinds = set(real_leaves(compiled.forest).tolist())
    assert compiled.forest.n_nodes > compiled.forest.n_leaves > len(bundle.arf)
    assert {FIXED, NAIVE_BAYES} <= kinds or {FIXED, ONE_CLASS} <= kinds


@pytest.fixture(scope="module")
def drifted() -> tuple[ModelBundle, np.ndarray]:
    """A forest whose members were replaced after drift, stopped while some member has a background learner."""
    frame = TrafficGenerator(seed=11).stream(3000, DriftScenario(name="novel_attack", onset_flow=1000, drift_share=0.5))
    X, y = DEFAULT_SCHEMA.frame_matrix(frame), frame["label"].tolist()
    config = SMALL.model_copy(update={"drift_delta": 0.002, "warning_delta": 0.3, "seed": 5})
    bundle = ModelBundle.train(X[:1500], y[:1500], schema=DEFAULT_SCHEMA, classes=ALL_LABELS, config=config)
    for i in range(1500, 2600):
        if bundle.arf.n_drifts_detected() >= 2 and any(tree is not None for tree in bundle.arf._background):
            break
        bundle.learn(X[i : i + 1], y[i : i + 1])
    return bundle, probe_flows(X[2600:])


def test_compiled_forest_matches_river_after_drift_replaced_trees(drifted: tuple[ModelBundle, np.ndarray]) -> None:
    bundle, X = drifted
    assert bundle.arf.n_drifts_detected() > 0, "no member was replaced: the scenario does not test replacement"
    assert any(background is not None for background in bundle.arf._background), "no member has a background learner"
    assert_exact_everywhere(bundle, X)


def test_flows_exactly_on_a_split_threshold_go_left(drifted: tuple[ModelBundle, np.ndarray]) -> None:
    bundle, X = drifted
    scaled = bundle.scaler.transform(X[:50])
    on_threshold = []
    for tree in bundle.arf:
        for branch in tree._root.iter_branches() if isinstance(tree._root, DTBranch) else ():
            row = scaled[len(on_threshold) % len(scaled)].copy()
            row[bundle.schema.features.index(branch.feature)] = branch.threshold
            on_threshold.append(row)
    assert len(on_threshold) > 10
    compiled = CompiledForest.from_river(bundle.arf, features=bundle.schema.features, classes=range(len(ALL_LABELS)))
    assert_members_match_river(compiled, bundle.arf, np.array(on_threshold))  # one flow at a time
    assert_vote_matches_river(compiled, bundle.arf, np.array(on_threshold))  # blocks of flows in lockstep


def test_an_empty_member_and_zero_weight_classes_are_reproduced(drifted: tuple[ModelBundle, np.ndarray]) -> None:
    bundle, X = drifted
    edited = ModelBundle.from_bytes(bundle.to_bytes())
    edited.arf.data[1] = edited.arf._new_base_model()  # a replaced member that has not learned yet
    touched = 0
    for tree in edited.arf:
        for leaf in leaves(tree):
            # a class kept at weight 0 (river gives such a class a log-likelihood of 0.0)
            if leaf.stats and sum(leaf.stats.values()) > 0:
                missing = [code for code in range(len(edited.classes)) if code not in leaf.stats]
                leaf.stats[missing[0]] = 0.0
                touched += 1
    assert touched > 0
    compiled = assert_exact_everywhere(edited, X)
    assert np.all(compiled.forest.member_distributions(edited.scaler.transform(X))[:, 1] == 0.0)


# ----------------------------------------------------------------------------- edge cases


def bundle_of(arf: forest.ARFClassifier, X: np.ndarray, classes: Sequence[str], config: ArfConfig) -> ModelBundle:
    return ModelBundle(
        arf=arf, scaler=FeatureScaler.fit(X), labels=LabelEncoder(classes=tuple(classes)), schema=DEFAULT_SCHEMA,
        config=config,
    )


def test_untrained_forest_predicts_nothing_like_the_reference() -> None:
    X, _ = generated(4, 50)
    bundle = bundle_of(SMALL.build_forest(), X, ALL_LABELS, SMALL)
    compiled = bundle.compile()
    assert compiled.forest.n_members == 0
    batch = compiled.predict_matrix(X)
    assert set(batch.labels.tolist()) == {ALL_LABELS[0]}
    assert batch.confidences.tolist() == [0.0] * len(X) and batch.trees_used.tolist() == [0] * len(X)
    assert compiled.forest.member_distributions(bundle.scaler.transform(X)).shape == (len(X), 0, len(ALL_LABELS))
    assert_same_batch(bundle, compiled, X)


def test_forest_whose_roots_are_leaves() -> None:
    X, y = generated(5, 60)
    config = SMALL.model_copy(update={"grace_period": 10_000})  # no leaf tries to split
    bundle = ModelBundle.train(X[:12], y[:12], schema=DEFAULT_SCHEMA, classes=ALL_LABELS, config=config)
    assert all(isinstance(tree._root, HTLeaf) for tree in bundle.arf)
    compiled = assert_exact_everywhere(bundle, probe_flows(X[12:]))
    assert compiled.forest.n_nodes == compiled.forest.n_leaves == len(bundle.arf)
    edited = ModelBundle.from_bytes(bundle.to_bytes())
    edited.arf.data[2] = edited.arf._new_base_model()  # an empty member beside members whose roots are leaves
    members = assert_exact_everywhere(edited, X[12:]).forest.member_distributions(edited.scaler.transform(X[12:]))
    assert np.all(members[:, 2] == 0.0)


def test_single_class_leaves_and_flows_that_overflow_the_naive_bayes_sums() -> None:
    X, y = generated(6, 400, labels=("DoS",))
    config = SMALL.model_copy(update={"leaf_prediction": "nb"})  # nba would keep one-class leaves majority-class
    bundle = ModelBundle.train(X[:300], y[:300], schema=DEFAULT_SCHEMA, classes=ALL_LABELS, config=config)
    compiled = assert_exact_everywhere(bundle, probe_flows(X[300:]))
    assert set(real_leaves(compiled.forest).tolist()) == {ONE_CLASS}
    assert set(compiled.predict_matrix(X[300:]).labels.tolist()) == {"DoS"}
    # scaled values no bundle produces (river itself raises OverflowError once (x - mu) ** 2 overflows): log
    # densities so negative that one-class answers need the sums, which reach -inf for +-1e154 (NaN answers)
    scaled = bundle.scaler.transform(X[300:320])
    extreme = np.vstack([scaled * 1e150, np.full_like(scaled, 1e154), np.full_like(scaled, -1e154)])
    extreme[::2, 0] = np.nan  # river adds nothing for a NaN: it neither saves nor sinks a sum
    got = assert_members_match_river(compiled.forest, bundle.arf, extreme, equal_nan=True)
    assert np.isnan(got).any() and (got == 1.0).any()
    assert_vote_matches_river(compiled.forest, bundle.arf, extreme)  # a NaN member does not vote


def test_flows_holding_nan_go_right_and_add_nothing_to_naive_bayes(seeded: tuple[ModelBundle, np.ndarray]) -> None:
    """Scaled rows with NaN (no bundle input gets this far: it refuses them): river's branches send NaN right and
    its naive Bayes skips a NaN log density."""
    bundle, X = seeded
    scaled = bundle.scaler.transform(X[:60])
    rng = np.random.default_rng(3)
    holes = rng.random(scaled.shape) < 0.3
    scaled[holes] = np.nan
    scaled[:5] = np.nan
    compiled = CompiledForest.from_river(bundle.arf, features=bundle.schema.features, classes=range(len(ALL_LABELS)))
    got = assert_members_match_river(compiled, bundle.arf, scaled)
    assert np.isfinite(got).all()
    assert_vote_matches_river(compiled, bundle.arf, scaled)


def test_features_without_variance() -> None:
    X, y = generated(7, 1300, labels=("BENIGN", "DoS", "PortScan"))
    codes = np.unique(y, return_inverse=True)[1]
    X[:, 0] = 5.0  # constant everywhere
    X[:, 1] = 10.0 ** codes  # constant within each class
    X[:, 2] = np.where(codes == 0, 3.0, X[:, 2])  # constant within one class only
    bundle = ModelBundle.train(X[:1000], y[:1000], schema=DEFAULT_SCHEMA, classes=ALL_LABELS, config=SMALL)
    probes = X[1000:].copy()
    probes[::3, 1] = 10.0  # x == mu of a zero-variance estimator
    probes[1::3, 1] = 7.0  # and x != mu
    assert_exact_everywhere(bundle, probe_flows(probes))


@pytest.mark.parametrize("leaf_prediction", ["mc", "nb"])
def test_majority_class_and_naive_bayes_leaf_configs(leaf_prediction: str) -> None:
    X, y = generated(8, 1300, labels=("BENIGN", "DoS", "BruteForce", "Botnet"))
    config = SMALL.model_copy(update={"leaf_prediction": leaf_prediction})
    bundle = ModelBundle.train(X[:1000], y[:1000], schema=DEFAULT_SCHEMA, classes=ALL_LABELS, config=config)
    compiled = assert_exact_everywhere(bundle, probe_flows(X[1000:]))
    kinds = set(real_leaves(compiled.forest).tolist())
    assert kinds == {FIXED} if leaf_prediction == "mc" else NAIVE_BAYES in kinds


def river_frame(n: int, seed: int) -> tuple[list[dict[str, float]], list[str]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0.3, "attack", np.where(X[:, 2] > 1.0, "scan", "benign"))
    return [dict(zip(("a", "b", "c"), row.tolist(), strict=True)) for row in X], y.tolist()


def test_plain_river_forest_with_nb_threshold_and_string_classes() -> None:
    """``nb`` leaves switch on with ``total_weight >= nb_threshold``; classes are any hashables."""
    xs, ys = river_frame(1500, seed=1)
    arf = forest.ARFClassifier(n_models=4, leaf_prediction="nb", nb_threshold=40, grace_period=20, seed=3)
    for x, y in zip(xs[:1200], ys[:1200], strict=True):
        arf.learn_one(x, y)
    compiled = CompiledForest.from_river(arf, features=("a", "b", "c"), classes=("benign", "attack", "scan", "other"))
    scaled = np.array([[x["a"], x["b"], x["c"]] for x in xs[1200:]])
    assert_members_match_river(compiled, arf, np.vstack([scaled, scaled * 30]))
    assert_river_weighted_vote(compiled, arf, scaled)
    assert_vote_matches_river(compiled, arf, np.vstack([scaled, scaled * 30]), min_confident_trees=2)
    kinds = set(real_leaves(compiled).tolist())
    assert FIXED in kinds and (NAIVE_BAYES in kinds or ONE_CLASS in kinds), "nb_threshold chose one kind of leaf"


def test_a_log_density_that_overflows_to_minus_infinity_adds_nothing() -> None:
    xs, ys = river_frame(900, seed=3)
    noise = np.random.default_rng(3).normal(size=len(xs))
    for x, e in zip(xs, noise, strict=True):
        x["c"] = 1.0 + 1e-12 * float(e)  # variance about 1e-24 in every leaf and class
    arf = forest.ARFClassifier(n_models=3, max_features=None, grace_period=20, seed=2)
    for x, y in zip(xs[:800], ys[:800], strict=True):
        arf.learn_one(x, y)
    compiled = CompiledForest.from_river(arf, features=("a", "b", "c"), classes=("benign", "attack", "scan"))
    scaled = np.array([[x["a"], x["b"], x["c"]] for x in xs[800:]])
    far = scaled.copy()
    far[:, 2] = 1e145  # (x - mu) ** 2 / (-2 variance) is -inf: river adds nothing for c
    got = assert_members_match_river(compiled, arf, np.vstack([scaled, far]))
    assert np.isfinite(got).all()
    assert_vote_matches_river(compiled, arf, np.vstack([scaled, far]), min_confident_trees=2)


def test_huge_log_likelihoods_that_nearly_tie_are_summed_as_river_sums_them() -> None:
    """Log densities of 1e9 nats, the same for every class: the fast sums would round their differences away.

    River's sums round at 1e-6 there, so the classes' probabilities depend on river's
    order of operations; the compiled form must leave such leaves to its exact path.
    """
    xs, ys = river_frame(700, seed=4)
    arf = forest.ARFClassifier(n_models=3, max_features=None, leaf_prediction="nb", grace_period=10_000, seed=1)
    for x, y in zip(xs[:600], ys[:600], strict=True):
        arf.learn_one(x, y)
    for tree in arf:
        assert isinstance(tree._root, HTLeaf) and len(tree._root.stats) == 3
        for gaussian in tree._root.splitters["c"]._att_dist_per_class.values():
            gaussian._var.mean._mean = 0.0  # every class: c ~ N(0, 1e-20)
            gaussian._var._S = 1e-20 * (gaussian._var.mean.n - gaussian._var.ddof)
    compiled = CompiledForest.from_river(arf, features=("a", "b", "c"), classes=("benign", "attack", "scan"))
    scaled = np.array([[x["a"], x["b"], 1e-5 * (1 + k % 7)] for k, x in enumerate(xs[600:])])
    got = assert_members_match_river(compiled, arf, scaled)
    assert ((got > 1e-3) & (got < 1 - 1e-3)).sum() > 50, "the classes do not nearly tie: nothing is tested"
    assert_vote_matches_river(compiled, arf, scaled, min_confident_trees=2)


def test_a_branch_on_a_feature_the_flows_lack_takes_the_most_common_path() -> None:
    xs, ys = river_frame(1200, seed=2)
    arf = forest.ARFClassifier(n_models=3, max_features=None, grace_period=20, seed=4)
    for x, y in zip(xs[:1000], ys[:1000], strict=True):
        arf.learn_one(x, y)
    assert any(isinstance(tree._root, NumericBinaryBranch) and tree._root.feature == "a" for tree in arf)
    compiled = CompiledForest.from_river(arf, features=("b", "c"), classes=("benign", "attack", "scan"))
    scaled = np.array([[x["b"], x["c"]] for x in xs[1000:]])
    assert_members_match_river(compiled, arf, scaled)  # river too sees flows without "a"


def test_nominal_branches_fail_loudly() -> None:
    rng = np.random.default_rng(0)
    arf = forest.ARFClassifier(n_models=2, max_features=None, grace_period=20, seed=1)
    for _ in range(600):
        protocol = str(rng.choice(["tcp", "udp", "icmp"]))
        arf.learn_one({"protocol": protocol, "size": float(rng.normal())}, "attack" if protocol == "udp" else "benign")
    assert any(isinstance(tree._root, DTBranch) and not isinstance(tree._root, NumericBinaryBranch) for tree in arf)
    with pytest.raises(UnsupportedModelError, match="only"):
        CompiledForest.from_river(arf, features=("protocol", "size"), classes=("benign", "attack"))
    with pytest.raises(UnsupportedModelError, match="NominalMultiwayBranch on 'protocol'"):
        CompiledForest.from_river(arf, features=("size", "protocol"), classes=("benign", "attack"))


def test_a_class_outside_the_vocabulary_fails_loudly(seeded: tuple[ModelBundle, np.ndarray]) -> None:
    bundle, _ = seeded
    with pytest.raises(UnsupportedModelError, match="not among the compiled classes"):
        CompiledForest.from_river(bundle.arf, features=bundle.schema.features, classes=(0,))


# ------------------------------------------------------------------ bundle and snapshot


def test_round_trip_through_bytes_compiles_to_the_same_answers(seeded: tuple[ModelBundle, np.ndarray]) -> None:
    bundle, X = seeded
    loaded = ModelBundle.from_bytes(bundle.to_bytes())
    before, after = bundle.compile().predict_matrix(X), loaded.compile().predict_matrix(X)
    assert np.array_equal(before.probabilities, after.probabilities)
    assert before.labels.tolist() == after.labels.tolist()
    assert before.trees_used.tolist() == after.trees_used.tolist()


def test_bundle_predict_matrix_uses_the_compiled_form_and_equals_the_reference(
    seeded: tuple[ModelBundle, np.ndarray],
) -> None:
    bundle, X = seeded
    for rows in (0, 1, COMPILE_MIN_ROWS - 1, COMPILE_MIN_ROWS, len(X)):
        expected, got = bundle.predict_matrix_reference(X[:rows]), bundle.predict_matrix(X[:rows])
        assert got.labels.tolist() == expected.labels.tolist()
        assert got.trees_used.tolist() == expected.trees_used.tolist()
        np.testing.assert_allclose(got.probabilities, expected.probabilities, rtol=0, atol=AGREEMENT)
        assert got.probabilities.shape == expected.probabilities.shape == (rows, len(bundle.classes))
    assert bundle.predict_labels(X).tolist() == bundle.predict_matrix_reference(X).labels.tolist()
    # a Fortran-ordered matrix (as pandas gives) is the same input
    assert np.array_equal(bundle.compile().predict_matrix(np.asfortranarray(X)).probabilities,
                          bundle.compile().predict_matrix(X).probabilities)


def test_a_compiled_snapshot_does_not_follow_later_learning(drifted: tuple[ModelBundle, np.ndarray]) -> None:
    bundle, X = drifted
    learner = ModelBundle.from_bytes(bundle.to_bytes())
    snapshot = learner.compile()
    before = snapshot.predict_matrix(X).probabilities
    more_X, more_y = generated(12, 200)
    for i, (x, label) in enumerate(zip(more_X, more_y, strict=True)):  # prequential: predict, then learn
        if i % 25 == 0:
            fresh = learner.compile().predict_one(x)
            assert learner.predict_one(x).probabilities == pytest.approx(fresh.probabilities, abs=AGREEMENT)
        learner.learn(x[np.newaxis], [label])
    assert np.array_equal(snapshot.predict_matrix(X).probabilities, before)
    assert not np.array_equal(learner.compile().predict_matrix(X).probabilities, before)
    assert_same_batch(learner, learner.compile(), X)


def test_the_kernel_scales_raw_flows_as_the_scaler_does(seeded: tuple[ModelBundle, np.ndarray]) -> None:
    """``predict_matrix`` scales inside the kernel: the same bits as voting on ``FeatureScaler.transform``."""
    bundle, X = seeded
    compiled = bundle.compile()
    for rows in (1, 7, len(X)):
        batch = compiled.predict_matrix(X[:rows])
        probabilities, trees_used, _ = compiled.forest.confident_vote(
            bundle.scaler.transform(X[:rows]), entropy_threshold=compiled.entropy_threshold,
            min_confident_trees=compiled.min_confident_trees,
        )
        assert np.array_equal(batch.probabilities, probabilities) and np.array_equal(batch.trees_used, trees_used)


def test_workers_split_a_batch_and_give_identical_answers(seeded: tuple[ModelBundle, np.ndarray]) -> None:
    bundle, probes = seeded
    X, _ = generated(21, 2 * compiled_module._ROWS_PER_WORKER + 500)
    X = np.vstack([X, probes])
    compiled = bundle.compile()
    assert len(compiled_module._row_chunks(len(X), 2)) == 2 and len(compiled_module._row_chunks(len(X), 3)) == 2
    one = compiled.predict_matrix(X)
    for workers in (2, 3):
        many = compiled.predict_matrix(X, workers=workers)
        for name in ("probabilities", "confidences", "trees_used", "labels"):
            assert np.array_equal(getattr(one, name), getattr(many, name)), name
    assert_same_batch(bundle, compiled, X[::20])
    with ThreadPoolExecutor(max_workers=4) as pool:  # as the service's worker threads do, each request fanning out
        concurrent = list(pool.map(lambda workers: compiled.predict_matrix(X, workers=workers), [1, 2, 2, 1]))
    assert all(np.array_equal(batch.probabilities, one.probabilities) for batch in concurrent)
    bad = X.copy()
    bad[len(X) - 3, 4] = np.nan  # in the second chunk
    with pytest.raises(InvalidFlowError) as expected:
        bundle.predict_matrix_reference(bad)
    with pytest.raises(InvalidFlowError) as got:
        compiled.predict_matrix(bad, workers=2)
    assert str(got.value) == str(expected.value)


def test_compiled_model_validates_like_the_bundle_and_is_immutable(seeded: tuple[ModelBundle, np.ndarray]) -> None:
    bundle, X = seeded
    compiled = bundle.compile()
    flow = dict(zip(DEFAULT_SCHEMA.features, X[0].tolist(), strict=True))
    bad_inputs = [
        {k: v for k, v in flow.items() if k != "Flow Duration"},
        {**flow, "Flow Bytes/s": 3.0},
        {**flow, "Bwd Packets/s": float("nan")},
        X[0][:5].tolist(),
    ]
    for bad in bad_inputs:
        with pytest.raises(InvalidFlowError) as expected:
            bundle.predict_one(bad)
        with pytest.raises(InvalidFlowError) as got:
            compiled.predict_one(bad)
        assert str(got.value) == str(expected.value)
    matrix = X[:5].copy()
    matrix[3, 2] = np.inf
    negative, missing = matrix.copy(), X[:300].copy()
    negative[3, 2] = -np.inf
    missing[200, 7] = np.nan  # in the second block of the kernel
    for bad_matrix in (matrix, negative, missing, np.ones((3, 5)), [["x"] * len(DEFAULT_SCHEMA)]):
        with pytest.raises(InvalidFlowError) as expected:
            bundle.predict_matrix_reference(bad_matrix)
        with pytest.raises(InvalidFlowError) as got:
            compiled.predict_matrix(bad_matrix)
        assert str(got.value) == str(expected.value)
    for row, column in ((0, 4), (1, 0), (2, len(DEFAULT_SCHEMA) - 1)):
        vector = X[row].copy()
        vector[column] = (np.nan, np.inf, -np.inf)[row]
        with pytest.raises(InvalidFlowError) as expected:
            compiled.predict_matrix(vector.reshape(1, -1))
        with pytest.raises(InvalidFlowError) as got:
            compiled.vote_one(tuple(vector.tolist()))
        assert str(got.value) == str(expected.value) and DEFAULT_SCHEMA.features[column] in str(got.value)
    for short_or_long in (tuple(X[0][:5].tolist()), (*X[0].tolist(), 1.0), ()):
        with pytest.raises(InvalidFlowError, match=f"expected {len(DEFAULT_SCHEMA)} values"):
            compiled.vote_one(short_or_long)
    with pytest.raises(InvalidFlowError, match="expected a tuple of floats"):
        compiled.vote_one(("1.0", *X[0][1:].tolist()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        compiled.forest = compiled.forest  # type: ignore[misc]
    for name in ("tree_root", "node_index", "node_threshold", "leaf_fixed", "entry_prior", "term_stats", "walk_node",
                 "walk_threshold", "leaf_probability", "leaf_entropy", "entry_constant", "term_weight"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(compiled.forest, name)[...] = 0


# -------------------------------------------------------------------------- real data


def test_compiled_forest_matches_river_on_real_cic_ids2017_flows(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "cic-ids2017" / "cic_0.01km.csv"
    sample = tmp_path / "cic_head.csv"
    with source.open() as full:
        sample.write_text("".join(itertools.islice(full, 3001)))  # the header and 3,000 flows
    flows = read_flows(sample, "cicflowmeter", binary=True)
    schema = flows.schema
    X = schema.frame_matrix(flows.frame)
    y = flows.frame["label"].tolist()
    assert {"BENIGN", "ATTACK"} <= set(y)
    bundle = ModelBundle.train(X[:2000], y[:2000], schema=schema, classes=("BENIGN", "ATTACK"), config=SMALL)
    assert isinstance(schema, FlowSchema)
    assert_exact_everywhere(bundle, probe_flows(X[2000:]))


def test_member_tables_are_consistent(drifted: tuple[ModelBundle, np.ndarray]) -> None:
    """Structural sanity of the flat tables, which the kernels index without bounds checks."""
    bundle, _ = drifted
    compiled = CompiledForest.from_river(bundle.arf, features=DEFAULT_SCHEMA.features, classes=range(len(ALL_LABELS)))
    nodes, n_nodes = compiled.node_index, compiled.n_nodes
    branches = nodes[:, 3] < 0
    assert ((nodes[branches, 1:3] > 0) & (nodes[branches, 1:3] < n_nodes)).all()
    assert (nodes[branches, 2] == nodes[branches, 1] + 1).all()  # the walk steps to left + (x > threshold)
    assert ((nodes[~branches, 0] == -1) & (nodes[~branches, 3] < compiled.n_leaves)).all()
    assert sorted(nodes[~branches, 3].tolist()) == list(range(compiled.n_leaves))
    assert sum(len(leaves(tree)) for tree in bundle.arf) == compiled.n_leaves
    assert compiled.leaf_index.shape[0] == compiled.n_leaves + 1  # and the row of a member without a tree
    assert ((compiled.entry_index[:, 0] >= 0) & (compiled.entry_index[:, 0] < len(ALL_LABELS))).all()
    # the walk tables are the same nodes one slot on, leaves stepping onto themselves
    walk = compiled.walk_node
    child, feature = (walk >> np.uint64(16)).astype(np.int64), (walk & np.uint64(0xFFFF)).astype(np.int64)
    assert child[1 : n_nodes + 1][branches].tolist() == (nodes[branches, 1] + 1).tolist()
    assert feature[1 : n_nodes + 1][branches].tolist() == nodes[branches, 0].tolist()
    slots = np.arange(1, n_nodes + 1)[~branches]
    assert (child[slots] == slots - 1).all() and np.isnan(compiled.walk_threshold[slots]).all()
    assert compiled.walk_leaf[slots].tolist() == nodes[~branches, 3].tolist()
    roots = compiled.tree_root >= 0
    assert (compiled.walk_root[roots].astype(np.int64) == compiled.tree_root[roots] + 1).all()
    assert compiled.walk_depth.tolist() == [tree.height - 1 if tree._root is not None else 0 for tree in bundle.arf]
