"""Small timing helpers shared by the benchmark's sections.

>>> round(rate(1_000, 0.5))
2000
>>> summary = latency_summary([0.001, 0.002, 0.003])
>>> summary["p50_us"], summary["count"]
(2000.0, 3)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def rate(count: float, seconds: float) -> float:
    """``count / seconds`` (things per second); 0 when nothing was timed."""
    return float(count) / seconds if seconds > 0 else 0.0


def best_time(work: Callable[[], T], *, repeats: int, budget_seconds: float = 5.0) -> tuple[float, T]:
    """The fastest of up to ``repeats`` timed calls of ``work`` (fewer once ``budget_seconds`` are spent; at least one).

    Returns that time in seconds and the last call's result.
    """
    best = float("inf")
    spent = 0.0
    result: T
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        result = work()
        elapsed = time.perf_counter() - started
        best = min(best, elapsed)
        spent += elapsed
        if spent >= budget_seconds:
            break
    return best, result


def time_each(work: Callable[[T], object], items: Sequence[T], *, warm_up: int = 100) -> list[float]:
    """Seconds of ``work(item)`` for each item, each timed on its own (after ``warm_up`` untimed calls)."""
    for item in items[:warm_up]:
        work(item)
    clock = time.perf_counter_ns
    seconds = []
    for item in items:
        started = clock()
        work(item)
        seconds.append((clock() - started) / 1e9)
    return seconds


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99 and mean in microseconds, and the sample count."""
    values = np.asarray(seconds, dtype=np.float64) * 1e6
    return {
        "p50_us": round(float(np.percentile(values, 50)), 2),
        "p99_us": round(float(np.percentile(values, 99)), 2),
        "mean_us": round(float(values.mean()), 2),
        "count": int(values.size),
    }
