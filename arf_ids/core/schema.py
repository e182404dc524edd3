"""Flow schema: the ordered feature names a model reads.

The schema is data, not code: every model bundle stores its own feature order, so a
model trained on the 76 columns of a full CICFlowMeter export works exactly like one
trained on the 19 columns of the CIC-IDS2017 sample.

>>> schema = FlowSchema(features=("a", "b"))
>>> schema.vector({"b": 2, "a": 1}).tolist()
[1.0, 2.0]
>>> schema.vector([1, 2]).tolist()
[1.0, 2.0]
>>> schema.vector({"a": 1})
Traceback (most recent call last):
...
arf_ids.core.errors.InvalidFlowError: feature 'b' is missing
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from arf_ids.core.errors import InvalidFlowError

#: The 19 CICFlowMeter features of the CIC-IDS2017 sample (PWPAE's ``cic_0.01km.csv``),
#: spelled exactly as CICFlowMeter writes them.
CIC_IDS2017_FEATURES: tuple[str, ...] = (
    "Flow Duration",
    "Total Length of Fwd Packets",
    "Fwd Packet Length Max",
    "Fwd Packet Length Mean",
    "Bwd Packet Length Max",
    "Bwd Packet Length Min",
    "Flow IAT Mean",
    "Flow IAT Min",
    "Fwd IAT Min",
    "Fwd Header Length",
    "Bwd Header Length",
    "Fwd Packets/s",
    "Bwd Packets/s",
    "Min Packet Length",
    "URG Flag Count",
    "Down/Up Ratio",
    "Init_Win_bytes_forward",
    "Init_Win_bytes_backward",
    "min_seg_size_forward",
)

Flow = Mapping[str, Any] | Sequence[Any]


def _as_finite_float(feature: str, value: Any, index: int | None) -> float:
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes):
        kind = "missing (null)" if value is None else f"not a number ({type(value).__name__} {value!r})"
        raise InvalidFlowError(feature, f"is {kind}", index=index)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidFlowError(feature, f"is not a number ({value!r})", index=index) from None
    if not math.isfinite(number):
        raise InvalidFlowError(feature, f"is not finite ({number})", index=index)
    return number


class FlowSchema(BaseModel):
    """An ordered, duplicate-free tuple of feature names."""

    model_config = ConfigDict(frozen=True)

    features: tuple[str, ...]

    @field_validator("features")
    @classmethod
    def _unique_and_non_empty(cls, features: tuple[str, ...]) -> tuple[str, ...]:
        if not features:
            raise ValueError("a schema needs at least one feature")
        seen: set[str] = set()
        dupes = [f for f in features if f in seen or seen.add(f)]
        if dupes:
            raise ValueError(f"duplicate feature names: {dupes}")
        return features

    def __len__(self) -> int:
        return len(self.features)

    def vector(self, flow: Flow, *, index: int | None = None) -> np.ndarray:
        """One flow (name-to-value mapping, or a list in feature order) as a float vector.

        >>> FlowSchema(features=("a", "b")).vector({"b": 2.0, "a": 1.0}).tolist()
        [1.0, 2.0]
        """
        clean = self._clean_vector(flow)
        if clean is not None:
            return clean
        if isinstance(flow, Mapping):
            known = set(self.features)
            unknown = [name for name in flow if name not in known]
            if unknown:
                raise InvalidFlowError(unknown[0], "is not a feature of this model", index=index)
            values = []
            for name in self.features:
                if name not in flow:
                    raise InvalidFlowError(name, "is missing", index=index)
                values.append(_as_finite_float(name, flow[name], index))
            return np.asarray(values, dtype=np.float64)
        if isinstance(flow, str | bytes) or not isinstance(flow, Sequence | np.ndarray):
            raise InvalidFlowError(None, f"a flow must be a mapping or a list, not {type(flow).__name__}", index=index)
        if len(flow) != len(self.features):
            raise InvalidFlowError(
                None, f"has {len(flow)} values but the model reads {len(self.features)} features", index=index
            )
        return np.asarray(
            [_as_finite_float(name, value, index) for name, value in zip(self.features, flow, strict=True)],
            dtype=np.float64,
        )

    def checked_values(self, flow: Flow) -> tuple[float, ...]:
        """A flow whose values are already finite floats, in feature order, as a tuple: no array is built.

        For a caller whose own validation let only finite floats through (the service's
        request models); the names and the length are still checked, and a flow without
        exactly the schema's names (or length) raises what :meth:`vector` raises.

        >>> FlowSchema(features=("a", "b")).checked_values({"b": 2.0, "a": 1.0})
        (1.0, 2.0)
        """
        n = len(self.features)
        if n > 1 and isinstance(flow, dict) and len(flow) == n:  # one feature: itemgetter gives the value alone
            try:
                return self._in_order(flow)
            except KeyError:
                pass
        elif isinstance(flow, list) and len(flow) == n:
            return tuple(flow)
        return tuple(self.vector(flow).tolist())

    @functools.cached_property
    def _in_order(self) -> operator.itemgetter[Any]:
        """A mapping's values in feature order (``KeyError`` for a missing name)."""
        return operator.itemgetter(*self.features)

    def _clean_vector(self, flow: Flow) -> np.ndarray | None:
        """The vector of a flow that is clean (exactly the schema's names or length, finite Python floats), else None.

        The fast path of :meth:`vector`: a flow it declines takes the checks that name the problem.
        """
        if isinstance(flow, dict):
            if len(flow) != len(self.features):
                return None
            try:
                values = [flow[name] for name in self.features]
            except KeyError:
                return None
        elif isinstance(flow, list) and len(flow) == len(self.features):
            values = flow
        elif isinstance(flow, np.ndarray) and flow.shape == (len(self.features),) and flow.dtype == np.float64:
            return flow if np.isfinite(flow).all() else None
        else:
            return None
        if set(map(type, values)) != {float}:  # exact type: no bool, no str, no None
            return None
        # A NaN or an infinity makes the sum so (as may an overflow of finite values: those take the slow path).
        return np.array(values, dtype=np.float64) if math.isfinite(sum(values)) else None

    def matrix(self, flows: Sequence[Flow]) -> np.ndarray:
        """Many flows as an ``(n, n_features)`` matrix; the first bad flow raises."""
        if len(flows) == 0:
            return np.empty((0, len(self.features)), dtype=np.float64)
        return np.vstack([self.vector(flow, index=i) for i, flow in enumerate(flows)])

    def column_matrix(
        self, columns: Mapping[str, Sequence[Any]], rows: int, *, numbers_checked: bool = False
    ) -> np.ndarray:
        """Flows given as one list of values per feature (any order of features) as an ``(rows, n_features)`` matrix.

        Every feature of the schema must be there and no other, each with ``rows`` finite
        numbers; the first problem raises :class:`InvalidFlowError` naming the feature (and
        the flow, by position). ``numbers_checked`` skips the scan of each value's type when the
        caller's own validation already let only numbers through (finiteness is checked anyway).

        >>> FlowSchema(features=("a", "b")).column_matrix({"b": [2.0, 4.0], "a": [1, 3]}, 2).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
        >>> FlowSchema(features=("a",)).column_matrix({"a": [1.0, float("nan")]}, 2)
        Traceback (most recent call last):
        ...
        arf_ids.core.errors.InvalidFlowError: flow 1: feature 'a' is not finite (nan)
        """
        known = set(self.features)
        unknown = [name for name in columns if name not in known]
        if unknown:
            raise InvalidFlowError(unknown[0], "is not a feature of this model")
        matrix = np.empty((rows, len(self.features)), dtype=np.float64)
        for position, name in enumerate(self.features):
            if name not in columns:
                raise InvalidFlowError(name, "is missing")
            values = columns[name]
            if len(values) != rows:
                raise InvalidFlowError(name, f"has {len(values)} values for {rows} flows")
            if isinstance(values, np.ndarray):
                numeric = values.dtype.kind in "fiu"
            elif numbers_checked:
                numeric = True
            else:
                numeric = set(map(type, values)) <= {float, int}
            if not numeric:  # bool, str, None...: find and name the first
                for index, value in enumerate(values):
                    _as_finite_float(name, value, index)
            column = matrix[:, position]
            try:
                column[:] = values
            except OverflowError:
                raise InvalidFlowError(name, "holds an integer too large for a float") from None
            finite = np.isfinite(column)
            if not finite.all():
                index = int(np.argmin(finite))
                raise InvalidFlowError(name, f"is not finite ({column[index]})", index=index)
        return matrix

    def frame_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The schema's columns of a data frame, validated, as a float matrix."""
        missing = [name for name in self.features if name not in frame.columns]
        if missing:
            raise InvalidFlowError(missing[0], "is missing from the data frame")
        values = frame.loc[:, list(self.features)]
        try:
            matrix = values.to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            for name in self.features:
                if pd.to_numeric(values[name], errors="coerce").isna().any() and not values[name].isna().all():
                    raise InvalidFlowError(name, "holds values that are not numbers") from None
            raise
        bad_rows, bad_cols = np.nonzero(~np.isfinite(matrix))
        if bad_rows.size:
            raise InvalidFlowError(self.features[bad_cols[0]], "is missing or not finite", index=int(bad_rows[0]))
        return matrix


DEFAULT_SCHEMA = FlowSchema(features=CIC_IDS2017_FEATURES)
