"""Pictures for people: the error-rate curve with drift marked, a confusion matrix (PNG bytes).

>>> png = error_rate_png([0, 1] * 100, window=20, marks={"drift": 120})
>>> png[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def rolling_rate(errors: Sequence[int] | np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each position (shorter at the start)."""
    values = np.asarray(errors, dtype=np.float64)
    if values.size == 0:
        return values
    sums = np.cumsum(values)
    counts = np.minimum(np.arange(1, values.size + 1), window)
    shifted = np.concatenate([np.zeros(window), sums])[: values.size]
    return (sums - shifted) / counts


def error_rate_png(
    errors: Sequence[int] | np.ndarray,
    *,
    window: int = 200,
    marks: Mapping[str, int | None] | None = None,
    title: str = "Error rate of labelled predictions",
) -> bytes:
    """The rolling error rate over the stream, with named positions (e.g. ADWIN's detection) marked."""
    figure, axis = plt.subplots(figsize=(8, 3))
    axis.plot(rolling_rate(errors, window), color="tab:blue", linewidth=1, label=f"error rate ({window} flows)")
    for i, (name, position) in enumerate((marks or {}).items()):
        if position is not None:
            axis.axvline(position, color=f"C{i + 1}", linestyle="--", label=f"{name} @ {position}")
    axis.set_xlabel("labelled flow")
    axis.set_ylabel("error rate")
    axis.set_ylim(0, 1)
    axis.set_title(title)
    axis.legend(loc="upper left", fontsize=8)
    return _png(figure)


def confusion_matrix_png(y_true: Sequence[str], y_pred: Sequence[str], *, title: str = "Confusion matrix") -> bytes:
    """A labelled confusion matrix with counts in the cells."""
    labels = sorted(set(y_true) | set(y_pred))
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    size = max(4.0, 0.6 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for (row, col), count in np.ndenumerate(matrix):
        axis.text(col, row, str(count), ha="center", va="center", fontsize=8)
    axis.set_title(title)
    return _png(figure)
