"""Batched, durable log writes off the request path, with a bounded delay.

A request hands its records to :meth:`BatchedWriter.submit` as one chunk (a sized
collection: a list of label records, or one request's prediction columns), which only
appends it to an in-memory queue. One background thread commits the queued chunks
together: as soon as ``batch_size`` records wait, or when the oldest waiting record is
``flush_seconds`` old. :meth:`BatchedWriter.close` commits everything still queued before
it returns.

What a crash loses is therefore exactly what was not committed yet: the records
submitted in the last ``flush_seconds`` before the crash, plus the batch whose
transaction was in progress. A failed write (database down) keeps its batch and
retries every ``retry_seconds``; while it cannot write, at most ``max_pending`` records
wait and a later chunk that does not fit is dropped whole and counted.

>>> written = []
>>> writer = BatchedWriter("demo", lambda chunks: written.extend(chunks), LogWriterConfig())
>>> writer.start()
>>> writer.submit(["a", "b"])
2
>>> writer.close()
>>> written, writer.stats().committed
([['a', 'b']], 2)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from arf_ids.core.errors import ArfIdsError

T = TypeVar("T", bound=Sized)
logger = logging.getLogger(__name__)


class LogWriterConfig(BaseModel):
    """How the service batches its prediction and label log writes."""

    model_config = ConfigDict(frozen=True)

    flush_seconds: float = Field(
        default=0.5, gt=0, le=60, description="longest a record waits before its commit starts"
    )
    batch_size: int = Field(
        default=2_000, ge=1, description="records that start a commit at once (a larger chunk is committed whole)"
    )
    max_pending: int = Field(default=200_000, ge=1, description="records held while the database is unreachable")
    retry_seconds: float = Field(default=1.0, gt=0, description="pause after a failed write")
    close_timeout_seconds: float = Field(default=30.0, gt=0, description="how long shutdown keeps trying to commit")


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters of one writer, in records."""

    submitted: int
    committed: int
    pending: int
    dropped: int
    rejected: int
    failed_writes: int
    last_error: str | None
    max_commit_seconds: float


class BatchedWriter(Generic[T]):
    """Commits submitted chunks of records in batches from one background thread.

    ``write`` stores a list of chunks in one transaction. An :class:`ArfIdsError` from it means
    the batch itself is bad (it is rejected, counted, and not retried); any other error
    is taken as the store being unavailable (the batch is kept and retried).
    """

    def __init__(
        self,
        name: str,
        write: Callable[[Sequence[T]], object],
        config: LogWriterConfig,
        *,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._write = write
        self._on_drop = on_drop
        self._queue: deque[tuple[float, T]] = deque()  # (submitted at, chunk)
        self._pending = 0  # records in the queue
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._flush_requested = False
        self._submitted = self._committed = self._dropped = self._rejected = self._failed_writes = 0
        self._last_error: str | None = None
        self._max_commit_seconds = 0.0

    def start(self) -> None:
        """Start the background thread (once)."""
        with self._condition:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"log-writer-{self.name}", daemon=True)
                self._thread.start()

    def submit(self, chunk: T) -> int:
        """Queue one chunk for the next commit; returns how many records were accepted (never blocks).

        A chunk that would take the queue past ``max_pending`` records is dropped whole.
        """
        count = len(chunk)
        with self._condition:
            if self._closing:
                raise ArfIdsError(f"log writer {self.name!r} is closed")
            if count == 0:
                return 0
            waiting = self._pending
            if waiting + count > self.config.max_pending:
                self._dropped += count
                accepted = 0
            else:
                self._queue.append((time.monotonic(), chunk))
                self._pending += count
                self._submitted += count
                accepted = count
                # The thread already waits for the oldest record's due time: wake it only when it
                # sleeps without one (empty queue) or a full batch is waiting.
                if waiting == 0 or self._pending >= self.config.batch_size:
                    self._condition.notify()
        if not accepted:
            logger.error("log writer %r is full (%d pending): dropped %d records", self.name, waiting, count)
            if self._on_drop is not None:
                self._on_drop(count)
        return accepted

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record submitted so far is committed or rejected; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            target = self._submitted
            self._flush_requested = True
            self._condition.notify_all()
            while self._committed + self._rejected < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def close(self) -> None:
        """Commit what is queued (trying for ``close_timeout_seconds``) and stop the thread."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(self.config.close_timeout_seconds + self.config.retry_seconds)
        lost = self.stats().pending
        if lost:
            logger.error("log writer %r closed with %d records it could not commit", self.name, lost)

    def stats(self) -> WriterStats:
        with self._condition:
            return WriterStats(
                submitted=self._submitted,
                committed=self._committed,
                pending=self._pending,
                dropped=self._dropped,
                rejected=self._rejected,
                failed_writes=self._failed_writes,
                last_error=self._last_error,
                max_commit_seconds=self._max_commit_seconds,
            )

    # ------------------------------------------------------------------ thread

    def _next_batch(self) -> list[T] | None:
        """Block until a batch is due (the oldest chunks, up to ``batch_size`` records); None once closed and empty."""
        with self._condition:
            while True:
                if self._queue:
                    due = self._queue[0][0] + self.config.flush_seconds
                    urgent = self._closing or self._flush_requested or self._pending >= self.config.batch_size
                    if urgent or time.monotonic() >= due:
                        batch, records = [], 0
                        for _, chunk in self._queue:
                            if batch and records + len(chunk) > self.config.batch_size:
                                break
                            batch.append(chunk)
                            records += len(chunk)
                        return batch
                    self._condition.wait(max(0.0, due - time.monotonic()))
                elif self._closing:
                    return None
                else:
                    self._condition.wait()

    def _run(self) -> None:
        close_deadline: float | None = None
        while (batch := self._next_batch()) is not None:
            started = time.monotonic()
            try:
                self._write(batch)
            except ArfIdsError as error:
                rejected = self._settle(batch, rejected=True, error=error)
                logger.error("log writer %r rejected a batch of %d records: %s", self.name, rejected, error)
            except Exception as error:  # the store is unavailable: keep the batch and retry
                with self._condition:
                    self._failed_writes += 1
                    self._last_error = f"{type(error).__name__}: {error}"
                    closing = self._closing
                logger.warning("log writer %r cannot write (%s); retrying", self.name, self._last_error)
                if closing:
                    close_deadline = close_deadline or time.monotonic() + self.config.close_timeout_seconds
                    if time.monotonic() >= close_deadline:
                        return
                time.sleep(self.config.retry_seconds)
            else:
                self._settle(batch, rejected=False, error=None, seconds=time.monotonic() - started)

    def _settle(self, batch: list[T], *, rejected: bool, error: Exception | None, seconds: float = 0.0) -> int:
        """Take ``batch`` (the queue's oldest chunks) off the queue; returns its record count."""
        count = sum(len(chunk) for chunk in batch)
        with self._condition:
            self._max_commit_seconds = max(self._max_commit_seconds, seconds)
            for _ in batch:
                self._queue.popleft()
            self._pending -= count
            if rejected:
                self._rejected += count
                self._last_error = f"{type(error).__name__}: {error}"
            else:
                self._committed += count
            self._flush_requested = self._flush_requested and bool(self._queue)
            self._condition.notify_all()
        return count
