"""How big each benchmark section is: the full run (``make bench``) and a quick one (tests).

>>> BenchSizes.full().batch_sizes
(1000, 100000)
>>> BenchSizes.quick().train_flows < BenchSizes.full().train_flows
True
>>> sorted(SECTIONS)
['drift', 'http', 'learning', 'lineage', 'scoring', 'single']
"""

from __future__ import annotations

from dataclasses import dataclass

from arf_ids.core.lineage import LineageConfig

#: Every section, in the order a run measures them; ``http`` includes the service's memory.
SECTIONS: tuple[str, ...] = ("scoring", "single", "learning", "lineage", "drift", "http")
#: The sections that need no server.
IN_PROCESS_SECTIONS: tuple[str, ...] = tuple(section for section in SECTIONS if section != "http")
#: The single-flow HTTP routes by report key, on the service and on the seed-style app alike.
HTTP_ROUTES: dict[str, str] = {"predict": "/predict", "noop": "/noop"}


@dataclass(frozen=True)
class BenchSizes:
    """Every size the benchmark uses; ``full()`` is what the README's table reports."""

    #: Flows the benchmark model learns (the ARF's default configuration, 10 members).
    train_flows: int
    #: Batch sizes of in-process batch scoring (each also scored by river's loop and scikit-learn).
    batch_sizes: tuple[int, ...]
    #: Timed repetitions of each batch (the best counts).
    repeats: int
    #: Flows scored one by one for the single-flow latency percentiles.
    single_flows: int
    #: Flows of the learning comparison, and how many times each side learns them (alternating).
    learn_flows: int
    learn_rounds: int
    #: Base data sizes of the retrain lineage's wall-time runs, and the drift samples each run learns.
    lineage_base_flows: tuple[int, ...]
    lineage_drift_samples: int
    #: Seeded Bernoulli streams per error-rate jump.
    drift_seeds: int
    #: Stationary samples for the false-alarm count (each stationary error rate).
    stationary_samples: int
    #: Requests per ``/predict`` load run (each run also stops after ``http_seconds``).
    http_requests: int
    http_seconds: float
    #: Alternating rounds of the throughput runs (each figure is its best round).
    http_rounds: int
    #: Flows per ``/predict/batch`` request and how many such requests are timed.
    http_batch_flows: int
    http_batch_requests: int
    #: Requests between the two resident-memory readings of the service.
    memory_requests: int
    #: Samples before and after each error-rate jump.
    drift_jump_at: int = 5_000
    drift_miss_after: int = 5_000

    @classmethod
    def full(cls) -> BenchSizes:
        return cls(
            train_flows=20_000,
            batch_sizes=(1_000, 100_000),
            repeats=3,
            single_flows=3_000,
            learn_flows=5_000,
            learn_rounds=2,
            lineage_base_flows=(10_000, 50_000, 200_000),
            lineage_drift_samples=LineageConfig().max_drift_samples,
            drift_seeds=20,
            stationary_samples=1_000_000,
            http_requests=12_000,
            http_seconds=15.0,
            http_rounds=6,
            http_batch_flows=10_000,
            http_batch_requests=5,
            memory_requests=100_000,
        )

    @classmethod
    def quick(cls) -> BenchSizes:
        """Tiny sizes: every figure is computed, none is meaningful (the test of the report's structure)."""
        return cls(
            train_flows=600,
            batch_sizes=(100, 400),
            repeats=1,
            single_flows=50,
            learn_flows=300,
            learn_rounds=1,
            lineage_base_flows=(1_500, 3_000),
            lineage_drift_samples=300,
            drift_seeds=2,
            stationary_samples=20_000,
            http_requests=300,
            http_seconds=5.0,
            http_rounds=1,
            http_batch_flows=200,
            http_batch_requests=2,
            memory_requests=500,
            drift_jump_at=2_000,
            drift_miss_after=2_000,
        )
