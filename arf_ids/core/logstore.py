"""Durable log of predictions and true labels, the raw material of drift detection.

The service writes its predictions as :class:`PredictionColumns`, one per request: the
flow ids, the feature matrix and the predicted labels, confidences and tree counts as
columns (:meth:`LogStore.write_prediction_columns`). Other writers may hand over one
:class:`PredictionRecord` per flow (:meth:`LogStore.write_predictions`). Analysts or a
feedback feed later write a :class:`LabelRecord` with the flow's true label (a label may
arrive before its prediction). The drift sensor reads :meth:`LogStore.error_stream`,
retraining reads :meth:`LogStore.labelled_frame`.

>>> from datetime import UTC, datetime
>>> import numpy as np
>>> store = LogStore("sqlite://")  # in memory; deployments use sqlite:///path/logs.db or PostgreSQL
>>> at = datetime(2024, 1, 1, 12, tzinfo=UTC)
>>> store.write_prediction_columns([
...     PredictionColumns(
...         flow_ids=["f1", "f2"],
...         predicted_at=at,
...         feature_names=("Flow Duration", "Fwd Packets/s"),
...         features=np.array([[3.0, 1.5], [7.0, 0.5]]),
...         predicted_labels=["DoS", "BENIGN"],
...         confidences=np.array([0.9, 0.8]),
...         trees_used=np.array([80, 80]),
...         model_version="1",
...     )
... ])
2
>>> store.write_predictions([PredictionRecord("f1", at, {"Flow Duration": 9.0}, "BENIGN", 0.6, 80, "1")])
0
>>> store.write_labels([LabelRecord("f1", "BENIGN", at)], known_labels=["BENIGN", "DoS"])
1
>>> store.labelled_frame()[["flow_id", "predicted_label", "label", "Flow Duration", "Fwd Packets/s"]].values.tolist()
[['f1', 'DoS', 'BENIGN', 3.0, 1.5]]
>>> store.error_stream().errors.tolist()
[True]
>>> store.counts()
{'predictions': 2, 'labels': 1, 'labelled': 1}

Semantics:

* Writing a ``flow_id`` that is already stored changes nothing: the first write wins
  (also within one call, across and within its batches), and the write methods return
  how many flow ids were new.
* Each write call is one transaction: a call with one bad record or batch raises
  :class:`InvalidFlowError` (or :class:`UnknownLabelError`) and writes nothing.
* Times are stored in UTC and returned as aware UTC datetimes. Naive datetimes (in
  records and in query windows) are taken to be UTC.
* Durability on SQLite: WAL journal with ``synchronous=NORMAL`` by default. A committed
  write survives a crash of the process (SIGKILL included), because the WAL frames are
  already in the operating system's page cache; on power loss or an OS crash the last
  transactions before the next WAL checkpoint may be lost, but the database stays
  consistent. ``sqlite_synchronous="FULL"`` syncs the WAL on every commit and survives
  power loss too, at the cost of one fsync per write call.
* Only SQLite and PostgreSQL are supported (``ON CONFLICT DO NOTHING``).

Storage: table ``predictions`` keeps one row per flow; its ``features`` column is a binary
vector (BLOB / BYTEA) of the row's feature values as little-endian float64, and its
``feature_set`` column names the ordered feature names of that vector, kept once in table
``feature_sets`` (``id``: the first 16 hex digits of the SHA-256 of the JSON list of names;
``names``: that JSON list). Predictions are inserted with one fixed SQL statement run as a
DBAPI ``executemany`` (never a statement per batch size, which filled the driver's statement
cache). A database written by the earlier layout (features as JSON, no ``feature_set``) is
refused when opened, and left untouched. Table ``labels`` keeps one row per labelled flow.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import struct
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, repeat
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Select,
    Table,
    Text,
    TypeDecorator,
    case,
    create_engine,
    event,
    func,
    inspect,
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

#: How a stored feature vector is encoded: little-endian float64, one value per feature name.
FEATURE_DTYPE = np.dtype("<f8")


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
class PredictionColumns:
    """Predictions made together (one request), column by column: what the service logs.

    Row ``i`` is flow ``flow_ids[i]``: its feature values ``features[i]`` (in the order of
    ``feature_names``), ``predicted_labels[i]``, ``confidences[i]`` and ``trees_used[i]``.
    ``predicted_at`` and ``model_version`` hold for every row.
    """

    flow_ids: Sequence[str]
    predicted_at: datetime
    feature_names: tuple[str, ...]
    features: np.ndarray  # (n, len(feature_names)) float64
    predicted_labels: Sequence[str]
    confidences: np.ndarray  # (n,) float64
    trees_used: np.ndarray  # (n,) integer
    model_version: str

    def __len__(self) -> int:
        return len(self.flow_ids)


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
        utc = value if value.tzinfo is UTC else _as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _tables() -> tuple[MetaData, Table, Table, Table]:
    metadata = MetaData()
    predictions = Table(
        "predictions",
        metadata,
        Column("flow_id", Text, primary_key=True),
        Column("predicted_at", _UtcDateTime, nullable=False),
        Column("feature_set", Text, nullable=False),
        Column("features", LargeBinary, nullable=False),
        Column("predicted_label", Text, nullable=False),
        Column("confidence", Float, nullable=False),
        Column("trees_used", Integer, nullable=False),
        Column("model_version", Text, nullable=False),
        Index("ix_predictions_predicted_at", "predicted_at"),
    )
    feature_sets = Table(
        "feature_sets",
        metadata,
        Column("id", Text, primary_key=True),
        Column("names", Text, nullable=False),  # JSON list of the feature names, in vector order
    )
    labels = Table(
        "labels",
        metadata,
        Column("flow_id", Text, primary_key=True),
        Column("true_label", Text, nullable=False),
        Column("labelled_at", _UtcDateTime, nullable=False),
    )
    return metadata, predictions, feature_sets, labels


#: Rows per statement of a prediction insert's full pages (the rest go one row per statement).
INSERT_PAGE_ROWS = 64


def _insert_sql(table: Table, key: str, placeholder: str, rows: int = 1) -> str:
    """A fixed ``INSERT … ON CONFLICT DO NOTHING`` text of ``rows`` rows of DBAPI placeholders, for ``executemany``."""
    names = [column.name for column in table.columns]
    row = f"({', '.join([placeholder] * len(names))})"
    values = ", ".join([row] * rows)
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {values} ON CONFLICT ({key}) DO NOTHING"


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


#: Prepared statements sqlite3 keeps per connection. Prediction inserts use two fixed texts, but label
#: writes (SQLAlchemy's multi-row INSERT) still vary with the batch size: the default, 128, held one
#: statement per distinct size and grew a long-running service's memory by ~18% over 100,000 requests.
SQLITE_CACHED_STATEMENTS = 16


def _sqlite_in_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_engine(url: URL, synchronous: str, busy_timeout_seconds: float) -> Engine:
    in_memory = _sqlite_in_memory(url)
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


def _old_layout(prediction_columns: Iterable[str]) -> bool:
    """Whether a stored ``predictions`` table has the layout before feature vectors (features as JSON)."""
    return "feature_set" not in set(prediction_columns)


def _old_layout_error(display: str) -> ArfIdsError:
    return ArfIdsError(
        f"log store {display!r} holds predictions in an old layout (features as JSON, no feature_set column) "
        "that this version of arf_ids cannot read or extend; it was left unchanged. Move that database aside "
        "(or rename its predictions table), or point the log store URL (ARF_IDS_LOG_STORE_URL) at a new database."
    )


def _refuse_old_sqlite_file(url: URL) -> None:
    """Refuse an existing SQLite file of the old layout before anything (even the WAL pragma) touches it."""
    path = Path(str(url.database)).expanduser()
    if not path.is_file():
        return
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            columns = [row[1] for row in connection.execute("PRAGMA table_info(predictions)")]
    except sqlite3.Error:
        return  # not readable this way; create_schema inspects it through the engine
    if columns and _old_layout(columns):
        raise _old_layout_error(_display(url))


def _check_text(value: object, field: str, index: int | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidFlowError(None, f"{field} must be a non-empty string, not {value!r}", index=index)
    return value


def _check_time(value: object, field: str, index: int | None) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidFlowError(None, f"{field} must be a datetime, not {type(value).__name__}", index=index)
    return value


def _check_feature_name(name: object, index: int | None) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidFlowError(None, f"feature names must be non-empty strings, not {name!r}", index=index)
    if name in LABELLED_COLUMNS:
        raise InvalidFlowError(name, "clashes with a column of the log; rename the feature", index=index)


def _feature_set_id(names: tuple[str, ...]) -> tuple[str, str]:
    """The id of an ordered tuple of feature names, and the JSON list stored for it."""
    encoded = json.dumps(list(names))
    return hashlib.sha256(encoded.encode()).hexdigest()[:16], encoded


class _PredictionFields(NamedTuple):
    flow_id: str
    predicted_at: datetime
    names: tuple[str, ...]
    values: list[float]
    predicted_label: str
    confidence: float
    trees_used: int
    model_version: str


def _prediction_fields(record: PredictionRecord, index: int) -> _PredictionFields:
    if not isinstance(record.features, Mapping):
        raise InvalidFlowError(None, f"features must be a mapping, not {type(record.features).__name__}", index=index)
    values: list[float] = []
    for name, value in record.features.items():
        _check_feature_name(name, index)
        values.append(_as_finite_float(name, value, index))
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
    return _PredictionFields(
        flow_id=_check_text(record.flow_id, "flow_id", index),
        predicted_at=_check_time(record.predicted_at, "predicted_at", index),
        names=tuple(record.features),
        values=values,
        predicted_label=_check_text(record.predicted_label, "predicted_label", index),
        confidence=float(confidence),
        trees_used=int(trees_used),
        model_version=record.model_version,
    )


def _text_column(values: Sequence[str], field: str, rows: int | None = None) -> Sequence[str]:
    """``values`` when it holds non-empty strings (``rows`` of them); else the error naming the first bad row."""
    if type(values) is not list and (isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray)):
        raise InvalidFlowError(None, f"{field}s must be a sequence of strings, not {type(values).__name__}")
    if rows is not None and len(values) != rows:
        raise InvalidFlowError(None, f"{field}s has {len(values)} values for {rows} flow ids")
    try:
        clean = all(map(str.strip, values))  # one C-level pass; raises TypeError on a non-string
    except TypeError:
        clean = False
    if not clean:
        for index, value in enumerate(values):
            _check_text(value, field, index)
    return values


def _real_array(values: Any, field: str, shape: tuple[int, ...], kinds: str = "iuf") -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in kinds:
        wanted = "integers" if kinds == "iu" else "real numbers"
        raise InvalidFlowError(None, f"{field} must hold {wanted}, not values of dtype {array.dtype}")
    if array.shape != shape:
        raise InvalidFlowError(None, f"{field} has shape {array.shape}, expected {shape}")
    return array


def _first_bad_row(bad: np.ndarray) -> int:
    return int(np.argmax(bad))


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


def _decode_vectors(blobs: Sequence[bytes], width: int) -> np.ndarray:
    """The ``(len(blobs), width)`` float64 matrix of stored feature vectors of ``width`` values each."""
    joined = b"".join(blobs)
    if len(joined) != FEATURE_DTYPE.itemsize * width * len(blobs):
        raise ArfIdsError(
            f"stored feature vectors hold {len(joined)} bytes for {len(blobs)} rows of {width} features; "
            "the log is damaged"
        )
    if width == 0:
        return np.empty((len(blobs), 0), dtype=np.float64)
    return np.frombuffer(joined, dtype=FEATURE_DTYPE).reshape(-1, width).astype(np.float64)


def _feature_matrix(
    set_ids: Sequence[str],
    blobs: Sequence[bytes],
    names_of: Mapping[str, tuple[str, ...]],
    feature_names: list[str] | None,
) -> tuple[list[str], np.ndarray]:
    """The feature columns (``feature_names``, or every stored name in order of first appearance) and values."""
    if not set_ids:
        columns = feature_names or []
        return columns, np.empty((0, len(columns)), dtype=np.float64)
    codes, uniques = pd.factorize(np.asarray(set_ids, dtype=object))
    if feature_names is None:
        columns = list(dict.fromkeys(name for set_id in uniques for name in names_of[set_id]))
    else:
        columns = feature_names
    if len(uniques) == 1 and list(names_of[uniques[0]]) == columns:
        return columns, _decode_vectors(blobs, len(columns))
    position = {name: column for column, name in enumerate(columns)}
    matrix = np.full((len(set_ids), len(columns)), np.nan)
    for code, set_id in enumerate(uniques):
        names = names_of[set_id]
        rows = np.flatnonzero(codes == code)
        picked = [(source, position[name]) for source, name in enumerate(names) if name in position]
        if not picked:
            continue
        block = _decode_vectors([blobs[row] for row in rows], len(names))
        sources, targets = (list(side) for side in zip(*picked, strict=True))
        matrix[np.ix_(rows, targets)] = block[:, sources]
    return columns, matrix


class _CheckedBatch(NamedTuple):
    """A validated, non-empty batch of a :meth:`LogStore.write_prediction_columns` call."""

    position: int  # in the call
    flow_ids: Sequence[str]
    predicted_labels: Sequence[str]
    predicted_at: Any  # as bound for the database
    model_version: str
    set_id: str
    start: int  # its first row among the rows of the call
    set_start: int  # its first row among the call's rows of its feature set


#: One row of the ``predictions`` table as the insert statement takes it (the table's column order).
_StorageRow = tuple[str, Any, str, bytes, str, float, int, str]


class LogStore:
    """The prediction and label log in any SQLite or PostgreSQL database.

    ``url`` is a SQLAlchemy URL (``sqlite:///path/logs.db``, ``postgresql+psycopg://…``;
    a bare ``postgresql://`` uses psycopg). SQLite files get their parent directories
    created, WAL journaling, the chosen ``synchronous`` level and a busy timeout. The
    constructor creates the tables if they are missing (:meth:`create_schema`) and refuses
    (:class:`ArfIdsError`, database untouched) a database of the old layout.
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
        is_sqlite = self._url.get_backend_name() == "sqlite"
        if is_sqlite and not _sqlite_in_memory(self._url):
            _refuse_old_sqlite_file(self._url)
        try:
            if is_sqlite:
                self._engine = _sqlite_engine(self._url, sqlite_synchronous, busy_timeout_seconds)
            else:
                self._engine = create_engine(self._url, pool_pre_ping=True)
        except (NoSuchModuleError, ImportError) as error:
            raise ArfIdsError(f"cannot open log store {_display(self._url)!r}: {error}") from None
        self._metadata, self._predictions, self._feature_sets, self._labels = _tables()
        dialect = self._engine.dialect
        placeholder = "?" if is_sqlite else "%s"
        self._insert_prediction_sql = _insert_sql(self._predictions, "flow_id", placeholder)
        self._insert_prediction_page_sql = _insert_sql(self._predictions, "flow_id", placeholder, INSERT_PAGE_ROWS)
        self._insert_feature_set_sql = _insert_sql(self._feature_sets, "id", placeholder)
        # The column type's own bind processor for this dialect (its dialect_impl, so that the dialect's
        # DATETIME processing applies too): SQLite gets exactly the text SQLAlchemy itself writes.
        bind_time = self._predictions.c.predicted_at.type.dialect_impl(dialect).bind_processor(dialect)
        assert bind_time is not None, "a TypeDecorator with process_bind_param always has a bind processor"
        self._bind_time: Callable[[datetime], Any] = bind_time
        self._set_ids: dict[tuple[str, ...], tuple[str, str]] = {}  # validated names -> (id, JSON names)
        self._set_names: dict[str, tuple[str, ...]] = {}  # id -> names, for reading
        self._stored_sets: set[str] = set()  # ids this instance knows to be committed in feature_sets
        try:
            self.create_schema()
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return _display(self._url)

    def __repr__(self) -> str:
        return f"LogStore({self.url!r})"

    def create_schema(self) -> None:
        """Create the tables and index if they do not exist (idempotent, safe to race).

        Raises :class:`ArfIdsError`, creating nothing, when the database holds predictions
        in the old layout (features as JSON).
        """
        with self._engine.begin() as connection:
            inspector = inspect(connection)
            if inspector.has_table("predictions") and _old_layout(
                column["name"] for column in inspector.get_columns("predictions")
            ):
                raise _old_layout_error(self.url)
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

    def _feature_set(self, names: tuple[str, ...]) -> tuple[str, str]:
        """The id and JSON of a tuple of feature names, validated the first time this store sees it."""
        try:
            known = self._set_ids.get(names)
        except TypeError:  # an unhashable name: the checks below name it
            known = None
        if known is not None:
            return known
        for position, name in enumerate(names):
            _check_feature_name(name, None)
            if name in names[:position]:
                raise InvalidFlowError(name, "is listed twice in feature_names")
        known = _feature_set_id(names)
        self._set_ids[names] = known
        self._set_names[known[0]] = names
        return known

    def _insert_predictions(self, rows: list[_StorageRow], feature_sets: Mapping[str, str]) -> int:
        """Insert storage rows (first write wins) and the feature sets they name, in one transaction."""
        if not rows:
            return 0
        new_sets = [(set_id, names) for set_id, names in feature_sets.items() if set_id not in self._stored_sets]
        with self._engine.begin() as connection:
            if new_sets:
                connection.exec_driver_sql(self._insert_feature_set_sql, new_sets)
            # Two fixed statement texts, each run by the driver's executemany: full pages of
            # INSERT_PAGE_ROWS rows (one statement step per page instead of per row), then the rest
            # row by row. Rows are inserted in order, so a duplicate flow id (stored, or earlier in
            # this call) is skipped and not counted; the cursor's rowcount is the sum over the
            # executions (sqlite3 and psycopg 3 alike).
            paged = len(rows) - len(rows) % INSERT_PAGE_ROWS
            counts = []
            if paged:
                pages = [tuple(chain.from_iterable(rows[start : start + INSERT_PAGE_ROWS]))
                         for start in range(0, paged, INSERT_PAGE_ROWS)]
                counts.append(connection.exec_driver_sql(self._insert_prediction_page_sql, pages).rowcount)
            if paged < len(rows):
                counts.append(connection.exec_driver_sql(self._insert_prediction_sql, rows[paged:]).rowcount)
        self._stored_sets.update(set_id for set_id, _ in new_sets)
        if min(counts) < 0:
            raise ArfIdsError(f"log store {self.url!r}: the database driver did not report how many rows were new")
        return sum(counts)

    def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        """Store predictions in one transaction; returns how many flow ids were new.

        Every record is validated first: an empty ``flow_id``, a non-finite feature value
        or a confidence outside [0, 1] raises :class:`InvalidFlowError` and writes nothing.
        Records may each have their own feature names.
        """
        rows: list[_StorageRow] = []
        feature_sets: dict[str, str] = {}
        bind_time = self._bind_time
        for index, record in enumerate(records):
            fields = _prediction_fields(record, index)
            set_id, names_json = self._feature_set(fields.names)
            feature_sets[set_id] = names_json
            rows.append(
                (
                    fields.flow_id,
                    bind_time(fields.predicted_at),
                    set_id,
                    struct.pack(f"<{len(fields.values)}d", *fields.values),
                    fields.predicted_label,
                    fields.confidence,
                    fields.trees_used,
                    fields.model_version,
                )
            )
        return self._insert_predictions(rows, feature_sets)

    def _column_rows(self, batches: Sequence[PredictionColumns]) -> tuple[list[_StorageRow], dict[str, str]]:
        """Validate batches (vectorised over the whole call) and build their storage rows, in call order."""
        if isinstance(batches, PredictionColumns):
            raise InvalidFlowError(None, "write_prediction_columns takes a sequence of PredictionColumns, not one")
        batches = list(batches)
        where = (lambda position: f" (batch {position})") if len(batches) > 1 else (lambda _position: "")
        checked: list[_CheckedBatch] = []
        matrices: dict[str, list[np.ndarray]] = {}  # per feature set, its batches' matrices in call order
        set_rows: dict[str, int] = {}
        set_names: dict[str, tuple[str, ...]] = {}
        set_json: dict[str, str] = {}
        confidences: list[np.ndarray] = []
        trees_used: list[np.ndarray] = []
        total = 0
        for position, batch in enumerate(batches):
            try:
                if not isinstance(batch, PredictionColumns):
                    raise InvalidFlowError(None, f"a batch must be PredictionColumns, not {type(batch).__name__}")
                flow_ids = _text_column(batch.flow_ids, "flow_id")
                count = len(flow_ids)
                names = batch.feature_names
                if type(names) is not tuple:
                    if isinstance(names, str) or not isinstance(names, Sequence):
                        raise InvalidFlowError(None, f"feature_names must be a tuple of strings, not {names!r}")
                    names = tuple(names)
                set_id, names_json = self._feature_set(names)
                matrix = _real_array(batch.features, "features", (count, len(names)))
                labels = _text_column(batch.predicted_labels, "predicted_label", count)
                batch_confidences = _real_array(batch.confidences, "confidences", (count,))
                batch_trees = _real_array(batch.trees_used, "trees_used", (count,), kinds="iu")
                if not isinstance(batch.model_version, str):
                    raise InvalidFlowError(None, f"model_version must be a string, not {batch.model_version!r}")
                predicted_at = self._bind_time(_check_time(batch.predicted_at, "predicted_at", None))
            except InvalidFlowError as error:
                raise InvalidFlowError(error.feature, error.problem + where(position), index=error.index) from None
            if not count:
                continue
            set_names[set_id], set_json[set_id] = names, names_json
            matrices.setdefault(set_id, []).append(matrix)
            checked.append(
                _CheckedBatch(
                    position,
                    flow_ids,
                    labels,
                    predicted_at,
                    batch.model_version,
                    set_id,
                    total,
                    set_rows.get(set_id, 0),
                )
            )
            set_rows[set_id] = set_rows.get(set_id, 0) + count
            confidences.append(batch_confidences)
            trees_used.append(batch_trees)
            total += count
        if not checked:
            return [], {}

        def fail(batch: _CheckedBatch, feature: str | None, problem: str, row: int) -> InvalidFlowError:
            return InvalidFlowError(feature, problem + where(batch.position), index=row)

        every_confidence = np.concatenate(confidences, dtype=np.float64)
        if not (every_confidence.min() >= 0.0 and every_confidence.max() <= 1.0):  # NaN fails both comparisons
            row = _first_bad_row(
                ~(np.isfinite(every_confidence) & (every_confidence >= 0.0) & (every_confidence <= 1.0))
            )
            batch = checked[bisect_right([b.start for b in checked], row) - 1]
            value = float(every_confidence[row])
            problem = "must lie in [0, 1]" if math.isfinite(value) else "must be a finite number"
            raise fail(batch, None, f"confidence {problem}, not {value!r}", row - batch.start)
        every_trees = np.concatenate(trees_used, dtype=np.int64)
        if every_trees.min() < 0:
            row = _first_bad_row(every_trees < 0)
            batch = checked[bisect_right([b.start for b in checked], row) - 1]
            problem = f"trees_used must be a non-negative integer, not {int(every_trees[row])}"
            raise fail(batch, None, problem, row - batch.start)
        vectors: dict[str, list[bytes]] = {}
        for set_id, parts in matrices.items():
            matrix = (
                np.ascontiguousarray(parts[0], dtype=FEATURE_DTYPE)
                if len(parts) == 1
                else np.concatenate(parts, dtype=FEATURE_DTYPE)
            )
            finite = np.isfinite(matrix)
            if not finite.all():
                row, column = (int(i) for i in np.argwhere(~finite)[0])
                of_set = [b for b in checked if b.set_id == set_id]
                batch = of_set[bisect_right([b.set_start for b in of_set], row) - 1]
                names = set_names[set_id]
                raise fail(batch, names[column], f"is not finite ({matrix[row, column]})", row - batch.set_start)
            width = matrix.shape[1] * FEATURE_DTYPE.itemsize
            # Each row's bytes as one bytes object, made in C: the rows viewed as opaque records of `width` bytes.
            vectors[set_id] = matrix.view(np.dtype((np.void, width))).ravel().tolist() if width else [b""] * len(matrix)

        confidence_list, trees_list = every_confidence.tolist(), every_trees.tolist()
        rows: list[_StorageRow] = []
        for batch in checked:
            count, start, set_start = len(batch.flow_ids), batch.start, batch.set_start
            if count == 1:  # the common case of the service (one flow per request): one tuple, no zip
                rows.append(
                    (
                        batch.flow_ids[0],
                        batch.predicted_at,
                        batch.set_id,
                        vectors[batch.set_id][set_start],
                        batch.predicted_labels[0],
                        confidence_list[start],
                        trees_list[start],
                        batch.model_version,
                    )
                )
                continue
            rows.extend(
                zip(
                    batch.flow_ids,
                    repeat(batch.predicted_at, count),
                    repeat(batch.set_id, count),
                    vectors[batch.set_id][set_start : set_start + count],
                    batch.predicted_labels,
                    confidence_list[start : start + count],
                    trees_list[start : start + count],
                    repeat(batch.model_version, count),
                    strict=True,
                )
            )
        return rows, set_json

    def write_prediction_columns(self, batches: Sequence[PredictionColumns]) -> int:
        """Store batches of predictions in one transaction; returns how many flow ids were new.

        The first write of a flow id wins, also across and within the batches of the call.
        Every batch is validated first, with numpy over the whole call: columns of the wrong
        length or shape, a non-finite feature value, a confidence that is not finite or outside
        [0, 1], a negative ``trees_used``, an empty flow id or predicted label, or feature names
        that are empty, repeated or clash with :data:`LABELLED_COLUMNS` raise :class:`InvalidFlowError`
        (``index``: the row within its batch; the message names the batch when there are several)
        and nothing of the call is written.
        """
        rows, feature_sets = self._column_rows(batches)
        return self._insert_predictions(rows, feature_sets)

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

    def _names_of(self, connection: Connection, set_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The feature names of each feature set id (read from ``feature_sets`` once per store)."""
        wanted = set(set_ids)
        missing = wanted - self._set_names.keys()
        if missing:
            table = self._feature_sets
            for set_id, names in connection.execute(select(table.c.id, table.c.names).where(table.c.id.in_(missing))):
                self._set_names[set_id] = tuple(json.loads(names))
            unknown = missing - self._set_names.keys()
            if unknown:
                raise ArfIdsError(f"log store {self.url!r} has predictions of unknown feature sets {sorted(unknown)}")
        return {set_id: self._set_names[set_id] for set_id in wanted}

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
            p.c.feature_set,
            p.c.features,
        ]
        with self._engine.connect() as connection:
            rows = connection.execute(self._labelled(columns, start, end)).all()
            by_column = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
            names_of = self._names_of(connection, by_column[8])
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
        feature_columns, values = _feature_matrix(by_column[8], by_column[9], names_of, feature_names)
        features = pd.DataFrame(values, columns=feature_columns, index=frame.index, dtype=np.float64)
        return pd.concat([frame, features], axis=1)

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
