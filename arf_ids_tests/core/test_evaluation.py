"""Scores and the promotion gate."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from arf_ids.core.errors import MalformedDataError
from arf_ids.core.evaluation import GateConfig, Scores, promotion_gate, score


def scores(*, macro_f1: float, kappa: float, n: int = 1000) -> Scores:
    return Scores(accuracy=macro_f1, macro_f1=macro_f1, kappa=kappa, n=n, f1_attack=macro_f1, per_class_f1={})


def noisy_predictions(truth: np.ndarray, error_rate: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    classes = np.unique(truth)
    wrong = rng.random(len(truth)) < error_rate
    return np.where(wrong, rng.choice(classes, size=len(truth)), truth)


def test_a_perfect_prediction_scores_one_everywhere() -> None:
    truth = np.array(["BENIGN", "DoS", "PortScan", "BENIGN", "DoS", "Bot"] * 20)
    result = score(truth, truth)
    assert (result.accuracy, result.macro_f1, result.kappa, result.f1_attack) == (1.0, 1.0, 1.0, 1.0)
    assert result.per_class_f1 == {"BENIGN": 1.0, "Bot": 1.0, "DoS": 1.0, "PortScan": 1.0}
    assert result.n == 120
    assert score(["BENIGN"] * 5, ["BENIGN"] * 5).kappa == 1.0  # sklearn alone says NaN


def test_a_constant_predictor_has_zero_kappa() -> None:
    truth = np.array(["BENIGN"] * 70 + ["DoS"] * 20 + ["Bot"] * 10)
    result = score(truth, ["BENIGN"] * len(truth))
    assert result.kappa == 0.0
    assert result.accuracy == pytest.approx(0.7)
    assert result.f1_attack == 0.0


def test_scores_match_sklearn_on_noisy_predictions() -> None:
    truth = np.random.default_rng(0).choice(["BENIGN", "DoS", "PortScan"], size=500, p=[0.6, 0.3, 0.1])
    predicted = noisy_predictions(truth, 0.2, seed=1)
    result = score(truth, predicted)
    assert result.macro_f1 == pytest.approx(f1_score(truth, predicted, average="macro"))
    assert result.kappa == pytest.approx(cohen_kappa_score(truth, predicted))
    assert result.f1_attack == pytest.approx(f1_score(truth != "BENIGN", predicted != "BENIGN"))
    assert 0.0 < result.macro_f1 < 1.0


def test_macro_f1_counts_predicted_only_labels_unless_labels_are_given() -> None:
    truth = ["BENIGN", "BENIGN", "DoS", "DoS"]
    predicted = ["BENIGN", "BENIGN", "DoS", "Bot"]
    assert set(score(truth, predicted).per_class_f1) == {"BENIGN", "DoS", "Bot"}
    assert score(truth, predicted).macro_f1 == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)
    assert score(truth, predicted, labels=["BENIGN", "DoS"]).macro_f1 == pytest.approx((1.0 + 2 / 3) / 2)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(MalformedDataError, match="3 true labels but 2 predictions"):
        score(["a", "b", "c"], ["a", "b"])
    with pytest.raises(MalformedDataError, match="no predictions"):
        score([], [])


def test_the_gate_promotes_a_better_candidate_that_remembers() -> None:
    decision = promotion_gate(
        candidate_drift=scores(macro_f1=0.912, kappa=0.80),
        production_drift=scores(macro_f1=0.850, kappa=0.70),
        candidate_base=scores(macro_f1=0.89, kappa=0.8),
        production_base=scores(macro_f1=0.90, kappa=0.8),
    )
    assert decision.promote
    assert decision.reasons[0] == "drift hold-out macro-F1 0.912 > 0.850 (+0.062)"
    assert decision.f1_gain == pytest.approx(0.062) and decision.kappa_gain == pytest.approx(0.10)
    assert decision.forgetting == pytest.approx(0.01)
    dumped = json.loads(json.dumps(decision.model_dump(mode="json")))
    assert dumped["promote"] is True and dumped["candidate_drift"]["macro_f1"] == 0.912


@pytest.mark.parametrize(
    ("candidate", "refused_by"),
    [
        (scores(macro_f1=0.84, kappa=0.80), "macro-F1 0.840 is not better than 0.850"),
        (scores(macro_f1=0.95, kappa=0.69), "kappa 0.690 is not better than 0.700"),
        (scores(macro_f1=0.85, kappa=0.80), "macro-F1 0.850 is not better than 0.850 (+0.000)"),
        (scores(macro_f1=0.95, kappa=0.70), "kappa 0.700 is not better than 0.700 (+0.000)"),
    ],
)
def test_the_gate_refuses_a_candidate_that_is_not_strictly_better(candidate: Scores, refused_by: str) -> None:
    decision = promotion_gate(
        candidate_drift=candidate,
        production_drift=scores(macro_f1=0.85, kappa=0.70),
        candidate_base=scores(macro_f1=0.90, kappa=0.8),
        production_base=scores(macro_f1=0.90, kappa=0.8),
    )
    assert not decision.promote
    assert any(refused_by in reason for reason in decision.reasons)


def test_the_gate_refuses_a_candidate_that_forgets_old_attacks() -> None:
    better_on_drift = {
        "candidate_drift": scores(macro_f1=0.95, kappa=0.90),
        "production_drift": scores(macro_f1=0.85, kappa=0.70),
        "production_base": scores(macro_f1=0.90, kappa=0.8),
    }
    forgets = promotion_gate(**better_on_drift, candidate_base=scores(macro_f1=0.87, kappa=0.8))
    assert not forgets.promote and forgets.forgetting == pytest.approx(0.03)
    assert forgets.reasons[2].startswith("forgets old concepts")
    at_the_limit = promotion_gate(**better_on_drift, candidate_base=scores(macro_f1=0.88, kappa=0.8))
    assert at_the_limit.promote  # a drop of exactly max_forgetting is allowed
    unchecked = promotion_gate(
        **better_on_drift,
        candidate_base=scores(macro_f1=0.87, kappa=0.8),
        config=GateConfig(require_forgetting_check=False),
    )
    assert unchecked.promote and unchecked.reasons[2].startswith("forgetting check off")


def test_the_gate_refuses_scores_from_different_hold_outs() -> None:
    with pytest.raises(MalformedDataError, match="different drift hold-outs \\(900 vs 1000 rows\\)"):
        promotion_gate(
            candidate_drift=scores(macro_f1=0.95, kappa=0.9, n=900),
            production_drift=scores(macro_f1=0.85, kappa=0.7),
            candidate_base=scores(macro_f1=0.9, kappa=0.8),
            production_base=scores(macro_f1=0.9, kappa=0.8),
        )
