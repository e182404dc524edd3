"""The prediction/label log against a real SQLite file (and PostgreSQL when one is given)."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, event, text

from arf_ids.core.errors import ArfIdsError, InvalidFlowError, UnknownLabelError
from arf_ids.core.logstore import (
    INSERT_PAGE_ROWS,
    LABELLED_COLUMNS,
    LabelRecord,
    LogStore,
    PredictionColumns,
    PredictionRecord,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
POSTGRES_URL = os.environ.get("ARF_IDS_TEST_POSTGRES_URL")


def prediction(
    flow_id: str,
    minute: float,
    label: str = "DoS",
    *,
    features: dict[str, float] | None = None,
    confidence: float = 0.9,
) -> PredictionRecord:
    return PredictionRecord(
        flow_id=flow_id,
        predicted_at=T0 + timedelta(minutes=minute),
        features={"Flow Duration": minute * 10.0, "Fwd Packets/s": 2.0} if features is None else features,
        predicted_label=label,
        confidence=confidence,
        trees_used=25,
        model_version="3",
    )


def label(flow_id: str, true_label: str = "DoS") -> LabelRecord:
    return LabelRecord(flow_id=flow_id, true_label=true_label, labelled_at=T0 + timedelta(hours=5))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/logs.db"
    else:
        if not POSTGRES_URL:
            pytest.skip("set ARF_IDS_TEST_POSTGRES_URL to a throwaway PostgreSQL database to run this")
        engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS predictions, labels, feature_sets"))
        engine.dispose()
        url = POSTGRES_URL
    with LogStore(url) as log_store:
        yield log_store


def test_writing_a_flow_id_again_keeps_the_first_write(store: LogStore) -> None:
    assert store.write_predictions([prediction("a", 1), prediction("b", 2)]) == 2
    assert store.write_predictions([prediction("a", 9, "BENIGN"), prediction("c", 3)]) == 1
    assert store.write_labels([label("a"), label("b")]) == 2
    assert store.write_labels([label("a", "BENIGN")]) == 0
    store.write_labels([label("c")])

    frame = store.labelled_frame()
    assert frame["flow_id"].tolist() == ["a", "b", "c"]
    first = frame.iloc[0]
    assert (first["predicted_label"], first["label"], first["Flow Duration"]) == ("DoS", "DoS", 10.0)
    assert store.counts() == {"predictions": 3, "labels": 3, "labelled": 3}


def test_duplicates_inside_one_batch_keep_the_first(store: LogStore) -> None:
    assert store.write_predictions([prediction("a", 1, "DoS"), prediction("a", 2, "BENIGN")]) == 1
    assert store.write_labels([label("a", "PortScan"), label("a", "BENIGN")]) == 1
    row = store.labelled_frame().iloc[0]
    assert (row["predicted_label"], row["label"]) == ("DoS", "PortScan")


def test_a_label_may_arrive_before_its_prediction(store: LogStore) -> None:
    assert store.write_labels([label("early", "PortScan")]) == 1
    assert store.counts() == {"predictions": 0, "labels": 1, "labelled": 0}
    assert store.labelled_frame().empty

    store.write_predictions([prediction("early", 4, "BENIGN")])
    frame = store.labelled_frame()
    assert frame[["flow_id", "predicted_label", "label"]].values.tolist() == [["early", "BENIGN", "PortScan"]]
    assert store.counts() == {"predictions": 1, "labels": 1, "labelled": 1}


def test_the_time_window_is_half_open_and_rows_come_in_time_then_id_order(store: LogStore) -> None:
    minutes = {"m30": 30, "m10b": 10, "m0": 0, "m10a": 10, "m20": 20, "m40": 40}
    store.write_predictions([prediction(flow_id, minute) for flow_id, minute in minutes.items()])
    store.write_labels([label(flow_id) for flow_id in minutes])

    every = store.labelled_frame()
    assert every["flow_id"].tolist() == ["m0", "m10a", "m10b", "m20", "m30", "m40"]
    window = store.labelled_frame(T0 + timedelta(minutes=10), T0 + timedelta(minutes=30))
    assert window["flow_id"].tolist() == ["m10a", "m10b", "m20"]
    assert store.labelled_frame(start=T0 + timedelta(minutes=30))["flow_id"].tolist() == ["m30", "m40"]
    assert store.labelled_frame(end=T0 + timedelta(minutes=10))["flow_id"].tolist() == ["m0"]

    # The same instants in another time zone, and naive datetimes taken as UTC, select the same rows.
    plus_two = timezone(timedelta(hours=2))
    shifted = store.labelled_frame((T0 + timedelta(minutes=10)).astimezone(plus_two), (T0 + timedelta(minutes=30)))
    assert shifted["flow_id"].tolist() == window["flow_id"].tolist()
    naive = store.labelled_frame(datetime(2024, 3, 1, 8, 10), datetime(2024, 3, 1, 8, 30))
    assert naive["flow_id"].tolist() == window["flow_id"].tolist()

    times, errors = store.error_stream(T0 + timedelta(minutes=10), T0 + timedelta(minutes=30))
    assert list(times) == [T0 + timedelta(minutes=m) for m in (10, 10, 20)]
    assert str(times.tz) == "UTC"
    assert errors.tolist() == [False, False, False]


def test_times_round_trip_as_aware_utc(store: LogStore) -> None:
    local = datetime(2024, 3, 1, 10, 15, 30, 123456, tzinfo=timezone(timedelta(hours=2)))
    store.write_predictions([PredictionRecord("x", local, {"f": 1.0}, "DoS", 0.5, 3, "1")])
    store.write_labels([LabelRecord("x", "DoS", local)])
    assert store.last_prediction_at() == local
    assert store.last_prediction_at().tzinfo == UTC
    frame = store.labelled_frame()
    assert frame["predicted_at"].iloc[0] == pd.Timestamp(local)
    assert str(frame["predicted_at"].dt.tz) == "UTC"
    assert str(frame["labelled_at"].dt.tz) == "UTC"


def test_features_expand_into_float_columns(store: LogStore) -> None:
    store.write_predictions(
        [
            prediction("a", 1, features={"Flow Duration": 5.0, "Fwd Packets/s": 1.5}),
            prediction("b", 2, features={"Flow Duration": 7.0, "Bwd Packets/s": 4.0}),
        ]
    )
    store.write_labels([label("a"), label("b")])

    every = store.labelled_frame()
    assert list(every.columns) == [*LABELLED_COLUMNS, "Flow Duration", "Fwd Packets/s", "Bwd Packets/s"]
    assert every["Flow Duration"].tolist() == [5.0, 7.0]
    assert np.isnan(every["Fwd Packets/s"].iloc[1]) and np.isnan(every["Bwd Packets/s"].iloc[0])

    picked = store.labelled_frame(feature_names=["Bwd Packets/s", "Flow Duration", "Init_Win_bytes_forward"])
    assert list(picked.columns) == [*LABELLED_COLUMNS, "Bwd Packets/s", "Flow Duration", "Init_Win_bytes_forward"]
    assert picked["Flow Duration"].tolist() == [5.0, 7.0]
    assert picked["Bwd Packets/s"].iloc[1] == 4.0
    assert picked["Init_Win_bytes_forward"].isna().all()
    assert all(
        picked[name].dtype == np.float64 for name in ("Bwd Packets/s", "Flow Duration", "Init_Win_bytes_forward")
    )
    assert picked["trees_used"].tolist() == [25, 25]
    assert picked["confidence"].dtype == np.float64


def test_an_empty_window_still_has_the_columns(store: LogStore) -> None:
    frame = store.labelled_frame(feature_names=["Flow Duration"])
    assert frame.empty
    assert list(frame.columns) == [*LABELLED_COLUMNS, "Flow Duration"]
    assert str(frame["predicted_at"].dt.tz) == "UTC"
    times, errors = store.error_stream()
    assert len(times) == 0 and errors.dtype == bool and errors.size == 0
    assert store.last_prediction_at() is None


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (prediction("", 1), "flow_id"),
        (prediction("   ", 1), "flow_id"),
        (prediction("z", 1, features={"Flow Duration": float("nan")}), "Flow Duration"),
        (prediction("z", 1, features={"Flow Duration": float("inf")}), "Flow Duration"),
        (prediction("z", 1, features={"Flow Duration": "fast"}), "Flow Duration"),  # type: ignore[dict-item]
        (prediction("z", 1, features={"label": 1.0}), "label"),
        (prediction("z", 1, confidence=float("nan")), "confidence"),
        (prediction("z", 1, confidence=1.5), "confidence"),
        (prediction("z", 1, label=""), "predicted_label"),
    ],
)
def test_a_bad_prediction_writes_nothing_of_its_batch(store: LogStore, bad: PredictionRecord, named: str) -> None:
    store.write_predictions([prediction("kept", 0)])
    store.write_labels([label("kept")])
    before = store.labelled_frame()

    with pytest.raises(InvalidFlowError, match=named) as raised:
        store.write_predictions([prediction("good-1", 1), bad, prediction("good-2", 2)])
    assert raised.value.index == 1
    assert store.counts() == {"predictions": 1, "labels": 1, "labelled": 1}
    pd.testing.assert_frame_equal(store.labelled_frame(), before)


def test_a_bad_label_writes_nothing_of_its_batch(store: LogStore) -> None:
    store.write_labels([label("kept", "BENIGN")])
    with pytest.raises(UnknownLabelError, match="Heartbleed"):
        store.write_labels([label("a", "DoS"), label("b", "Heartbleed")], known_labels=["BENIGN", "DoS"])
    with pytest.raises(InvalidFlowError, match="flow_id"):
        store.write_labels([label("a", "DoS"), label("", "DoS")])
    assert store.counts()["labels"] == 1
    assert store.write_labels([label("a", "DoS")], known_labels=["BENIGN", "DoS"]) == 1


def test_the_error_stream_marks_wrong_predictions_in_time_order(store: LogStore) -> None:
    store.write_predictions([prediction("late", 5, "DoS"), prediction("early", 1, "BENIGN"), prediction("mid", 3)])
    store.write_labels([label("late", "BENIGN"), label("early", "BENIGN"), label("mid", "DoS"), label("other")])
    times, errors = store.error_stream()
    assert errors.tolist() == [False, False, True]
    assert list(times) == [T0 + timedelta(minutes=m) for m in (1, 3, 5)]
    frame = store.labelled_frame()
    assert errors.tolist() == (frame["predicted_label"] != frame["label"]).tolist()


def test_a_big_batch_is_stored_whole(store: LogStore) -> None:
    records = [prediction(f"bulk-{i:05d}", i / 60.0) for i in range(5000)]
    assert store.write_predictions(records) == 5000
    assert store.write_labels([label(record.flow_id) for record in records[::2]]) == 2500
    assert store.counts() == {"predictions": 5000, "labels": 2500, "labelled": 2500}
    assert store.last_prediction_at() == records[-1].predicted_at


def test_sqlite_runs_in_wal_mode_in_a_new_directory(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nested" / "logs.db"
    with LogStore(f"sqlite:///{path}") as store:
        store.write_predictions([prediction("a", 1)])
    assert path.exists()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_data_survives_closing_and_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/logs.db"
    with LogStore(url) as store:
        store.write_predictions([prediction("a", 1), prediction("b", 2)])
        store.write_labels([label("a", "BENIGN")])
        before = store.labelled_frame()
    with LogStore(url) as reopened:
        reopened.create_schema()  # idempotent on an existing database
        assert reopened.counts() == {"predictions": 2, "labels": 1, "labelled": 1}
        pd.testing.assert_frame_equal(reopened.labelled_frame(), before)
        assert reopened.write_predictions([prediction("b", 2)]) == 0


CRASHING_WRITER = """
import sys
from datetime import UTC, datetime, timedelta
from arf_ids.core.logstore import LogStore, PredictionRecord

store = LogStore(sys.argv[1])
start = datetime(2024, 1, 1, tzinfo=UTC)
for batch in range(100_000):
    records = [
        PredictionRecord(f"b{batch}-{i}", start + timedelta(seconds=batch), {"f": float(i)}, "DoS", 0.5, 7, "1")
        for i in range({batch_size})
    ]
    store.write_predictions(records)
    print(batch, flush=True)
"""


def test_every_acknowledged_batch_survives_a_kill(tmp_path: Path) -> None:
    batch_size, acknowledged_wanted = 50, 40
    path = tmp_path / "logs.db"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(CRASHING_WRITER).replace("{batch_size}", str(batch_size)))
    writer = subprocess.Popen(
        [sys.executable, str(script), f"sqlite:///{path}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    acknowledged = -1
    try:
        assert writer.stdout is not None
        while acknowledged < acknowledged_wanted:
            line = writer.stdout.readline()
            assert line, f"the writer stopped early: {writer.stderr.read() if writer.stderr else ''}"
            acknowledged = int(line)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        for line in writer.stdout:  # acknowledgements printed before the kill landed
            acknowledged = int(line)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with LogStore(f"sqlite:///{path}") as store:
        stored = store.counts()["predictions"]
    with sqlite3.connect(path) as connection:
        per_batch = connection.execute(
            "SELECT substr(flow_id, 2, instr(flow_id, '-') - 2), count(*) FROM predictions GROUP BY 1"
        ).fetchall()
    batches = {int(batch): count for batch, count in per_batch}
    assert sum(batches.values()) == stored
    assert set(range(acknowledged + 1)) <= set(batches), "an acknowledged batch is missing"
    assert set(batches.values()) == {batch_size}, "a batch was stored only in part"
    assert max(batches) <= acknowledged + 1


def test_an_unsupported_database_is_named(tmp_path: Path) -> None:
    with pytest.raises(ArfIdsError, match="mysql") as raised:
        LogStore("mysql://user:secret@localhost/logs")
    assert "secret" not in str(raised.value)
    with pytest.raises(ArfIdsError, match="not a SQLAlchemy database URL"):
        LogStore("no url at all")


# --- columnar writes (PredictionColumns), the service's path -----------------------------------------------

NAMES = ("Flow Duration", "Fwd Packets/s", "Bwd Packets/s")


def columns(
    flow_ids: Sequence[str],
    minute: float = 0.0,
    *,
    names: Sequence[str] = NAMES,
    features: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    confidences: np.ndarray | None = None,
    trees_used: np.ndarray | None = None,
) -> PredictionColumns:
    rows = len(flow_ids)
    return PredictionColumns(
        flow_ids=list(flow_ids),
        predicted_at=T0 + timedelta(minutes=minute),
        feature_names=tuple(names),
        features=np.arange(rows * len(names), dtype=np.float64).reshape(rows, len(names))
        if features is None
        else features,
        predicted_labels=["DoS"] * rows if labels is None else labels,
        confidences=np.full(rows, 0.75) if confidences is None else confidences,
        trees_used=np.full(rows, 25) if trees_used is None else trees_used,
        model_version="3",
    )


def raw_count(store: LogStore, table: str) -> int:
    with store._engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_columns_round_trip_bit_identical(store: LogStore) -> None:
    rng = np.random.default_rng(7)
    matrix = rng.normal(scale=1e6, size=(300, len(NAMES)))
    matrix[0] = [-0.0, 5e-324, np.finfo(np.float64).max]  # signed zero, subnormal, largest double
    matrix[1] = [np.pi, -1e-300, 2.0**53 + 1]
    ids = [f"c{i:04d}" for i in range(300)]
    confidences = rng.random(300)
    trees = rng.integers(0, 200, size=300)
    batch = columns(
        ids, 1.5, features=matrix, confidences=confidences, trees_used=trees, labels=["DoS", "BENIGN"] * 150
    )
    assert len(batch) == 300
    assert store.write_prediction_columns([batch]) == 300
    store.write_labels([label(flow_id, "BENIGN") for flow_id in ids])

    frame = store.labelled_frame()
    assert list(frame.columns) == [*LABELLED_COLUMNS, *NAMES]
    stored = frame[list(NAMES)].to_numpy()
    assert stored.dtype == np.float64
    assert np.array_equal(stored.view(np.uint64), matrix.view(np.uint64))  # bit for bit, -0.0 included
    assert frame["flow_id"].tolist() == ids
    assert (frame["predicted_at"] == pd.Timestamp(T0 + timedelta(minutes=1.5))).all()
    assert np.array_equal(frame["confidence"].to_numpy(), confidences)
    assert frame["trees_used"].tolist() == trees.tolist()
    assert frame["predicted_label"].tolist() == ["DoS", "BENIGN"] * 150
    assert set(frame["model_version"]) == {"3"}
    assert store.last_prediction_at() == T0 + timedelta(minutes=1.5)
    assert store.error_stream().errors.tolist() == [True, False] * 150
    picked = store.labelled_frame(feature_names=[NAMES[2], NAMES[0]])
    assert np.array_equal(picked[[NAMES[2], NAMES[0]]].to_numpy().view(np.uint64), matrix[:, [2, 0]].view(np.uint64))


def test_feature_vectors_are_stored_as_little_endian_float64_with_their_feature_set(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    with LogStore(f"sqlite:///{path}") as store:
        store.write_prediction_columns([columns(["a"], features=np.array([[1.5, -2.0, 1e300]]))])
    with sqlite3.connect(path) as connection:
        set_id, blob = connection.execute("SELECT feature_set, features FROM predictions").fetchone()
        names = connection.execute("SELECT names FROM feature_sets WHERE id = ?", (set_id,)).fetchone()[0]
    assert np.frombuffer(blob, dtype="<f8").tolist() == [1.5, -2.0, 1e300]
    assert names == '["Flow Duration", "Fwd Packets/s", "Bwd Packets/s"]'
    assert set_id == hashlib.sha256(names.encode()).hexdigest()[:16]


def test_mixed_feature_sets_across_batches_and_records(store: LogStore) -> None:
    first = columns(["a", "b"], 1, names=("x", "y"), features=np.array([[1.0, 2.0], [3.0, 4.0]]))
    second = columns(["c"], 2, names=("y", "z"), features=np.array([[5.0, 6.0]]))
    assert store.write_prediction_columns([first, second]) == 3
    records = [
        prediction("d", 3, features={"z": 7.0, "w": 8.0}),
        prediction("e", 4, features={"x": 9.0, "y": 10.0}),  # the same names as the first batch
        prediction("f", 5, features={}),
    ]
    assert store.write_predictions(records) == 3
    assert store.write_prediction_columns([columns(["g"], 6, names=("w", "x"), features=np.array([[11.0, 12.0]]))]) == 1
    store.write_labels([label(flow_id) for flow_id in "abcdefg"])

    every = store.labelled_frame()
    assert list(every.columns) == [*LABELLED_COLUMNS, "x", "y", "z", "w"]
    nan = float("nan")
    expected = [
        [1.0, 2.0, nan, nan],
        [3.0, 4.0, nan, nan],
        [nan, 5.0, 6.0, nan],
        [nan, nan, 7.0, 8.0],
        [9.0, 10.0, nan, nan],
        [nan, nan, nan, nan],
        [12.0, nan, nan, 11.0],
    ]
    np.testing.assert_array_equal(every[["x", "y", "z", "w"]].to_numpy(), np.array(expected))

    picked = store.labelled_frame(feature_names=["w", "y", "absent"])
    assert list(picked.columns) == [*LABELLED_COLUMNS, "w", "y", "absent"]
    np.testing.assert_array_equal(
        picked[["w", "y"]].to_numpy(),
        np.array([[nan, 2.0], [nan, 4.0], [nan, 5.0], [8.0, nan], [nan, 10.0], [nan, nan], [11.0, nan]]),
    )
    assert picked["absent"].isna().all() and picked["absent"].dtype == np.float64
    window = store.labelled_frame(T0 + timedelta(minutes=2), T0 + timedelta(minutes=4))
    assert window["flow_id"].tolist() == ["c", "d"]
    assert list(window.columns) == [*LABELLED_COLUMNS, "y", "z", "w"]
    # One stored feature set per distinct ordered tuple of names: (x, y) [batch and record], (y, z), (z, w), (), (w, x).
    assert raw_count(store, "feature_sets") == 5


def test_first_write_wins_within_and_across_batches_and_calls(store: LogStore) -> None:
    batch = columns(["a", "b", "a", "c", "b"], 1, labels=["DoS", "DoS", "BENIGN", "DoS", "BENIGN"])
    assert store.write_prediction_columns([batch]) == 3
    assert store.write_prediction_columns([batch]) == 0
    again = columns(["c", "d", "d"], 2, labels=["BENIGN", "PortScan", "BENIGN"])
    later = columns(["e", "d", "a"], 3, labels=["PortScan", "BENIGN", "BENIGN"], names=("q",), features=np.ones((3, 1)))
    assert store.write_prediction_columns([again, later]) == 2  # d (first in `again`), e
    assert (
        store.write_predictions([prediction("e", 9, "BENIGN"), prediction("f", 9), prediction("f", 10, "BENIGN")]) == 1
    )
    assert store.write_prediction_columns([columns(["f", "g"], 11, labels=["BENIGN", "BENIGN"])]) == 1
    assert store.write_prediction_columns([]) == 0
    assert store.write_prediction_columns([columns([], 12)]) == 0
    store.write_labels([label(flow_id) for flow_id in "abcdefg"])

    frame = store.labelled_frame()
    assert dict(zip(frame["flow_id"], frame["predicted_label"], strict=True)) == {
        "a": "DoS", "b": "DoS", "c": "DoS", "d": "PortScan", "e": "PortScan", "f": "DoS", "g": "BENIGN"
    }  # fmt: skip
    assert store.counts() == {"predictions": 7, "labels": 7, "labelled": 7}
    assert frame.set_index("flow_id").loc["a", "Flow Duration"] == 0.0  # row 0 of the first batch


def test_array_likes_of_other_dtypes_are_accepted(store: LogStore) -> None:
    batch = PredictionColumns(
        flow_ids=np.array(["a", "b"]),
        predicted_at=datetime(2024, 3, 1, 8, 0),  # naive: taken as UTC
        feature_names=["f", "g"],  # type: ignore[arg-type]
        features=np.array([[1, 2], [3, 4]], dtype=np.int32),
        predicted_labels=("DoS", "BENIGN"),
        confidences=[1, 0.5],  # type: ignore[arg-type]
        trees_used=np.array([0, 7], dtype=np.uint16),
        model_version="",
    )
    assert store.write_prediction_columns((batch,)) == 2
    store.write_labels([label("a"), label("b")])
    frame = store.labelled_frame()
    assert frame[["f", "g"]].to_numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert frame["trees_used"].tolist() == [0, 7] and frame["confidence"].tolist() == [1.0, 0.5]
    assert frame["predicted_at"].iloc[0] == pd.Timestamp(T0)


def bad_batches() -> list[tuple[str, Callable[[PredictionColumns], PredictionColumns], str, int | None]]:
    nan_at = np.arange(12, dtype=np.float64).reshape(4, 3)
    nan_at[2, 1] = np.nan
    inf_at = np.zeros((4, 3))
    inf_at[3, 0] = -np.inf
    return [
        ("nan feature", lambda b: replace(b, features=nan_at), "'Fwd Packets/s' is not finite \\(nan\\)", 2),
        ("inf feature", lambda b: replace(b, features=inf_at), "'Flow Duration' is not finite \\(-inf\\)", 3),
        ("features shape", lambda b: replace(b, features=np.zeros((4, 2))), "features has shape", None),
        ("features rows", lambda b: replace(b, features=np.zeros((3, 3))), "features has shape", None),
        ("features 1-d", lambda b: replace(b, features=np.zeros(12)), "features has shape", None),
        ("features text", lambda b: replace(b, features=np.full((4, 3), "x")), "features must hold real numbers", None),
        (
            "features bool",
            lambda b: replace(b, features=np.ones((4, 3), bool)),
            "features must hold real numbers",
            None,
        ),
        (
            "confidence nan",
            lambda b: replace(b, confidences=np.array([0.5, 0.5, 0.5, np.nan])),
            "confidence must be a finite",
            3,
        ),
        (
            "confidence > 1",
            lambda b: replace(b, confidences=np.array([0.5, 1.5, 0.5, 0.5])),
            "confidence must lie in",
            1,
        ),
        (
            "confidence < 0",
            lambda b: replace(b, confidences=np.array([-0.1, 0.5, 0.5, 0.5])),
            "confidence must lie in",
            0,
        ),
        ("confidences length", lambda b: replace(b, confidences=np.ones(3)), "confidences has shape", None),
        (
            "trees negative",
            lambda b: replace(b, trees_used=np.array([1, 2, -3, 4])),
            "trees_used must be a non-negative",
            2,
        ),
        (
            "trees float",
            lambda b: replace(b, trees_used=np.array([1.0, 2, 3, 4])),
            "trees_used must hold integers",
            None,
        ),
        ("trees length", lambda b: replace(b, trees_used=np.ones(5, int)), "trees_used has shape", None),
        ("empty flow id", lambda b: replace(b, flow_ids=["x1", "x2", " ", "x4"]), "flow_id must be a non-empty", 2),
        ("flow id not str", lambda b: replace(b, flow_ids=["x1", 2, "x3", "x4"]), "flow_id must be a non-empty", 1),
        ("flow ids a str", lambda b: replace(b, flow_ids="abcd"), "flow_ids must be a sequence", None),
        ("empty label", lambda b: replace(b, predicted_labels=["DoS", "DoS", "DoS", ""]), "predicted_label must be", 3),
        ("labels length", lambda b: replace(b, predicted_labels=["DoS"]), "predicted_labels has 1 values", None),
        ("name clash", lambda b: replace(b, feature_names=("label", "b", "c")), "'label' clashes", None),
        ("name repeated", lambda b: replace(b, feature_names=("a", "b", "a")), "'a' is listed twice", None),
        ("name empty", lambda b: replace(b, feature_names=("a", "", "c")), "feature names must be non-empty", None),
        ("name not str", lambda b: replace(b, feature_names=("a", 2, "c")), "feature names must be non-empty", None),
        ("time not datetime", lambda b: replace(b, predicted_at="2024-01-01"), "predicted_at must be a datetime", None),
        ("version not str", lambda b: replace(b, model_version=3), "model_version must be a string", None),
    ]


@pytest.mark.parametrize(("case", "spoil", "message", "index"), bad_batches(), ids=[case[0] for case in bad_batches()])
def test_a_bad_batch_writes_nothing_of_its_call(
    store: LogStore,
    case: str,
    spoil: Callable[[PredictionColumns], PredictionColumns],
    message: str,
    index: int | None,
) -> None:
    store.write_prediction_columns([columns(["kept-1", "kept-2"])])
    store.write_labels([label("kept-1"), label("kept-2"), label("x1"), label("g1")])
    before, sets_before = store.labelled_frame(), raw_count(store, "feature_sets")

    good = columns(["g1", "g2"], 1, names=("other",), features=np.ones((2, 1)))
    bad = spoil(columns(["x1", "x2", "x3", "x4"], 2))
    with pytest.raises(InvalidFlowError, match=message) as raised:
        store.write_prediction_columns([good, bad, columns(["g3"], 3)])
    assert raised.value.index == index
    assert str(raised.value).endswith("(batch 1)")
    assert store.counts() == {"predictions": 2, "labels": 4, "labelled": 2}
    assert raw_count(store, "feature_sets") == sets_before
    pd.testing.assert_frame_equal(store.labelled_frame(), before)
    assert store.write_prediction_columns([good]) == 2  # the store still works


def test_a_single_bad_batch_is_named_without_a_batch_number(store: LogStore) -> None:
    with pytest.raises(InvalidFlowError, match="not finite") as raised:
        store.write_prediction_columns([columns(["a"], features=np.array([[1.0, np.inf, 2.0]]))])
    assert (raised.value.feature, raised.value.index) == ("Fwd Packets/s", 0)
    assert str(raised.value) == "flow 0: feature 'Fwd Packets/s' is not finite (inf)"
    with pytest.raises(InvalidFlowError, match="a sequence of PredictionColumns"):
        store.write_prediction_columns(columns(["a"]))  # type: ignore[arg-type]
    with pytest.raises(InvalidFlowError, match="must be PredictionColumns, not PredictionRecord"):
        store.write_prediction_columns([prediction("a", 1)])  # type: ignore[list-item]
    assert store.counts()["predictions"] == 0


def test_an_error_in_a_later_batch_names_the_row_within_that_batch(store: LogStore) -> None:
    bad = np.ones((3, 3))
    bad[1, 2] = np.nan
    calls = [
        ([columns(["a", "b"]), columns(["c", "d", "e"], features=bad)], "Bwd Packets/s", 1),
        ([columns(["a"]), columns(["b", "c"], confidences=np.array([0.5, 2.0]))], None, 1),
        ([columns(["a", "b"]), columns(["c"]), columns(["d", "e"], trees_used=np.array([3, -1]))], None, 1),
    ]
    for batches, feature, index in calls:
        with pytest.raises(InvalidFlowError) as raised:
            store.write_prediction_columns(batches)
        assert (raised.value.feature, raised.value.index) == (feature, index)
        assert str(raised.value).endswith(f"(batch {len(batches) - 1})")
    assert store.counts()["predictions"] == 0


def test_inserts_reuse_two_statement_texts_whatever_the_batch_size(store: LogStore) -> None:
    statements: list[tuple[str, bool]] = []

    @event.listens_for(store._engine, "before_cursor_execute")
    def _record(_conn: object, _cursor: object, statement: str, _params: object, _context: object, many: bool) -> None:
        if "predictions" in statement and statement.lstrip().upper().startswith("INSERT"):
            statements.append((statement, many))

    written = 0
    for size in (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 1000):
        written += store.write_prediction_columns([columns([f"s{size}-{i}" for i in range(size)], size)])
    written += store.write_prediction_columns([columns([f"m{size}-0"], size) for size in range(1, 40)])
    for size in (1, 4, 9, 333):
        written += store.write_predictions([prediction(f"r{size}-{i}", size) for i in range(size)])
    assert written == raw_count(store, "predictions") == 1375 + 39 + 347

    texts = {statement for statement, _many in statements}
    assert len(texts) == 2, f"the insert's SQL changed with the batch size: {len(texts)} texts"
    placeholders = sorted(text.count("?") + text.count("%s") for text in texts)
    assert placeholders == [8, 8 * INSERT_PAGE_ROWS]  # one row, and one full page, each run by executemany
    assert any(many for _statement, many in statements)


def test_pages_of_rows_keep_first_write_wins_and_count_only_new_rows(store: LogStore) -> None:
    assert store.write_prediction_columns([columns([f"p{i}" for i in range(10)])]) == 10
    size = 3 * INSERT_PAGE_ROWS + 5  # three full pages and a rest
    ids = [f"p{i}" for i in range(size)]
    ids[1] = ids[0]  # a duplicate inside the first page
    ids[-1] = ids[INSERT_PAGE_ROWS]  # a duplicate of a row of the second page, in the rest
    features = np.arange(size * 3, dtype=np.float64).reshape(size, 3)
    assert store.write_prediction_columns([columns(ids, features=features)]) == size - 10 - 1
    assert raw_count(store, "predictions") == size - 1
    store.write_labels([label(f"p{INSERT_PAGE_ROWS}")])
    stored = store.labelled_frame(feature_names=NAMES)
    np.testing.assert_array_equal(stored[list(NAMES)].to_numpy(), [features[INSERT_PAGE_ROWS]])  # the first write won


def test_a_new_store_reads_and_extends_feature_sets_written_by_another(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/logs.db"
    with LogStore(url) as store:
        store.write_prediction_columns([columns(["a"], features=np.array([[1.0, 2.0, 3.0]]))])
        store.write_labels([label("a"), label("b")])
    with LogStore(url) as reopened:
        assert reopened.labelled_frame()[list(NAMES)].to_numpy().tolist() == [[1.0, 2.0, 3.0]]
        assert reopened.write_prediction_columns([columns(["a", "b"], 1, features=np.ones((2, 3)))]) == 1
        assert reopened.labelled_frame()[list(NAMES)].to_numpy().tolist() == [[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]
        assert raw_count(reopened, "feature_sets") == 1


OLD_LAYOUT_DDL = {
    "sqlite": (
        "CREATE TABLE predictions (flow_id TEXT NOT NULL, predicted_at DATETIME NOT NULL, features JSON NOT NULL,"
        " predicted_label TEXT NOT NULL, confidence FLOAT NOT NULL, trees_used INTEGER NOT NULL,"
        " model_version TEXT NOT NULL, PRIMARY KEY (flow_id))",
        "CREATE INDEX ix_predictions_predicted_at ON predictions (predicted_at)",
        "CREATE TABLE labels (flow_id TEXT NOT NULL, true_label TEXT NOT NULL, labelled_at DATETIME NOT NULL,"
        " PRIMARY KEY (flow_id))",
        "INSERT INTO predictions VALUES ('f1', '2024-01-01 12:00:00.000000', '{\"Flow Duration\": 3.0}', 'DoS',"
        " 0.9, 80, '1')",
    ),
    "postgresql": (
        "CREATE TABLE predictions (flow_id TEXT NOT NULL, predicted_at TIMESTAMP WITH TIME ZONE NOT NULL,"
        " features JSON NOT NULL, predicted_label TEXT NOT NULL, confidence FLOAT NOT NULL,"
        " trees_used INTEGER NOT NULL, model_version TEXT NOT NULL, PRIMARY KEY (flow_id))",
        "CREATE TABLE labels (flow_id TEXT NOT NULL, true_label TEXT NOT NULL,"
        " labelled_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (flow_id))",
        "INSERT INTO predictions VALUES ('f1', '2024-01-01 12:00:00+00', '{\"Flow Duration\": 3.0}', 'DoS',"
        " 0.9, 80, '1')",
    ),
}


def test_a_sqlite_file_of_the_old_layout_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "old" / "logs.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as connection:
        for statement in OLD_LAYOUT_DDL["sqlite"]:
            connection.execute(statement)
    connection.close()
    before = path.read_bytes()

    with pytest.raises(ArfIdsError, match="old layout") as raised:
        LogStore(f"sqlite:///{path}")
    message = str(raised.value)
    assert str(path) in message
    assert "Move that database aside" in message and "point the log store URL" in message
    assert path.read_bytes() == before  # not even switched to WAL
    assert sorted(p.name for p in path.parent.iterdir()) == ["logs.db"]
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"predictions", "labels"}
        assert connection.execute("SELECT features FROM predictions").fetchall() == [('{"Flow Duration": 3.0}',)]
    connection.close()


def test_a_database_of_the_old_layout_is_refused_on_any_backend(store: LogStore) -> None:
    url = str(store._engine.url.render_as_string(hide_password=False))
    backend = store._engine.dialect.name
    with store._engine.begin() as connection:
        connection.execute(text("DROP TABLE predictions"))
        connection.execute(text("DROP TABLE labels"))
        connection.execute(text("DROP TABLE feature_sets"))
        for statement in OLD_LAYOUT_DDL[backend]:
            if not statement.startswith("CREATE INDEX"):
                connection.execute(text(statement))
    with pytest.raises(ArfIdsError, match="old layout.*left unchanged"):
        LogStore(url)
    with store._engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM predictions")).scalar_one() == 1
        tables = {
            name
            for name in ("feature_sets", "labels", "predictions")
            if store._engine.dialect.has_table(connection, name)
        }
    assert tables == {"labels", "predictions"}
