"""The served model: bundle, its compiled form, registry coordinates and provenance, swapped as one object.

A request reads :attr:`ModelHolder.current` once and uses that object to the end, so it
sees one model's scaler, label encoder, feature order and forest together, never a mix;
a swap is a single reference assignment that in-flight requests do not notice.
:meth:`ServedModel.of` compiles the bundle (and warms the compiled kernels up) where the
model is loaded, in the loader's worker thread, so requests only ever predict.

>>> import numpy as np
>>> from arf_ids.core.model import ArfConfig, ModelBundle
>>> from arf_ids.core.schema import FlowSchema
>>> X = np.random.default_rng(0).normal(size=(200, 2))
>>> bundle = ModelBundle.train(X, np.where(X[:, 0] > 0, "ATTACK", "BENIGN"), schema=FlowSchema(features=("a", "b")),
...                            classes=("BENIGN", "ATTACK"), config=ArfConfig(n_models=3))
>>> holder = ModelHolder()
>>> holder.swap(ServedModel.of(bundle, version=1, sha256="ab", run_id="r1", source="registry"))
0
>>> holder.swap(ServedModel.of(bundle, version=2, sha256="cd", run_id="r2", source="registry"))
1
>>> holder.current.version, holder.reload_count
(2, 1)
>>> holder.current.compiled.predict_one({"a": 3.0, "b": 0.0}).label
'ATTACK'
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from arf_ids.core.compiled import CompiledModel
from arf_ids.core.model import ModelBundle

ModelSource = Literal["registry", "local copy"]


@dataclass(frozen=True, slots=True)
class ServedModel:
    """One loaded, verified model, its compiled form (what requests predict with) and where it came from."""

    bundle: ModelBundle
    version: int
    sha256: str
    run_id: str
    source: ModelSource
    loaded_at: datetime
    compiled: CompiledModel

    @classmethod
    def of(cls, bundle: ModelBundle, *, version: int, sha256: str, run_id: str, source: ModelSource) -> ServedModel:
        """Compile ``bundle`` and warm the kernels up (blocking: call it where the model is loaded)."""
        compiled = bundle.compile()
        compiled.warm_up()
        return cls(bundle, version, sha256, run_id, source, datetime.now(UTC), compiled)


class ModelHolder:
    """Holds the served model; :meth:`swap` replaces it atomically."""

    def __init__(self) -> None:
        self._current: ServedModel | None = None
        self._reload_count = 0
        self._lock = threading.Lock()

    @property
    def current(self) -> ServedModel | None:
        """The model to use for one whole request (None until the first load)."""
        return self._current

    @property
    def reload_count(self) -> int:
        """How many times a different version replaced the served one."""
        return self._reload_count

    def swap(self, model: ServedModel) -> int:
        """Serve ``model`` from now on; returns the reload count (a new version counts one)."""
        with self._lock:
            previous = self._current
            if previous is not None and previous.version != model.version:
                self._reload_count += 1
            self._current = model
            return self._reload_count
