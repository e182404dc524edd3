"""Scores of a model on a hold-out, and the gate that decides whether a candidate is promoted.

``score`` gives accuracy, macro-F1 (over the labels present in ``y_true`` and ``y_pred``
unless ``labels`` are given; ``zero_division=0``), Cohen's kappa, per-class F1 and
``f1_attack``: the F1 of "is an attack" (every label but benign) against benign,
which for binary data is the attack-positive F1. Kappa is 1.0 when every prediction is
right (sklearn gives NaN when both sides hold a single identical class).

``promotion_gate`` promotes a candidate only if, on the drift hold-out, its macro-F1 AND
its kappa are strictly better than production's, and (when the check is on) it has not
forgotten the old concepts: its base hold-out macro-F1 is at least production's minus
``max_forgetting`` (compared with a 1e-9 tolerance so that float rounding of a drop of
exactly ``max_forgetting`` does not refuse).

>>> truth = ["BENIGN", "DoS", "DoS", "BENIGN"]
>>> score(truth, truth).macro_f1
1.0
>>> good = score(truth, ["BENIGN", "DoS", "DoS", "BENIGN"])
>>> poor = score(truth, ["BENIGN", "BENIGN", "DoS", "BENIGN"])
>>> decision = promotion_gate(candidate_drift=good, production_drift=poor, candidate_base=good, production_base=good)
>>> decision.promote
True
>>> decision.reasons[0]
'drift hold-out macro-F1 1.000 > 0.733 (+0.267)'
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from arf_ids.core.errors import MalformedDataError

FORGETTING_TOLERANCE = 1e-9

Labels = Sequence[str] | np.ndarray


class Scores(BaseModel):
    """How well predictions match the truth on one hold-out."""

    model_config = ConfigDict(frozen=True)

    accuracy: float
    macro_f1: float
    kappa: float = Field(description="Cohen's kappa")
    n: int
    f1_attack: float = Field(description="F1 of attack (any non-benign label) against benign")
    per_class_f1: dict[str, float]


def score(
    y_true: Labels, y_pred: Labels, *, labels: Sequence[str] | None = None, benign_label: str = "BENIGN"
) -> Scores:
    """Score predictions against the truth (see the module docstring)."""
    truth = np.asarray(y_true, dtype=object).astype(str)
    predicted = np.asarray(y_pred, dtype=object).astype(str)
    if truth.ndim != 1 or predicted.ndim != 1:
        raise MalformedDataError("score", "y_true and y_pred must be one-dimensional")
    if len(truth) != len(predicted):
        raise MalformedDataError("score", f"{len(truth)} true labels but {len(predicted)} predictions")
    if len(truth) == 0:
        raise MalformedDataError("score", "there are no predictions to score")
    classes = list(labels) if labels is not None else sorted(set(truth.tolist()) | set(predicted.tolist()))
    per_class = f1_score(truth, predicted, labels=classes, average=None, zero_division=0)
    # kappa is undefined (0/0) only when both sides hold one identical class: a perfect prediction
    kappa = 1.0 if (truth == predicted).all() else cohen_kappa_score(truth, predicted)
    attack_f1 = f1_score(truth != benign_label, predicted != benign_label, zero_division=0)
    return Scores(
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(np.mean(per_class)),
        kappa=float(kappa),
        n=len(truth),
        f1_attack=float(attack_f1),
        per_class_f1={label: float(f1) for label, f1 in zip(classes, per_class, strict=True)},
    )


class GateConfig(BaseModel):
    """When a candidate model replaces production."""

    model_config = ConfigDict(frozen=True)

    max_forgetting: float = Field(
        default=0.02, ge=-1.0, le=1.0, description="allowed drop of base hold-out macro-F1 (negative: a required gain)"
    )
    require_forgetting_check: bool = Field(default=True, description="the old system's gate had no such check")


class GateDecision(BaseModel):
    """The gate's verdict and why; ``model_dump(mode="json")`` gives JSON."""

    model_config = ConfigDict(frozen=True)

    promote: bool
    reasons: list[str]
    candidate_drift: Scores
    production_drift: Scores
    candidate_base: Scores
    production_base: Scores
    f1_gain: float = Field(description="candidate - production macro-F1 on the drift hold-out")
    kappa_gain: float = Field(description="candidate - production kappa on the drift hold-out")
    forgetting: float = Field(description="production - candidate macro-F1 on the base hold-out")
    config: GateConfig


def _strictly_better(name: str, candidate: float, production: float) -> tuple[bool, str]:
    gain = candidate - production
    if candidate > production:
        return True, f"drift hold-out {name} {candidate:.3f} > {production:.3f} ({gain:+.3f})"
    return False, f"drift hold-out {name} {candidate:.3f} is not better than {production:.3f} ({gain:+.3f})"


def promotion_gate(
    *,
    candidate_drift: Scores,
    production_drift: Scores,
    candidate_base: Scores,
    production_base: Scores,
    config: GateConfig | None = None,
) -> GateDecision:
    """Decide whether the candidate replaces production (see the module docstring)."""
    config = config or GateConfig()
    for hold_out, candidate, production in (
        ("drift", candidate_drift, production_drift),
        ("base", candidate_base, production_base),
    ):
        if candidate.n != production.n:
            raise MalformedDataError(
                "promotion gate",
                f"candidate and production were scored on different {hold_out} hold-outs "
                f"({candidate.n} vs {production.n} rows)",
            )
    f1_ok, f1_reason = _strictly_better("macro-F1", candidate_drift.macro_f1, production_drift.macro_f1)
    kappa_ok, kappa_reason = _strictly_better("kappa", candidate_drift.kappa, production_drift.kappa)
    forgetting = production_base.macro_f1 - candidate_base.macro_f1
    remembers = forgetting <= config.max_forgetting + FORGETTING_TOLERANCE
    base_line = (
        f"base hold-out macro-F1 {candidate_base.macro_f1:.3f} vs {production_base.macro_f1:.3f} "
        f"(forgetting {forgetting:+.3f}"
    )
    if not config.require_forgetting_check:
        forgetting_reason = f"forgetting check off: {base_line})"
    elif remembers:
        forgetting_reason = f"{base_line} <= {config.max_forgetting:.3f} allowed)"
    else:
        forgetting_reason = f"forgets old concepts: {base_line} > {config.max_forgetting:.3f} allowed)"
    promote = f1_ok and kappa_ok and (remembers or not config.require_forgetting_check)
    return GateDecision(
        promote=promote,
        reasons=[f1_reason, kappa_reason, forgetting_reason],
        candidate_drift=candidate_drift,
        production_drift=production_drift,
        candidate_base=candidate_base,
        production_base=production_base,
        f1_gain=candidate_drift.macro_f1 - production_drift.macro_f1,
        kappa_gain=candidate_drift.kappa - production_drift.kappa,
        forgetting=forgetting,
        config=config,
    )
