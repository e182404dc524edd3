"""In-process scoring: batch throughput and single-flow latency, each beside its baselines.

Batch: the product's ``predict_matrix`` on raw rows (validation and scaling included)
against river's ``predict_proba_one`` looped over the same rows already scaled into
river's dicts (their building is not timed), and scikit-learn's ``predict_proba``.
Single flow: the product's ``predict_one`` on a ``{feature: value}`` map, as a request
carries it, against river's ``predict_proba_one`` on the ready dict.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from arf_ids.bench.fixtures import BenchModel, member_depths, product_predictor, sklearn_forest
from arf_ids.bench.timing import best_time, latency_summary, rate, time_each


def _compiled(model: BenchModel) -> tuple[Any, float]:
    started = time.perf_counter()
    predictor = product_predictor(model.bundle)
    predictor.predict_matrix(model.test[:1])  # the first call loads (or compiles) the kernels
    return predictor, time.perf_counter() - started


def batch_scoring(model: BenchModel, *, batch_sizes: tuple[int, ...], repeats: int) -> dict[str, Any]:
    """Flows per second of each batch size: product, river's per-flow loop, scikit-learn."""
    predictor, compile_seconds = _compiled(model)
    forest = sklearn_forest(model)
    arf = model.bundle.arf
    batches: dict[str, dict[str, float]] = {}
    for size in batch_sizes:
        rows = model.test[:size]
        river_rows = list(model.bundle.river_rows(rows))
        product_s, _ = best_time(lambda rows=rows: predictor.predict_matrix(rows), repeats=repeats)
        sklearn_s, _ = best_time(lambda rows=rows: forest.predict_proba(rows), repeats=repeats)
        river_s, _ = best_time(lambda river_rows=river_rows: [arf.predict_proba_one(x) for x in river_rows],
                               repeats=repeats)
        batches[str(size)] = {
            "flows": size,
            "product_flows_per_second": rate(size, product_s),
            "river_loop_flows_per_second": rate(size, river_s),
            "sklearn_flows_per_second": rate(size, sklearn_s),
        }
    depths = member_depths(model.bundle)
    return {
        "product": type(predictor).__name__,
        "compile_seconds": compile_seconds,
        "members": len(arf),
        "member_depth_mean": float(np.mean(depths)),
        "member_depth_max": max(depths),
        "sklearn_trees": len(forest.estimators_),
        "sklearn_max_depth": forest.max_depth,
        "sklearn_depth_mean": float(np.mean([tree.get_depth() for tree in forest.estimators_])),
        "batches": batches,
    }


def single_flow(model: BenchModel, *, flows: int) -> dict[str, Any]:
    """Per-call latency percentiles of the product's ``predict_one`` and river's ``predict_proba_one``."""
    predictor, _ = _compiled(model)
    maps = model.test_maps(flows)
    river_rows = list(model.bundle.river_rows(model.test[:flows]))
    return {
        "product": latency_summary(time_each(predictor.predict_one, maps)),
        "river": latency_summary(time_each(model.bundle.arf.predict_proba_one, river_rows)),
    }
