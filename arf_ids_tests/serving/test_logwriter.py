"""The batched log writer on a real SQLite log store: bounded delay, batching, retry, refusal, close."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from arf_ids.core.errors import InvalidFlowError
from arf_ids.core.logstore import LogStore, PredictionRecord
from arf_ids.serving.logwriter import BatchedWriter, LogWriterConfig


def record(flow_id: str, confidence: float = 0.9) -> PredictionRecord:
    return PredictionRecord(flow_id, datetime.now(UTC), {"Flow Duration": 1.0}, "BENIGN", confidence, 3, "1")


def records_of(store: LogStore) -> Callable[[Sequence[list[PredictionRecord]]], int]:
    """The writer's ``write`` for chunks that are lists of records."""
    return lambda chunks: store.write_predictions([item for chunk in chunks for item in chunk])


def test_records_are_committed_within_the_flush_delay_not_at_once(tmp_path: Path) -> None:
    store = LogStore(f"sqlite:///{tmp_path}/logs.db")
    writer = BatchedWriter("predictions", records_of(store), LogWriterConfig(flush_seconds=0.3))
    writer.start()
    submitted = time.monotonic()
    writer.submit([record("a"), record("b")])
    assert store.counts()["predictions"] == 0  # batched: not written on the request path
    while store.counts()["predictions"] < 2:
        time.sleep(0.01)
    waited = time.monotonic() - submitted
    assert 0.3 <= waited < 0.3 + 1.0
    writer.close()
    assert writer.stats().committed == 2


def test_a_full_batch_is_written_without_waiting_and_batches_are_capped() -> None:
    batches: list[list[str]] = []
    config = LogWriterConfig(flush_seconds=30, batch_size=4)
    writer = BatchedWriter("x", lambda chunks: batches.append([item for chunk in chunks for item in chunk]), config)
    writer.start()
    for item in "abcdefghij":
        writer.submit([item])
    assert writer.flush(timeout=5)
    writer.close()
    assert [len(batch) for batch in batches[:2]] == [4, 4] and "".join(sum(batches, [])) == "abcdefghij"


def test_a_chunk_larger_than_a_batch_is_committed_whole_in_one_write() -> None:
    batches: list[list[list[str]]] = []
    writer = BatchedWriter("x", batches.append, LogWriterConfig(flush_seconds=30, batch_size=4))
    writer.start()
    writer.submit(["a", "b"])
    writer.submit(list("cdefghij"))
    writer.submit(["k"])
    writer.close()
    assert batches == [[["a", "b"]], [list("cdefghij")], [["k"]]]
    assert writer.stats().committed == 11


def test_close_commits_everything_still_queued(tmp_path: Path) -> None:
    store = LogStore(f"sqlite:///{tmp_path}/logs.db")
    writer = BatchedWriter("predictions", records_of(store), LogWriterConfig(flush_seconds=30))
    writer.start()
    writer.submit([record(f"f{i}") for i in range(500)])
    writer.close()
    assert store.counts()["predictions"] == 500 and writer.stats().pending == 0


def test_an_unavailable_store_is_retried_and_nothing_is_lost() -> None:
    written: list[str] = []
    failures = iter([ConnectionError("database down"), ConnectionError("still down")])

    def flaky(chunks: Sequence[list[str]]) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        for chunk in chunks:
            written.extend(chunk)

    writer = BatchedWriter("x", flaky, LogWriterConfig(flush_seconds=0.01, retry_seconds=0.05))
    writer.start()
    writer.submit(["a", "b", "c"])
    assert writer.flush(timeout=5)
    writer.close()
    stats = writer.stats()
    assert written == ["a", "b", "c"] and (stats.failed_writes, stats.committed, stats.rejected) == (2, 3, 0)
    assert "still down" in (stats.last_error or "")


def test_a_bad_batch_is_rejected_not_retried(tmp_path: Path) -> None:
    store = LogStore(f"sqlite:///{tmp_path}/logs.db")
    writer = BatchedWriter("predictions", records_of(store), LogWriterConfig(flush_seconds=0.01))
    writer.start()
    writer.submit([record("ok"), record("bad", confidence=2.0)])
    assert writer.flush(timeout=5)
    writer.submit([record("later")])
    writer.close()
    stats = writer.stats()
    assert (stats.rejected, stats.committed) == (2, 1)
    assert InvalidFlowError.__name__ in (stats.last_error or "")
    assert store.counts()["predictions"] == 1


def test_beyond_max_pending_records_are_dropped_and_counted() -> None:
    release = threading.Event()
    dropped: list[int] = []
    writer = BatchedWriter("x", lambda batch: release.wait(), LogWriterConfig(flush_seconds=0.01, max_pending=5),
                           on_drop=dropped.append)
    writer.start()
    assert writer.submit(list("abc")) == 3
    assert writer.submit(list("defg")) == 0  # does not fit: dropped whole
    assert writer.submit(list("de")) == 2
    assert dropped == [4] and writer.stats().dropped == 4
    release.set()
    writer.close()
    assert writer.stats().committed == 5
