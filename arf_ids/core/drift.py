"""Drift detection: ADWIN on the error stream, confirmed by the error trend.

A deployed model's labelled predictions give a 0/1 error stream (``predicted != true``)
in time order. river's ADWIN finds a change in its mean, but not the direction: a model
that gets *better* also changes the stream. A detection is therefore confirmed as a
NEGATIVE drift (the error rose) only when the error rate of the last ``K`` samples is
above both the rate of the ``K`` samples before them and ADWIN's estimate; ``K`` is
``DriftConfig.confirm_window``. While in drift, a detection whose last-``K`` rate is
below both marks the END of the drift. Other detections are counted and ignored.

Which ADWIN estimate: river 0.26's ADWIN drops the old sub-window *inside* the
``update`` that detects the change, so ``adwin.estimation`` read after a detection is
the mean of the new sub-window only, i.e. already the new error level, and "the last K
are above it" is close to a coin toss. The rule needs the estimate of the whole window
*before* the cut (old and new sub-windows), the long-run level the recent errors are
compared with. river resets the whole detector at the update after a detection, and
ADWIN only drops samples at a detection, so that window is exactly every sample since
the last reset; the detector keeps its sum and count. ``DriftEvent.adwin_estimate``
is that value.

Timestamps: ``datetime`` (``pandas.Timestamp`` included, it is a ``datetime``); naive
ones are taken as UTC. Every timestamp in a report is a timezone-aware UTC ``datetime``.
Times must not go backwards (equal times are fine).

>>> from datetime import datetime, timedelta, timezone
>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> errors = np.concatenate([rng.random(3000) < 0.05, rng.random(3000) < 0.30])
>>> start = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> times = [start + timedelta(seconds=i) for i in range(len(errors))]
>>> report = detect_drift(times, errors)
>>> report.drift, report.drift_type, 3000 <= report.first_drift_index < 3500
(True, 'negative', True)
>>> report.first_drift_at == times[report.first_drift_index]
True
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from river import drift as river_drift

from arf_ids.core.errors import MalformedDataError

#: Chosen by ``scripts/measure_drift_window.py``; the table and reasoning are in
#: ``docs/drift-window.md``.
DEFAULT_CONFIRM_WINDOW = 500

_SOURCE = "error stream"

ErrorBit = bool | int | np.bool_ | np.integer
Timestamps = Sequence[datetime] | pd.Series | pd.DatetimeIndex | np.ndarray
ErrorBits = Sequence[ErrorBit] | pd.Series | np.ndarray


class DriftConfig(BaseModel):
    """How drift is detected and confirmed."""

    model_config = ConfigDict(frozen=True)

    delta: float = Field(default=0.002, gt=0.0, lt=1.0, description="ADWIN significance value")
    confirm_window: int = Field(
        default=DEFAULT_CONFIRM_WINDOW,
        ge=1,
        description="K: the last K errors are compared with the K before them and with ADWIN's estimate",
    )
    min_labelled: int = Field(default=100, ge=0, description="no drift is confirmed before this many samples")


class DriftEvent(BaseModel):
    """A confirmed change: the start (error rose) or the end (error fell back) of a drift."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["start", "end"]
    at: datetime
    index: int = Field(description="position of the sample in the stream the detector has seen")
    recent_error_rate: float = Field(description="error rate of the last K samples")
    previous_error_rate: float = Field(description="error rate of the K samples before them")
    adwin_estimate: float = Field(description="ADWIN's mean over its whole window before the cut")


class DriftReport(BaseModel):
    """What a whole error stream says about drift; ``model_dump(mode="json")`` gives JSON.

    ``drift_end_at`` is the end of the last drift episode, or ``None`` while the stream
    ends in drift (the drift is ongoing).
    """

    model_config = ConfigDict(frozen=True)

    drift: bool
    drift_type: Literal["negative", "none"]
    first_drift_at: datetime | None
    first_drift_index: int | None
    drift_end_at: datetime | None
    drift_end_index: int | None
    error_rate: float | None = Field(description="over the whole stream; None when it is empty")
    error_rate_before: float | None = Field(description="over samples before the first drift sample")
    error_rate_after: float | None = Field(description="over the first drift sample and all after it")
    adwin_estimate: float = Field(description="ADWIN's estimation at the end of the stream")
    n_samples: int
    n_detections: int = Field(description="raw ADWIN detections, confirmed or not")
    n_confirmed: int = Field(description="confirmed drift starts")
    events: tuple[DriftEvent, ...]
    config: DriftConfig


@dataclass(frozen=True)
class _Verdict:
    kind: Literal["start", "end"]
    index: int
    recent: float
    previous: float
    estimate: float


def _utc(at: object, *, index: int | None = None) -> datetime:
    if not isinstance(at, datetime):
        where = f"sample {index}: " if index is not None else ""
        raise MalformedDataError(_SOURCE, f"{where}a timestamp must be a datetime, not {type(at).__name__} {at!r}")
    if isinstance(at, pd.Timestamp):
        at = at.to_pydatetime()
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _error_bit(error: object, *, index: int | None = None) -> int:
    if isinstance(error, bool | np.bool_ | int | np.integer) and error in (0, 1):
        return int(error)
    where = f"sample {index}: " if index is not None else ""
    raise MalformedDataError(_SOURCE, f"{where}an error must be 0/1 or a bool, not {error!r}")


class ConfirmedDriftDetector:
    """Streaming drift detector: feed one labelled prediction's error at a time.

    >>> from datetime import datetime, timezone
    >>> detector = ConfirmedDriftDetector(DriftConfig(confirm_window=30))
    >>> detector.update(0, datetime(2024, 1, 1, tzinfo=timezone.utc)) is None
    True
    >>> detector.n_samples, detector.in_drift
    (1, False)
    """

    def __init__(self, config: DriftConfig | None = None) -> None:
        self.config = config or DriftConfig()
        self._adwin = river_drift.ADWIN(delta=self.config.delta)
        self._last_errors: deque[int] = deque(maxlen=2 * self.config.confirm_window)
        self._window_sum = 0
        self._window_count = 0
        self._n_samples = 0
        self._n_detections = 0
        self._last_at: datetime | None = None
        self._in_drift = False
        self._events: list[DriftEvent] = []

    @property
    def n_samples(self) -> int:
        return self._n_samples

    @property
    def n_detections(self) -> int:
        """Raw ADWIN detections (river's own counter restarts at every reset)."""
        return self._n_detections

    @property
    def n_confirmed(self) -> int:
        """Confirmed drift starts."""
        return sum(1 for event in self._events if event.kind == "start")

    @property
    def in_drift(self) -> bool:
        return self._in_drift

    @property
    def events(self) -> tuple[DriftEvent, ...]:
        return tuple(self._events)

    @property
    def adwin_estimate(self) -> float:
        """ADWIN's current estimation (mean of its current window)."""
        return float(self._adwin.estimation)

    def update(self, error: ErrorBit, at: datetime) -> DriftEvent | None:
        """Feed one error (``predicted != true``) observed at ``at``; return a confirmed event."""
        bit = _error_bit(error, index=self._n_samples)
        moment = _utc(at, index=self._n_samples)
        if self._last_at is not None and moment < self._last_at:
            raise MalformedDataError(
                _SOURCE,
                f"sample {self._n_samples}: time {moment.isoformat()} is earlier than the previous "
                f"sample's {self._last_at.isoformat()}; feed errors in time order",
            )
        self._last_at = moment
        verdict = self._advance(bit)
        return None if verdict is None else self._record(verdict, moment)

    def _advance(self, bit: int) -> _Verdict | None:
        if self._adwin.drift_detected:  # river resets ADWIN inside this update
            self._window_sum = 0
            self._window_count = 0
        self._adwin.update(bit)
        self._last_errors.append(bit)
        self._window_sum += bit
        self._window_count += 1
        self._n_samples += 1
        if not self._adwin.drift_detected:
            return None
        self._n_detections += 1
        return self._judge()

    def _judge(self) -> _Verdict | None:
        if self._n_samples < self.config.min_labelled:
            return None
        width = min(self.config.confirm_window, len(self._last_errors) // 2)
        if width == 0:
            return None
        history = list(self._last_errors)[-2 * width :]
        previous = sum(history[:width]) / width
        recent = sum(history[width:]) / width
        estimate = self._window_sum / self._window_count
        index = self._n_samples - 1
        if not self._in_drift and recent > previous and recent > estimate:
            self._in_drift = True
            return _Verdict("start", index, recent, previous, estimate)
        if self._in_drift and recent < previous and recent < estimate:
            self._in_drift = False
            return _Verdict("end", index, recent, previous, estimate)
        return None

    def _record(self, verdict: _Verdict, at: datetime) -> DriftEvent:
        event = DriftEvent(
            kind=verdict.kind,
            at=at,
            index=verdict.index,
            recent_error_rate=verdict.recent,
            previous_error_rate=verdict.previous,
            adwin_estimate=verdict.estimate,
        )
        self._events.append(event)
        return event


def _validated_stream(times: Timestamps, errors: ErrorBits) -> tuple[pd.DatetimeIndex, np.ndarray]:
    bits = np.asarray(errors)
    if bits.ndim != 1:
        raise MalformedDataError(_SOURCE, f"errors must be one-dimensional, got shape {bits.shape}")
    if len(times) != len(bits):
        raise MalformedDataError(_SOURCE, f"{len(times)} timestamps but {len(bits)} errors; they must pair up")
    if bits.dtype.kind in "biuf":
        bad = np.flatnonzero(~np.isin(bits, (0, 1))).tolist()
    else:
        bad = [i for i, value in enumerate(bits.tolist()) if not (isinstance(value, int | float) and value in (0, 1))]
    if bad:
        raise MalformedDataError(
            _SOURCE, f"sample {bad[0]}: an error must be 0/1 or a bool, not {bits.tolist()[bad[0]]!r}"
        )
    given = times if isinstance(times, pd.DatetimeIndex) else pd.Index(times)
    if given.dtype.kind in "biuf":
        raise MalformedDataError(
            _SOURCE,
            "timestamps must be datetimes, not numbers (convert epoch seconds with pd.to_datetime(x, unit='s'))",
        )
    try:
        stamps = pd.DatetimeIndex(pd.to_datetime(given, utc=True))
    except (TypeError, ValueError) as exc:
        raise MalformedDataError(_SOURCE, f"timestamps cannot be read as datetimes: {exc}") from None
    if stamps.hasnans:
        raise MalformedDataError(_SOURCE, f"sample {int(np.flatnonzero(stamps.isna())[0])}: timestamp is missing")
    backwards = np.flatnonzero(np.diff(stamps.asi8) < 0)
    if backwards.size:
        i = int(backwards[0]) + 1
        raise MalformedDataError(
            _SOURCE,
            f"times are not sorted: sample {i} ({stamps[i].isoformat()}) is earlier than "
            f"sample {i - 1} ({stamps[i - 1].isoformat()})",
        )
    return stamps, bits.astype(np.int64)


def detect_drift(times: Timestamps, errors: ErrorBits, config: DriftConfig | None = None) -> DriftReport:
    """Run a fresh ``ConfirmedDriftDetector`` over a whole error stream in time order."""
    stamps, bits = _validated_stream(times, errors)
    detector = ConfirmedDriftDetector(config)
    for bit in bits.tolist():
        verdict = detector._advance(bit)
        if verdict is not None:
            detector._record(verdict, _utc(stamps[verdict.index]))
    events = detector.events
    starts = [event for event in events if event.kind == "start"]
    first = starts[0] if starts else None
    last_end = events[-1] if events and events[-1].kind == "end" else None
    n = len(bits)
    return DriftReport(
        drift=first is not None,
        drift_type="negative" if first is not None else "none",
        first_drift_at=first.at if first else None,
        first_drift_index=first.index if first else None,
        drift_end_at=last_end.at if last_end else None,
        drift_end_index=last_end.index if last_end else None,
        error_rate=float(bits.mean()) if n else None,
        error_rate_before=float(bits[: first.index].mean()) if first and first.index > 0 else None,
        error_rate_after=float(bits[first.index :].mean()) if first else None,
        adwin_estimate=detector.adwin_estimate,
        n_samples=n,
        n_detections=detector.n_detections,
        n_confirmed=len(starts),
        events=events,
        config=detector.config,
    )


def error_curve(errors: ErrorBits, window: int) -> np.ndarray:
    """Rolling error rate over the last ``window`` samples (fewer at the start of the stream).

    >>> error_curve([0, 1, 1, 0], window=2).tolist()
    [0.0, 0.5, 1.0, 0.5]
    """
    if window < 1:
        raise MalformedDataError("error_curve", f"the rolling window must be at least 1 sample, got {window}")
    bits = np.asarray(errors, dtype=np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(bits)])
    ends = np.arange(1, len(bits) + 1)
    starts = np.maximum(ends - window, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)
