"""The drift detector on synthetic Bernoulli error streams: delay after a jump, false alarms, speed.

The same seeded streams go through three detectors: the product's
(:func:`~arf_ids.core.drift.detect_drift`, ADWIN confirmed over the last
``K = DriftConfig().confirm_window`` errors), the seed system's confirmation (``K = 30``)
and plain ADWIN (every raw detection counts). ``scripts/measure_drift_window.py``
sweeps ``K`` with the stream and measurement functions of this module.

>>> stream = jump_stream(0.05, 0.5, jump_at=100, length_after=100, seed=0, jump_id=0)
>>> stream.shape, bool(stream[:100].mean() < stream[100:].mean())
((200,), True)
>>> adwin_detections(np.zeros(1_000, dtype=bool), delta=0.002)
[]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from river import drift as river_drift

from arf_ids.bench.timing import rate
from arf_ids.core.drift import DriftConfig, detect_drift

START = pd.Timestamp("2024-01-01", tz="UTC")
#: The error-rate jumps the benchmark reports, and the stationary rates of its false-alarm count.
BENCH_JUMPS: tuple[tuple[float, float], ...] = ((0.05, 0.10), (0.10, 0.20))
STATIONARY_RATES: tuple[float, ...] = (0.05, 0.10)
#: The seed system's confirmation window.
SEED_CONFIRM_WINDOW = 30


@dataclass(frozen=True)
class JumpOutcome:
    """Over the seeds of one jump: delays of the detected ones, misses, detections before the jump."""

    delays: list[int]
    misses: int
    early: int
    detections: int


def times_for(n: int) -> pd.DatetimeIndex:
    """One timestamp a second for ``n`` samples."""
    return pd.date_range(START, periods=n, freq="s")


def jump_stream(
    p_before: float, p_after: float, *, jump_at: int, length_after: int, seed: int, jump_id: int
) -> np.ndarray:
    """Bernoulli errors at ``p_before`` for ``jump_at`` samples, then at ``p_after``."""
    rng = np.random.default_rng((seed, jump_id))
    return np.concatenate([rng.random(jump_at) < p_before, rng.random(length_after) < p_after])


def stationary_stream(rate_: float, *, length: int, seed: int) -> np.ndarray:
    """Bernoulli errors at a constant rate."""
    return np.random.default_rng((seed, 1000, int(rate_ * 1000))).random(length) < rate_


def measure_jump(
    window: int,
    rates: tuple[float, float],
    jump_id: int,
    *,
    seeds: int,
    jump_at: int,
    miss_after: int,
    times: pd.DatetimeIndex,
) -> JumpOutcome:
    """Confirmed-drift delays of the detector with confirmation window ``window`` over ``seeds`` streams."""
    p_before, p_after = rates
    config = DriftConfig(confirm_window=window)
    delays: list[int] = []
    misses = early = detections = 0
    for seed in range(seeds):
        errors = jump_stream(p_before, p_after, jump_at=jump_at, length_after=miss_after, seed=seed, jump_id=jump_id)
        report = detect_drift(times, errors, config)
        detections += report.n_detections
        starts = [event.index for event in report.events if event.kind == "start"]
        early += sum(1 for index in starts if index < jump_at)
        after = [index for index in starts if index >= jump_at]
        if after:
            delays.append(after[0] - jump_at)
        else:
            misses += 1
    return JumpOutcome(delays, misses, early, detections)


def measure_stationary(
    window: int, rate_: float, *, seeds: int, length: int, times: pd.DatetimeIndex
) -> tuple[int, int]:
    """(confirmed drifts, raw ADWIN detections) summed over the seeds."""
    config = DriftConfig(confirm_window=window)
    confirmed = detections = 0
    for seed in range(seeds):
        report = detect_drift(times, stationary_stream(rate_, length=length, seed=seed), config)
        confirmed += report.n_confirmed
        detections += report.n_detections
    return confirmed, detections


def adwin_detections(errors: np.ndarray, *, delta: float) -> list[int]:
    """Indices where a plain river ADWIN detects a change in the stream."""
    adwin = river_drift.ADWIN(delta=delta)
    found = []
    for index, bit in enumerate(errors.astype(np.int64).tolist()):
        adwin.update(bit)
        if adwin.drift_detected:
            found.append(index)
    return found


def measure_adwin_jump(
    rates: tuple[float, float], jump_id: int, *, seeds: int, jump_at: int, miss_after: int, delta: float
) -> JumpOutcome:
    """:func:`measure_jump` for plain ADWIN: its first detection at or after the jump."""
    delays: list[int] = []
    misses = early = detections = 0
    for seed in range(seeds):
        found = adwin_detections(
            jump_stream(*rates, jump_at=jump_at, length_after=miss_after, seed=seed, jump_id=jump_id), delta=delta
        )
        detections += len(found)
        early += sum(1 for index in found if index < jump_at)
        after = [index for index in found if index >= jump_at]
        if after:
            delays.append(after[0] - jump_at)
        else:
            misses += 1
    return JumpOutcome(delays, misses, early, detections)


def delay_summary(outcome: JumpOutcome) -> dict[str, Any]:
    """Median and p90 delay (samples) over the detected jumps, and the misses and early alarms."""
    delays = np.asarray(outcome.delays, dtype=np.float64)
    return {
        "median": float(np.median(delays)) if delays.size else None,
        "p90": float(np.percentile(delays, 90)) if delays.size else None,
        "detected": int(delays.size),
        "misses": outcome.misses,
        "early": outcome.early,
    }


def _jump_name(rates: tuple[float, float]) -> str:
    return f"{rates[0]:.2f}->{rates[1]:.2f}"


def drift_bench(*, seeds: int, stationary_samples: int, jump_at: int, miss_after: int) -> dict[str, Any]:
    """Updates per second, delays after each jump and stationary false alarms of the three detectors."""
    product = DriftConfig()
    windows = {"product": product.confirm_window, "seed_k30": SEED_CONFIRM_WINDOW}
    jump_times = times_for(jump_at + miss_after)
    delays: dict[str, dict[str, Any]] = {}
    for jump_id, rates in enumerate(BENCH_JUMPS):
        common = {"seeds": seeds, "jump_at": jump_at, "miss_after": miss_after}
        delays[_jump_name(rates)] = {
            **{name: delay_summary(measure_jump(k, rates, jump_id, times=jump_times, **common))
               for name, k in windows.items()},
            "adwin": delay_summary(measure_adwin_jump(rates, jump_id, delta=product.delta, **common)),
        }
    long_times = times_for(stationary_samples)
    false_alarms: dict[str, dict[str, int]] = {name: {} for name in (*windows, "adwin")}
    seconds = {"product": 0.0, "adwin": 0.0}
    for rate_ in STATIONARY_RATES:
        errors = stationary_stream(rate_, length=stationary_samples, seed=0)
        for name, k in windows.items():
            started = time.perf_counter()
            report = detect_drift(long_times, errors, DriftConfig(confirm_window=k))
            if name == "product":
                seconds["product"] += time.perf_counter() - started
            false_alarms[name][f"{rate_:.2f}"] = report.n_confirmed
        started = time.perf_counter()
        false_alarms["adwin"][f"{rate_:.2f}"] = len(adwin_detections(errors, delta=product.delta))
        seconds["adwin"] += time.perf_counter() - started
    samples = stationary_samples * len(STATIONARY_RATES)
    return {
        "delta": product.delta,
        "confirm_window": product.confirm_window,
        "seeds": seeds,
        "jump_at": jump_at,
        "stationary_samples": stationary_samples,
        "updates_per_second": {name: rate(samples, spent) for name, spent in seconds.items()},
        "delays": delays,
        "false_alarms": {name: {**counts, "total": sum(counts.values())} for name, counts in false_alarms.items()},
    }
