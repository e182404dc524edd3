"""Durable log of predictions and true labels, the raw material of drift detection.

The service writes one :class:`PredictionRecord` per classified flow; analysts or a
feedback feed later write a :class:`LabelRecord` with the flow's true label (a label
may arrive before its prediction). The drift sensor reads :meth:`LogStore.error_stream`,
retraining reads :meth:`LogStore.labelled_frame`.

>>> from datetime import UTC, datetime
>>> store = LogStore("sqlite://")  # in memory; deployments use sqlite:///path/logs.db or PostgreSQL
>>> at = datetime(2024, 1, 1, 12, tzinfo=UTC)
>>> store.write_predictions([PredictionRecord("f1", at, {"Flow Duration": 3.0}, "DoS", 0.9, 80, "1")])
1
>>> store.write_predictions([PredictionRecord("f1", at, {"Flow Duration": 9.0}, "BENIGN", 0.6, 80, "1")])
0
>>> store.write_labels([LabelRecord("f1", "BENIGN", at)], known_labels=["BENIGN", "DoS"])
1
>>> store.labelled_frame()[["flow_id", "predicted_label", "label", "Flow Duration"]].values.tolist()
[['f1', 'DoS', 'BENIGN', 3.0]]
>>> store.error_stream().errors.tolist()
[True]
>>> store.counts()
{'predictions': 1, 'labels': 1, 'labelled': 1}

Semantics:

* Writing a ``flow_id`` that is already stored changes nothing: the first write wins
  (also within one batch), and the write methods return how many records were new.
* Each write call is one transaction: a batch with one bad record writes nothing.
* Times are stored in UTC and returned as aware UTC datetimes. Naive datetimes (in
  records and in query windows) are taken to be UTC.
* Durability on SQLite: WAL journal with ``synchronous=NORMAL`` by default. A committed
  write survives a crash of the process (SIGKILL included), because the WAL frames are
  already in the operating system's page cache; on power loss or an OS crash the last
  transactions before the next WAL checkpoint may be lost, but the database stays
  consistent. ``sqlite_synchronous="FULL"`` syncs the WAL on every commit and survives
  power loss too, at the cost of one fsync per write call.
* Only SQLite and PostgreSQL are supported (dialect-aware ``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    TypeDecorator,
    case,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateIndex, CreateTable

from arf_ids.core.errors import ArfIdsError, InvalidFlowError, UnknownLabelError
from arf_ids.core.schema import _as_finite_float

SUPPORTED_DIALECTS: tuple[str, ...] = ("sqlite", "postgresql")

#: Columns of :meth:`LogStore.labelled_frame` before the feature columns.
LABELLED_COLUMNS: tuple[str, ...] = (
    "flow_id",
    "predicted_at",
    "predicted_label",
    "confidence",
    "trees_used",
    "model_version",
    "label",
    "labelled_at",
)


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One classified flow, as the service saw it."""

    flow_id: str
    predicted_at: datetime
    features: Mapping[str, float]
    predicted_label: str
    confidence: float
    trees_used: int
    model_version: str


@dataclass(frozen=True, slots=True)
class LabelRecord:
    """The true label of a flow, known later than its prediction (or earlier)."""

    flow_id: str
    true_label: str
    labelled_at: datetime


class ErrorStream(NamedTuple):
    """Labelled predictions in time order: when, and whether the model was wrong."""

    times: pd.DatetimeIndex
    errors: np.ndarray  # bool, True where predicted_label != true label


class _UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in; aware UTC datetimes out; naive input is taken as UTC.

    SQLite keeps the UTC wall time as text (which sorts chronologically); PostgreSQL
    keeps a ``TIMESTAMP WITH TIME ZONE``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = _as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _tables() -> tuple[MetaData, Table, Table]:
    metadata = MetaData()
    predictions = Table(
        "predictions",
        metadata,
        Column("flow_id", Text, primary_key=True),
        Column("predicted_at", _UtcDateTime, nullable=False),
        Column("features", JSON, nullable=False),
        Column("predicted_label", Text, nullable=False),
        Column("confidence", Float, nullable=False),
        Column("trees_used", Integer, nullable=False),
        Column("model_version", Text, nullable=False),
        Index("ix_predictions_predicted_at", "predicted_at"),
    )
    labels = Table(
        "labels",
        metadata,
        Column("flow_id", Text, primary_key=True),
        Column("true_label", Text, nullable=False),
        Column("labelled_at", _UtcDateTime, nullable=False),
    )
    return metadata, predictions, labels


def _display(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ArfIdsError(f"log store URL {url!r} is not a SQLAlchemy database URL: {error}") from None
    if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
        raise ArfIdsError(
            f"log store URL {_display(parsed)!r} uses {parsed.get_backend_name()!r}; "
            f"supported databases: {', '.join(SUPPORTED_DIALECTS)}"
        )
    if parsed.drivername == "postgresql":
        # psycopg (3) is the project's PostgreSQL driver; SQLAlchemy's bare default is psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


#: Prepared statements sqlite3 keeps per connection (its default, 128, held one multi-row INSERT per
#: distinct batch size: a long-running service's memory grew by ~18% over 100,000 requests; `make bench`).
SQLITE_CACHED_STATEMENTS = 16


def _sqlite_engine(url: URL, synchronous: str, busy_timeout_seconds: float) -> Engine:
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    connect_args = {"timeout": busy_timeout_seconds, "cached_statements": SQLITE_CACHED_STATEMENTS}
    if in_memory:
        engine = create_engine(url, poolclass=StaticPool, connect_args={**connect_args, "check_same_thread": False})
    else:
        Path(str(url.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    return engine


def _check_text(value: object, field: str, index: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidFlowError(None, f"{field} must be a non-empty string, not {value!r}", index=index)
    return value


def _check_time(value: object, field: str, index: int) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidFlowError(None, f"{field} must be a datetime, not {type(value).__name__}", index=index)
    return value


def _prediction_row(record: PredictionRecord, index: int) -> dict[str, Any]:
    if not isinstance(record.features, Mapping):
        raise InvalidFlowError(None, f"features must be a mapping, not {type(record.features).__name__}", index=index)
    features: dict[str, float] = {}
    for name, value in record.features.items():
        if not isinstance(name, str) or not name:
            raise InvalidFlowError(None, f"feature names must be non-empty strings, not {name!r}", index=index)
        if name in LABELLED_COLUMNS:
            raise InvalidFlowError(name, "clashes with a column of the log; rename the feature", index=index)
        features[name] = _as_finite_float(name, value, index)
    confidence = record.confidence
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not math.isfinite(confidence):
        raise InvalidFlowError(None, f"confidence must be a finite number, not {confidence!r}", index=index)
    if not 0.0 <= confidence <= 1.0:
        raise InvalidFlowError(None, f"confidence must lie in [0, 1], not {confidence!r}", index=index)
    trees_used = record.trees_used
    if isinstance(trees_used, bool) or not isinstance(trees_used, int | np.integer) or trees_used < 0:
        raise InvalidFlowError(None, f"trees_used must be a non-negative integer, not {trees_used!r}", index=index)
    if not isinstance(record.model_version, str):
        raise InvalidFlowError(None, f"model_version must be a string, not {record.model_version!r}", index=index)
    return {
        "flow_id": _check_text(record.flow_id, "flow_id", index),
        "predicted_at": _check_time(record.predicted_at, "predicted_at", index),
        "features": features,
        "predicted_label": _check_text(record.predicted_label, "predicted_label", index),
        "confidence": float(confidence),
        "trees_used": int(trees_used),
        "model_version": record.model_version,
    }


def _label_row(record: LabelRecord, index: int, known_labels: tuple[str, ...] | None) -> dict[str, Any]:
    true_label = _check_text(record.true_label, "true_label", index)
    if known_labels is not None and true_label not in known_labels:
        raise UnknownLabelError(true_label, known_labels)
    return {
        "flow_id": _check_text(record.flow_id, "flow_id", index),
        "true_label": true_label,
        "labelled_at": _check_time(record.labelled_at, "labelled_at", index),
    }


def _first_per_flow(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with duplicate flow ids dropped, keeping the first (first write wins)."""
    by_flow: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_flow.setdefault(row["flow_id"], row)
    return list(by_flow.values())


def _utc_index(moments: Sequence[datetime]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(moments), utc=True))


class LogStore:
    """The prediction and label log in any SQLite or PostgreSQL database.

    ``url`` is a SQLAlchemy URL (``sqlite:///path/logs.db``, ``postgresql+psycopg://…``;
    a bare ``postgresql://`` uses psycopg). SQLite files get their parent directories
    created, WAL journaling, the chosen ``synchronous`` level and a busy timeout. The
    constructor creates the tables if they are missing (:meth:`create_schema`).
    """

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout_seconds: float = 30.0,
    ) -> None:
        if sqlite_synchronous not in ("NORMAL", "FULL"):
            raise ArfIdsError(f"sqlite_synchronous must be 'NORMAL' or 'FULL', not {sqlite_synchronous!r}")
        self._url = _parse_url(url)
        try:
            if self._url.get_backend_name() == "sqlite":
                self._engine = _sqlite_engine(self._url, sqlite_synchronous, busy_timeout_seconds)
            else:
                self._engine = create_engine(self._url, pool_pre_ping=True)
        except (NoSuchModuleError, ImportError) as error:
            raise ArfIdsError(f"cannot open log store {_display(self._url)!r}: {error}") from None
        self._metadata, self._predictions, self._labels = _tables()
        self.create_schema()

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return _display(self._url)

    def __repr__(self) -> str:
        return f"LogStore({self.url!r})"

    def create_schema(self) -> None:
        """Create the tables and index if they do not exist (idempotent, safe to race)."""
        with self._engine.begin() as connection:
            for table in self._metadata.sorted_tables:
                connection.execute(CreateTable(table, if_not_exists=True))
                for index in table.indexes:
                    connection.execute(CreateIndex(index, if_not_exists=True))

    def close(self) -> None:
        """Release the database connections; the store can no longer be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _insert_new(self, table: Table, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).on_conflict_do_nothing(index_elements=["flow_id"]).returning(table.c.flow_id)
        with self._engine.begin() as connection:
            return len(connection.execute(statement, rows).all())

    def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        """Store predictions in one transaction; returns how many flow ids were new.

        Every record is validated first: an empty ``flow_id``, a non-finite feature value
        or a confidence outside [0, 1] raises :class:`InvalidFlowError` and writes nothing.
        """
        rows = [_prediction_row(record, index) for index, record in enumerate(records)]
        return self._insert_new(self._predictions, _first_per_flow(rows))

    def write_labels(self, records: Sequence[LabelRecord], *, known_labels: Sequence[str] | None = None) -> int:
        """Store true labels in one transaction; returns how many flow ids were new.

        With ``known_labels`` a label outside that vocabulary raises
        :class:`UnknownLabelError` and nothing is written.
        """
        known = None if known_labels is None else tuple(known_labels)
        rows = [_label_row(record, index, known) for index, record in enumerate(records)]
        return self._insert_new(self._labels, _first_per_flow(rows))

    def _labelled(self, columns: Sequence[Any], start: datetime | None, end: datetime | None) -> Select[Any]:
        predictions, labels = self._predictions, self._labels
        statement = select(*columns).join(labels, labels.c.flow_id == predictions.c.flow_id)
        if start is not None:
            statement = statement.where(predictions.c.predicted_at >= start)
        if end is not None:
            statement = statement.where(predictions.c.predicted_at < end)
        return statement.order_by(predictions.c.predicted_at, predictions.c.flow_id)

    def labelled_frame(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        feature_names: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Labelled predictions with ``start <= predicted_at < end``, oldest first.

        Columns: :data:`LABELLED_COLUMNS` (``label`` is the true label), then one float
        column per feature. ``feature_names`` picks and orders the features (a feature a
        row lacks is NaN); without it every stored feature appears, in order of first
        appearance.
        """
        if feature_names is not None:
            feature_names = list(feature_names)
            for position, name in enumerate(feature_names):
                if name in LABELLED_COLUMNS or name in feature_names[:position]:
                    raise InvalidFlowError(name, "cannot be requested: it is a log column or listed twice")
        p, lab = self._predictions, self._labels
        columns = [
            p.c.flow_id,
            p.c.predicted_at,
            p.c.predicted_label,
            p.c.confidence,
            p.c.trees_used,
            p.c.model_version,
            lab.c.true_label,
            lab.c.labelled_at,
            p.c.features,
        ]
        with self._engine.connect() as connection:
            rows = connection.execute(self._labelled(columns, start, end)).all()
        by_column = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
        frame = pd.DataFrame(
            {
                "flow_id": pd.Series(by_column[0], dtype=object),
                "predicted_at": _utc_index(by_column[1]),
                "predicted_label": pd.Series(by_column[2], dtype=object),
                "confidence": pd.Series(by_column[3], dtype=np.float64),
                "trees_used": pd.Series(by_column[4], dtype=np.int64),
                "model_version": pd.Series(by_column[5], dtype=object),
                "label": pd.Series(by_column[6], dtype=object),
                "labelled_at": _utc_index(by_column[7]),
            }
        )
        records = list(by_column[8])
        features = (
            pd.DataFrame.from_records(records, columns=feature_names, index=frame.index)
            if records
            else pd.DataFrame(columns=feature_names or [], index=frame.index)
        )
        return pd.concat([frame, features.astype(np.float64)], axis=1)

    def error_stream(self, start: datetime | None = None, end: datetime | None = None) -> ErrorStream:
        """When each labelled prediction was made and whether it was wrong, oldest first."""
        p, lab = self._predictions, self._labels
        wrong = case((p.c.predicted_label == lab.c.true_label, 0), else_=1)
        with self._engine.connect() as connection:
            rows = connection.execute(self._labelled([p.c.predicted_at, wrong], start, end)).all()
        return ErrorStream(
            times=_utc_index([row[0] for row in rows]),
            errors=np.fromiter((row[1] for row in rows), dtype=bool, count=len(rows)),
        )

    def counts(self) -> dict[str, int]:
        """How many predictions, labels, and predictions with a label are stored."""
        p, lab = self._predictions, self._labels
        with self._engine.connect() as connection:
            return {
                "predictions": connection.execute(select(func.count()).select_from(p)).scalar_one(),
                "labels": connection.execute(select(func.count()).select_from(lab)).scalar_one(),
                "labelled": connection.execute(
                    select(func.count()).select_from(p.join(lab, lab.c.flow_id == p.c.flow_id))
                ).scalar_one(),
            }

    def last_prediction_at(self) -> datetime | None:
        """The newest ``predicted_at`` (aware UTC), or None when no prediction is stored."""
        with self._engine.connect() as connection:
            return connection.execute(select(func.max(self._predictions.c.predicted_at))).scalar_one()
