"""Concept-balanced merge: the drift set plus a balanced replay of the base data.

Retraining on the drift set alone makes a model forget the attacks it no longer sees.
The merge keeps every drift row (``Source="DRIFT"``) and replays base rows
(``Source="BASE"``) so that every class totals ``T`` rows where possible:

* ``T = replay_factor x`` the largest attack-class count in the drift set, capped by
  ``max_rows_per_class`` when set;
* each class ``c`` seen in the base or the drift set gets ``max(0, T - drift_count[c])``
  base rows, sampled without replacement (seeded). Old attack classes absent from the
  drift set are therefore replayed in full balance; that is what stops forgetting.
  A class whose drift rows alone exceed ``T`` keeps them all and gets no replay.

In the binary case (one attack class) this is the old rule: with ``D`` drift attack
rows, replay ``D`` base attack rows and ``max(0, 2D - D_benign)`` base benign rows.

A class with too few base rows raises ``ClassCannotBeFilledError`` (``on_short_class=
"error"``) or is filled with every base row once plus rows drawn with replacement
(``"resample"``, recorded). A class only the drift set has (novel) cannot be replayed
and keeps just its drift rows. A drift set without attack rows replays nothing. A
``Source`` column already in the inputs is overwritten.

>>> import pandas as pd
>>> drift = pd.DataFrame({"x": range(6), "label": ["BENIGN"] * 4 + ["DoS"] * 2})
>>> base = pd.DataFrame({"x": range(20), "label": ["BENIGN"] * 10 + ["DoS"] * 5 + ["PortScan"] * 5})
>>> result = concept_balanced_merge(drift, base)
>>> result.summary.target_per_class
4
>>> result.frame.groupby(["label", "Source"]).size().to_dict()
{('BENIGN', 'DRIFT'): 4, ('DoS', 'BASE'): 2, ('DoS', 'DRIFT'): 2, ('PortScan', 'BASE'): 4}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from arf_ids.core.errors import ClassCannotBeFilledError, MalformedDataError

LABEL_COLUMN = "label"
SOURCE_COLUMN = "Source"
DRIFT_SOURCE = "DRIFT"
BASE_SOURCE = "BASE"


class MergeConfig(BaseModel):
    """How the drift set and the base data are merged."""

    model_config = ConfigDict(frozen=True)

    replay_factor: int = Field(default=2, ge=1, description="T = replay_factor x the largest drift attack count")
    benign_label: str = "BENIGN"
    on_short_class: Literal["error", "resample"] = "resample"
    max_rows_per_class: int | None = Field(default=None, ge=1, description="cap on T")
    seed: int = 42


class ClassMerge(BaseModel):
    """One class of the merged frame, counted by source."""

    model_config = ConfigDict(frozen=True)

    label: str
    drift_rows: int
    base_rows: int = Field(description="base rows replayed (with repeats when resampled)")
    base_available: int
    resampled: bool

    @property
    def total(self) -> int:
        return self.drift_rows + self.base_rows


class MergeSummary(BaseModel):
    """What the merge did; ``model_dump(mode="json")`` gives JSON."""

    model_config = ConfigDict(frozen=True)

    target_per_class: int = Field(description="T; 0 when nothing was replayed")
    replayed: bool
    classes: tuple[ClassMerge, ...]
    resampled_classes: tuple[str, ...]
    novel_classes: tuple[str, ...] = Field(description="in the drift set only: kept as drift rows, not replayed")
    note: str


@dataclass(frozen=True)
class MergeResult:
    """The merged, shuffled frame (features, ``label``, ``Source``) and its summary."""

    frame: pd.DataFrame
    summary: MergeSummary


def require_labels(frame: pd.DataFrame, name: str) -> None:
    """Raise ``MalformedDataError`` unless every row of ``frame`` has a ``label``."""
    if LABEL_COLUMN not in frame.columns:
        raise MalformedDataError(name, "has no label column", column=LABEL_COLUMN)
    if frame[LABEL_COLUMN].isna().any():
        missing = int(frame[LABEL_COLUMN].isna().sum())
        raise MalformedDataError(name, f"{missing} rows have no label", column=LABEL_COLUMN)


def _data_columns(frame: pd.DataFrame) -> list[str]:
    return [column for column in frame.columns if column != SOURCE_COLUMN]


def _check_columns_match(drift: pd.DataFrame, base: pd.DataFrame) -> list[str]:
    drift_columns, base_columns = _data_columns(drift), _data_columns(base)
    only_drift = [c for c in drift_columns if c not in set(base_columns)]
    only_base = [c for c in base_columns if c not in set(drift_columns)]
    if only_drift or only_base:
        raise MalformedDataError(
            "merge",
            f"the drift set and the base data have different columns: only in drift {only_drift}, "
            f"only in base {only_base}",
        )
    return drift_columns


def _replay_positions(
    label: str, positions: np.ndarray, needed: int, config: MergeConfig, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """Positions of the base rows to replay for one class, and whether it was resampled."""
    available = len(positions)
    if needed <= available:
        return rng.choice(positions, size=needed, replace=False), False
    if config.on_short_class == "error":
        raise ClassCannotBeFilledError(label, needed, available)
    extra = rng.choice(positions, size=needed - available, replace=True)
    return np.concatenate([rng.permutation(positions), extra]), True


def concept_balanced_merge(drift: pd.DataFrame, base: pd.DataFrame, config: MergeConfig | None = None) -> MergeResult:
    """Merge the drift set with a concept-balanced replay of the base data."""
    config = config or MergeConfig()
    require_labels(drift, "drift set")
    require_labels(base, "base data")
    columns = _check_columns_match(drift, base)
    rng = np.random.default_rng(config.seed)

    drift_counts = drift[LABEL_COLUMN].astype(str).value_counts()
    base_labels = base[LABEL_COLUMN].astype(str).to_numpy()
    attack_counts = drift_counts.drop(config.benign_label, errors="ignore")
    largest_attack = int(attack_counts.max()) if len(attack_counts) else 0
    target = largest_attack * config.replay_factor
    if config.max_rows_per_class is not None:
        target = min(target, config.max_rows_per_class)

    labels = sorted(set(drift_counts.index) | set(base_labels.tolist()))
    classes: list[ClassMerge] = []
    replay_parts: list[np.ndarray] = []
    for label in labels:
        positions = np.flatnonzero(base_labels == label)
        drift_rows = int(drift_counts.get(label, 0))
        needed = max(0, target - drift_rows) if len(positions) else 0
        chosen, resampled = _replay_positions(label, positions, needed, config, rng)
        replay_parts.append(chosen)
        classes.append(
            ClassMerge(
                label=label,
                drift_rows=drift_rows,
                base_rows=len(chosen),
                base_available=len(positions),
                resampled=resampled,
            )
        )

    novel = tuple(c.label for c in classes if c.base_available == 0)
    if largest_attack == 0:
        note = "the drift set holds no attack rows: nothing was replayed"
    else:
        note = f"each class replayed towards T={target} rows"
        if novel:
            note += f"; novel classes {list(novel)} kept as drift rows only"

    replayed = base.iloc[np.concatenate(replay_parts) if replay_parts else []][columns]
    parts = [drift[columns].assign(**{SOURCE_COLUMN: DRIFT_SOURCE}), replayed.assign(**{SOURCE_COLUMN: BASE_SOURCE})]
    merged = pd.concat(parts, ignore_index=True)
    frame = merged.iloc[rng.permutation(len(merged))].reset_index(drop=True)
    summary = MergeSummary(
        target_per_class=target,
        replayed=bool(len(replayed)),
        classes=tuple(classes),
        resampled_classes=tuple(c.label for c in classes if c.resampled),
        novel_classes=novel,
        note=note,
    )
    return MergeResult(frame=frame, summary=summary)
