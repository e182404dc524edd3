"""The prediction/label log against a real SQLite file (and PostgreSQL when one is given)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from arf_ids.core.errors import ArfIdsError, InvalidFlowError, UnknownLabelError
from arf_ids.core.logstore import LABELLED_COLUMNS, LabelRecord, LogStore, PredictionRecord

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
            connection.execute(text("DROP TABLE IF EXISTS predictions, labels"))
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
