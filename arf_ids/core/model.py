"""The model bundle: a seeded river ARF with its frozen scaler, label vocabulary and schema.

One ``ModelBundle`` is one versioned artifact. It trains in one ordered pass, learns
more later, predicts with the *confident vote* (see ``confident_vote``) and round-trips
through bytes whose sha256 the registry records. ``compile()`` turns it into an immutable
``CompiledModel`` (``arf_ids.core.compiled``) that gives the same answers (probabilities
within 1e-9) some 400 times faster; ``predict_matrix`` compiles afresh for batches,
``predict_matrix_reference`` keeps asking river.

>>> import numpy as np
>>> from arf_ids.core.schema import FlowSchema
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(600, 2))
>>> y = np.where(X[:, 0] > 0, "ATTACK", "BENIGN")
>>> bundle = ModelBundle.train(
...     X, y, schema=FlowSchema(features=("a", "b")), classes=("BENIGN", "ATTACK"),
...     config=ArfConfig(n_models=3),
... )
>>> bundle.predict_one({"a": 3.0, "b": 0.0}).label
'ATTACK'
>>> bundle.predict_labels(np.array([[-3.0, 0.0]])).tolist()
['BENIGN']
>>> ModelBundle.from_bytes(bundle.to_bytes()).predict_one([3.0, 0.0]).label
'ATTACK'
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import random
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import river
from pydantic import BaseModel, ConfigDict, Field, field_validator
from river import drift, forest, proba

from arf_ids.core.errors import (
    InvalidFlowError,
    MalformedDataError,
    ModelIntegrityError,
    UnknownLabelError,
)
from arf_ids.core.schema import Flow, FlowSchema

if TYPE_CHECKING:
    from arf_ids.core.compiled import CompiledModel

#: Version of the byte layout written by ``ModelBundle.to_bytes``; bump it when the
#: layout changes so that old artifacts fail with ``ModelIntegrityError``.
FORMAT_VERSION = 1
_FORMAT_NAME = "arf_ids.ModelBundle"
#: Standard deviations at or below this are treated as zero (constant feature -> std 1).
_ZERO_STD = 1e-12
#: ``predict_matrix`` compiles the forest from this many rows on (fewer: river flow by flow).
#: Measured on 2 cores: compiling a 10-member forest after 20k flows (488 leaves) takes
#: 7-30 ms, as long as asking river about 35-90 flows.
COMPILE_MIN_ROWS = 64


class ArfConfig(BaseModel):
    """Hyper-parameters of the river ``ARFClassifier`` and of the confident vote.

    Detector defaults are river 0.26.1's own. ``lambda_value=10`` and ``grace_period=25``
    (river: 6 and 50) were measured on the generator's 7 classes (base model, 4 seeds,
    macro-F1 0.88-0.91 against 0.56-0.89) and on the CIC-IDS2017 sample (FIELD-NOTES:
    99.16% / F1 97.54 against 99.05 / 97.21): rare families need trees that split sooner
    and members that see each flow more often. ``binary_split`` stays
    ``False``: it only changes splits on nominal features, and every flow feature is
    numeric (numeric splits are binary anyway), so it has no effect on flow models.

    >>> ArfConfig().build_forest().n_models
    10
    """

    model_config = ConfigDict(frozen=True)

    n_models: int = Field(10, ge=1)
    max_features: int | float | Literal["sqrt", "log2"] | None = "sqrt"
    lambda_value: int = Field(10, ge=1)
    grace_period: int = Field(25, ge=1)
    max_depth: int | None = Field(None, ge=1)
    split_criterion: Literal["info_gain", "gini", "hellinger"] = "info_gain"
    leaf_prediction: Literal["mc", "nb", "nba"] = "nba"
    binary_split: bool = False
    split_confidence: float = Field(0.01, gt=0, lt=1, description="river's tree `delta`")
    tie_threshold: float = Field(0.05, gt=0, description="river's tree `tau`")
    drift_delta: float = Field(0.001, gt=0, lt=1, description="ADWIN delta of each tree's drift detector")
    warning_delta: float = Field(0.01, gt=0, lt=1, description="ADWIN delta of each tree's warning detector")
    seed: int = 42
    confident_entropy_nats: float = Field(0.25, gt=0)
    min_confident_trees: int = Field(3, ge=1)

    def build_forest(self) -> forest.ARFClassifier:
        """A new, untrained, seeded river ``ARFClassifier`` with this configuration."""
        return forest.ARFClassifier(
            n_models=self.n_models,
            max_features=self.max_features,
            lambda_value=self.lambda_value,
            drift_detector=drift.ADWIN(delta=self.drift_delta),
            warning_detector=drift.ADWIN(delta=self.warning_delta),
            grace_period=self.grace_period,
            max_depth=self.max_depth,
            split_criterion=self.split_criterion,
            delta=self.split_confidence,
            tau=self.tie_threshold,
            leaf_prediction=self.leaf_prediction,
            binary_split=self.binary_split,
            seed=self.seed,
        )


@dataclass(frozen=True)
class FeatureScaler:
    """Signed log1p (``sign(x) * log1p(|x|)``) then standardisation, fitted once and fixed.

    It never refits: tree split thresholds live in the scaled space, so the transform must
    stay the same across every later ``learn`` and retrain.

    >>> scaler = FeatureScaler.fit(np.array([[0.0, 5.0], [np.e - 1, 5.0]]))
    >>> scaler.transform(np.array([[0.0, 5.0], [np.e - 1, 5.0]])).round(6).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """

    means: tuple[float, ...]
    stds: tuple[float, ...]

    @staticmethod
    def signed_log1p(X: np.ndarray) -> np.ndarray:
        """``sign(x) * log1p(|x|)``: tames heavy-tailed counts and rates, keeps the sign."""
        return np.sign(X) * np.log1p(np.abs(X))

    @classmethod
    def fit(cls, X: np.ndarray) -> FeatureScaler:
        """Fit on a finite ``(n, n_features)`` matrix with at least one row."""
        matrix = np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            raise MalformedDataError("scaler input", f"needs a non-empty 2-D matrix, got shape {matrix.shape}")
        bad_rows, bad_cols = np.nonzero(~np.isfinite(matrix))
        if bad_rows.size:
            raise InvalidFlowError(f"column {bad_cols[0]}", "is not finite", index=int(bad_rows[0]))
        logged = cls.signed_log1p(matrix)
        stds = logged.std(axis=0)
        stds = np.where(stds > _ZERO_STD, stds, 1.0)
        return cls(means=tuple(logged.mean(axis=0).tolist()), stds=tuple(stds.tolist()))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Scale one vector ``(n_features,)`` or a matrix ``(n, n_features)``."""
        values = np.asarray(X, dtype=np.float64)
        if values.ndim not in (1, 2) or values.shape[-1] != len(self.means):
            raise MalformedDataError("scaler input", f"needs {len(self.means)} features, got shape {values.shape}")
        return (self.signed_log1p(values) - np.asarray(self.means)) / np.asarray(self.stds)


class LabelEncoder(BaseModel):
    """The platform's label vocabulary, in a fixed order; a label's code is its index.

    It may list classes no training data has shown yet (a novel attack family).

    >>> labels = LabelEncoder(classes=("BENIGN", "DoS", "PortScan"))
    >>> labels.encode(["DoS", "BENIGN"]).tolist()
    [1, 0]
    >>> labels.decode([2]).tolist()
    ['PortScan']
    >>> labels.encode(["Worm"])
    Traceback (most recent call last):
    ...
    arf_ids.core.errors.UnknownLabelError: unknown label 'Worm'; known labels: BENIGN, DoS, PortScan
    """

    model_config = ConfigDict(frozen=True)

    classes: tuple[str, ...]

    @field_validator("classes")
    @classmethod
    def _unique_and_non_empty(cls, classes: tuple[str, ...]) -> tuple[str, ...]:
        if not classes:
            raise ValueError("a label vocabulary needs at least one class")
        if any(not name for name in classes):
            raise ValueError("class names must be non-empty strings")
        if len(set(classes)) != len(classes):
            raise ValueError(f"duplicate class names in {classes}")
        return classes

    def encode(self, labels: Iterable[str]) -> np.ndarray:
        """Integer codes (``int64``) of the labels; an unknown label raises ``UnknownLabelError``."""
        index = {name: code for code, name in enumerate(self.classes)}
        codes = []
        for label in labels:
            code = index.get(label) if isinstance(label, str) else None
            if code is None:
                raise UnknownLabelError(label, self.classes)
            codes.append(code)
        return np.asarray(codes, dtype=np.int64)

    def decode(self, codes: Iterable[int]) -> np.ndarray:
        """Class names (a ``str`` array) of integer codes; a code out of range raises."""
        values = np.asarray(list(codes), dtype=np.int64)
        out_of_range = (values < 0) | (values >= len(self.classes))
        if out_of_range.any():
            raise UnknownLabelError(int(values[out_of_range][0]), self.classes)
        return np.asarray(self.classes, dtype=str)[values]


def confident_vote(
    distributions: np.ndarray, *, entropy_threshold: float, min_confident_trees: int
) -> tuple[np.ndarray, int]:
    """Combine per-tree class distributions with the confident-tree rule.

    ``distributions`` is ``(n_trees, n_classes)``. Each row is normalised; an all-zero row
    (a tree that predicts nothing) takes no part. Trees whose entropy ``-sum p ln p`` is
    below ``entropy_threshold`` nats are *confident*. If at least ``min_confident_trees``
    are confident, their distributions are summed and normalised; otherwise the
    distributions of all trees that predict something are summed and normalised.
    Returns the combined distribution and how many trees voted (all zeros, 0 trees when
    no tree predicts anything).

    >>> dists = np.array([[0.99, 0.01], [0.98, 0.02], [0.97, 0.03], [0.2, 0.8]])
    >>> probs, used = confident_vote(dists, entropy_threshold=0.25, min_confident_trees=3)
    >>> used, probs.round(4).tolist()
    (3, [0.98, 0.02])
    >>> probs, used = confident_vote(dists[[0, 1, 3]], entropy_threshold=0.25, min_confident_trees=3)
    >>> used, probs.round(4).tolist()
    (3, [0.7233, 0.2767])
    """
    totals = distributions.sum(axis=1)
    voting = totals > 0
    normalised = distributions[voting] / totals[voting, np.newaxis]
    logs = np.log(np.where(normalised > 0, normalised, 1.0))
    entropies = -(normalised * logs).sum(axis=1)
    confident = entropies < entropy_threshold
    chosen = normalised[confident] if int(confident.sum()) >= min_confident_trees else normalised
    summed = chosen.sum(axis=0)
    total = summed.sum()
    return (summed / total if total > 0 else summed), int(chosen.shape[0])


@dataclass(frozen=True)
class Prediction:
    """One flow's verdict: the label, its probability, and how many trees voted."""

    label: str
    confidence: float
    trees_used: int
    probabilities: dict[str, float]


@dataclass(frozen=True)
class PredictionBatch:
    """Verdicts for a matrix of flows; row ``i`` of each array belongs to flow ``i``."""

    labels: np.ndarray
    confidences: np.ndarray
    trees_used: np.ndarray
    probabilities: np.ndarray
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def validated_matrix(X: np.ndarray, schema: FlowSchema) -> np.ndarray:
    """``X`` as a finite float ``(n, len(schema))`` matrix; a bad value names its feature."""
    try:
        matrix = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidFlowError(None, "the feature matrix holds values that are not numbers") from None
    if matrix.size == 0:
        return matrix.reshape(0, len(schema))
    if matrix.ndim != 2 or matrix.shape[1] != len(schema):
        raise InvalidFlowError(None, f"the feature matrix must have shape (n, {len(schema)}), got {matrix.shape}")
    bad_rows, bad_cols = np.nonzero(~np.isfinite(matrix))
    if bad_rows.size:
        raise InvalidFlowError(schema.features[bad_cols[0]], "is missing or not finite", index=int(bad_rows[0]))
    return matrix


def _unseeded_distribution(cls: type[proba.base.Distribution]) -> proba.base.Distribution:
    """An empty unseeded river distribution with a fresh ``random.Random(None)``, as river makes it.

    Unpickling then restores the rest of its state (``BUILD``, which interns attribute names).
    """
    distribution = cls.__new__(cls)
    distribution._rng = random.Random(None)
    return distribution


class _ReproduciblePickler(pickle.Pickler):
    """Pickles river objects, leaving out the OS-entropy-seeded RNG of unseeded distributions.

    Every Gaussian in a tree's splitters holds ``random.Random(None)``, used only by
    ``sample()``, which trees never call. Its state differs on every run, so pickling it
    would make two identical models give different bytes; it is rebuilt fresh on load.
    """

    def reducer_override(self, obj: object) -> Any:
        if isinstance(obj, proba.base.Distribution) and obj.seed is None:
            state = {name: value for name, value in vars(obj).items() if name != "_rng"}
            return _unseeded_distribution, (type(obj),), state
        return NotImplemented


def _reproducible_pickle(obj: object) -> bytes:
    buffer = io.BytesIO()
    _ReproduciblePickler(buffer, protocol=5).dump(obj)
    return buffer.getvalue()


@dataclass(eq=False, repr=False, kw_only=True)
class ModelBundle:
    """One versioned model: river ARF, frozen scaler, label vocabulary, feature schema.

    The ARF learns integer class codes (``labels``) on scaled features keyed by schema
    feature names. ``created_at`` is an input (default: now), so the same data, seed and
    ``created_at`` give byte-identical ``to_bytes()``. ``info`` is free, JSON-serialisable
    provenance.
    """

    arf: forest.ARFClassifier
    scaler: FeatureScaler
    labels: LabelEncoder
    schema: FlowSchema
    config: ArfConfig
    river_version: str = river.__version__
    format_version: int = FORMAT_VERSION
    trained_rows: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def classes(self) -> tuple[str, ...]:
        return self.labels.classes

    def __repr__(self) -> str:
        return (
            f"ModelBundle(members={len(self.arf)}, classes={self.classes}, features={len(self.schema)}, "
            f"trained_rows={self.trained_rows}, seed={self.seed}, created_at={self.created_at.isoformat()})"
        )

    # ----------------------------------------------------------------------- training

    @classmethod
    def train(
        cls,
        X: np.ndarray,
        y: Sequence[str],
        *,
        schema: FlowSchema,
        classes: Sequence[str],
        config: ArfConfig | None = None,
        created_at: datetime | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> ModelBundle:
        """Fit the scaler on ``X`` (raw), then learn ``X, y`` in order, one pass (default ``ArfConfig()``)."""
        config = config or ArfConfig()
        matrix = validated_matrix(X, schema)
        if matrix.shape[0] == 0:
            raise MalformedDataError("training data", "has no rows")
        bundle = cls(
            arf=config.build_forest(),
            scaler=FeatureScaler.fit(matrix),
            labels=LabelEncoder(classes=tuple(classes)),
            schema=schema,
            config=config,
            created_at=created_at or datetime.now(UTC),
            info=dict(info or {}),
        )
        bundle.learn(matrix, y)
        return bundle

    def learn(self, X: np.ndarray, y: Sequence[str], *, shuffle_seed: int | None = None) -> None:
        """Learn raw ``X, y`` in one pass: in order, or in a seeded shuffled order.

        Everything is validated before the first row is learned, so a bad label or value
        leaves the model untouched.
        """
        scaled = self.scaled_matrix(X)
        codes = self.encoded_labels(y, rows=scaled.shape[0])
        if shuffle_seed is not None:
            order = np.random.default_rng(shuffle_seed).permutation(scaled.shape[0])
            scaled, codes = scaled[order], codes[order]
        for row, code in zip(scaled, codes.tolist(), strict=True):
            self.arf.learn_one(self.river_row(row), code)
        self.trained_rows += int(scaled.shape[0])

    # ----------------------------------------------------------------- river inputs

    def scaled_matrix(self, X: np.ndarray) -> np.ndarray:
        """Raw ``X`` validated against the schema and passed through the frozen scaler."""
        return self.scaler.transform(validated_matrix(X, self.schema))

    def encoded_labels(self, y: Sequence[str], *, rows: int) -> np.ndarray:
        """Class codes of ``y``, which must hold exactly ``rows`` known labels."""
        codes = self.labels.encode(y)
        if codes.shape[0] != rows:
            raise MalformedDataError("labelled data", f"has {rows} feature rows but {codes.shape[0]} labels")
        return codes

    def river_row(self, scaled_row: np.ndarray) -> dict[str, float]:
        """One scaled row as the ``{feature name: value}`` dict river reads."""
        return dict(zip(self.schema.features, scaled_row.tolist(), strict=True))

    def river_rows(self, X: np.ndarray) -> Iterator[dict[str, float]]:
        """River inputs of raw ``X``, one dict per row, built lazily."""
        return (self.river_row(row) for row in self.scaled_matrix(X))

    # ------------------------------------------------------------------ prediction

    def _vote(self, x: dict[str, float]) -> tuple[np.ndarray, int]:
        distributions = np.zeros((len(self.arf), len(self.classes)))
        for i, tree in enumerate(self.arf):
            for code, probability in tree.predict_proba_one(x).items():
                distributions[i, code] = probability
        return confident_vote(
            distributions,
            entropy_threshold=self.config.confident_entropy_nats,
            min_confident_trees=self.config.min_confident_trees,
        )

    def predict_one(self, flow: Flow) -> Prediction:
        """Confident vote on one flow (feature mapping or values in schema order).

        The label is the most probable class (ties go to the earlier class in
        ``classes``); with no tree able to predict, it is ``classes[0]`` at confidence 0.
        It asks river directly (no compile), so it is always current on a bundle that
        learns between predictions; for many flows use ``predict_matrix`` or ``compile()``.
        """
        probabilities, trees_used = self._vote(self.river_row(self.scaler.transform(self.schema.vector(flow))))
        best = int(np.argmax(probabilities))
        return Prediction(
            label=self.classes[best],
            confidence=float(probabilities[best]),
            trees_used=trees_used,
            probabilities=dict(zip(self.classes, probabilities.tolist(), strict=True)),
        )

    def compile(self) -> CompiledModel:
        """An immutable compiled snapshot that predicts as this bundle does now, far faster.

        See ``arf_ids.core.compiled``; later learning does not reach the snapshot.
        """
        from arf_ids.core.compiled import CompiledModel  # numba loads on first use only

        return CompiledModel.from_bundle(self)

    def predict_matrix(self, X: np.ndarray) -> PredictionBatch:
        """Confident vote on each row of a raw ``(n, n_features)`` matrix in schema order.

        From ``COMPILE_MIN_ROWS`` rows on it compiles the forest afresh and predicts with
        the compiled form; fewer rows ask river flow by flow (``predict_matrix_reference``),
        which is cheaper than a compile. Both give the same labels and trees used, and
        probabilities within ``arf_ids.core.compiled.AGREEMENT`` (1e-9).
        """
        matrix = validated_matrix(X, self.schema)
        if matrix.shape[0] >= COMPILE_MIN_ROWS:
            return self.compile().predict_matrix(matrix)
        return self.predict_matrix_reference(matrix)

    def predict_matrix_reference(self, X: np.ndarray) -> PredictionBatch:
        """``predict_matrix`` by asking river's members flow by flow: the reference the compiled form matches."""
        votes = [self._vote(x) for x in self.river_rows(X)]
        probabilities = np.array([p for p, _ in votes]).reshape(len(votes), len(self.classes))
        best = probabilities.argmax(axis=1) if votes else np.empty(0, dtype=np.int64)
        return PredictionBatch(
            labels=self.labels.decode(best),
            confidences=probabilities[np.arange(len(votes)), best],
            trees_used=np.array([n for _, n in votes], dtype=np.int64),
            probabilities=probabilities,
            classes=self.classes,
        )

    def predict_labels(self, X: np.ndarray) -> np.ndarray:
        """Just the labels of ``predict_matrix``."""
        return self.predict_matrix(X).labels

    # --------------------------------------------------------------- serialisation

    def to_bytes(self) -> bytes:
        """A one-line JSON header (format, versions, payload sha256) then a pickle payload.

        The payload holds only plain values and the river forest, pickled without the
        run-dependent RNG state of river's unseeded distributions, so the same data, seed
        and ``created_at`` give the same bytes in any process. Load only artifacts whose sha256 you trust: the
        payload is a pickle.
        """
        state = {
            "arf": self.arf,
            "scaler_means": self.scaler.means,
            "scaler_stds": self.scaler.stds,
            "classes": self.classes,
            "features": self.schema.features,
            "config": self.config.model_dump_json(),
            "trained_rows": self.trained_rows,
            "created_at": self.created_at.isoformat(),
            "info": json.dumps(self.info, sort_keys=True),
        }
        payload = _reproducible_pickle(state)
        header = {
            "format": _FORMAT_NAME,
            "format_version": self.format_version,
            "river_version": self.river_version,
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
        }
        return json.dumps(header, sort_keys=True).encode() + b"\n" + payload

    @classmethod
    def from_bytes(cls, data: bytes, *, expected_sha256: str | None = None) -> ModelBundle:
        """Decode ``to_bytes`` output; any mismatch or damage raises ``ModelIntegrityError``."""
        if expected_sha256 is not None:
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected_sha256.lower():
                raise ModelIntegrityError(f"artifact sha256 {actual} does not match the expected {expected_sha256}")
        header_line, _, payload = data.partition(b"\n")
        try:
            header = json.loads(header_line)
        except (UnicodeDecodeError, ValueError):
            raise ModelIntegrityError("not an arf_ids model bundle: the header is unreadable") from None
        if not isinstance(header, dict) or header.get("format") != _FORMAT_NAME:
            raise ModelIntegrityError("not an arf_ids model bundle: the header names another format")
        if header.get("format_version") != FORMAT_VERSION:
            raise ModelIntegrityError(
                f"bundle format version {header.get('format_version')!r} is not supported "
                f"(this code reads {FORMAT_VERSION})"
            )
        if header.get("river_version") != river.__version__:
            raise ModelIntegrityError(
                f"bundle was written with river {header.get('river_version')!r} but river {river.__version__} "
                "is installed; river models do not load across versions"
            )
        if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
            raise ModelIntegrityError("bundle payload does not match the sha256 in its header (damaged or altered)")
        try:
            state = pickle.loads(payload)
            return cls(
                arf=state["arf"],
                scaler=FeatureScaler(means=tuple(state["scaler_means"]), stds=tuple(state["scaler_stds"])),
                labels=LabelEncoder(classes=tuple(state["classes"])),
                schema=FlowSchema(features=tuple(state["features"])),
                config=ArfConfig.model_validate_json(state["config"]),
                river_version=header["river_version"],
                format_version=header["format_version"],
                trained_rows=int(state["trained_rows"]),
                created_at=datetime.fromisoformat(state["created_at"]),
                info=json.loads(state["info"]),
            )
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, KeyError, TypeError, ValueError) as exc:
            # pydantic's ValidationError is a ValueError.
            raise ModelIntegrityError(f"bundle payload cannot be decoded: {type(exc).__name__}: {exc}") from exc

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the bundle to ``path`` (atomically) and return the sha256 of its bytes."""
        data = self.to_bytes()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, target)
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, expected_sha256: str | None = None) -> ModelBundle:
        """Read a bundle written by ``save``."""
        return cls.from_bytes(Path(path).read_bytes(), expected_sha256=expected_sha256)


__all__ = [
    "COMPILE_MIN_ROWS",
    "FORMAT_VERSION",
    "ArfConfig",
    "FeatureScaler",
    "LabelEncoder",
    "ModelBundle",
    "Prediction",
    "PredictionBatch",
    "confident_vote",
    "validated_matrix",
]
