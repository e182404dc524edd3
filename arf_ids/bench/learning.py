"""Learning: the ARF's learning throughput against river's own loop, and the retrain lineage's wall time.

Learning: the product's ``ModelBundle.train`` (validation, scaler, one ordered pass of
``learn_one``) against river's ``learn_one`` looped over the same rows already scaled
into river's dicts, on a fresh forest of the same configuration: the same work, so
the two alternate (``rounds`` times each, the best counts) to share the machine's moods.

Lineage: :func:`~arf_ids.core.lineage.run_retrain_lineage`, the steps the Dagster
assets run (merge, SMOTE, incremental retrain, scoring and gate), for base data sets of
growing size. The production model of every run is the benchmark's model (trained on a
bounded prefix: ``train_flows`` flows of the same generator), so only the base data
grows: what the merge samples from, the warm-start rows (at most
``RetrainConfig.warm_start_rows``) and the hold-out that tests forgetting (20%).
"""

from __future__ import annotations

from typing import Any

from arf_ids.bench.fixtures import BenchModel
from arf_ids.bench.timing import best_time, rate
from arf_ids.core.generator import DriftScenario, TrafficGenerator
from arf_ids.core.lineage import LABEL, LineageConfig, run_retrain_lineage, split_base
from arf_ids.core.model import FeatureScaler, ModelBundle

#: Generator seeds of the lineage's base data and drift samples.
BASE_SEED = 11
DRIFT_SEED = 12
#: The drift of the lineage runs (the demo's scenario).
LINEAGE_SCENARIO = DriftScenario(name="attack_variant", onset_flow=0)
BASE_HOLDOUT_FRACTION = 0.2


def learning_throughput(model: BenchModel, *, flows: int, rounds: int) -> dict[str, Any]:
    """Flows per second: the product's training pass, and river's ``learn_one`` on the same ``flows`` rows."""
    bundle = model.bundle
    X, labels = model.train_matrix[:flows], model.train[LABEL].tolist()[:flows]
    scaler = FeatureScaler.fit(X)
    rows = [dict(zip(bundle.schema.features, row, strict=True)) for row in scaler.transform(X).tolist()]
    codes = bundle.encoded_labels(labels, rows=len(rows)).tolist()

    def product() -> None:
        ModelBundle.train(X, labels, schema=bundle.schema, classes=bundle.classes, config=bundle.config)

    def river() -> None:
        forest = bundle.config.build_forest()
        for x, code in zip(rows, codes, strict=True):
            forest.learn_one(x, code)

    best = {"product": float("inf"), "river": float("inf")}
    for _ in range(rounds):
        for name, work in (("product", product), ("river", river)):
            seconds, _ = best_time(work, repeats=1)
            best[name] = min(best[name], seconds)
    return {
        "flows": len(rows),
        "rounds": rounds,
        "product_flows_per_second": rate(len(rows), best["product"]),
        "river_flows_per_second": rate(len(rows), best["river"]),
        "benchmark_model_learn_seconds": model.learn_seconds,
    }


def lineage_wall_times(model: BenchModel, *, base_sizes: tuple[int, ...], drift_samples: int) -> dict[str, Any]:
    """Seconds of one retrain lineage for each base data size (the same drift samples every time)."""
    config = LineageConfig(max_drift_samples=drift_samples)
    drift = (TrafficGenerator(seed=DRIFT_SEED).stream(drift_samples, LINEAGE_SCENARIO).drop(columns="drifted"))
    runs = {}
    for size in base_sizes:
        base = split_base(TrafficGenerator(seed=BASE_SEED).sample(size), holdout_fraction=BASE_HOLDOUT_FRACTION,
                          seed=config.seed)
        outcome = run_retrain_lineage(model.bundle, drift, base, config)
        runs[str(size)] = {
            "base_flows": size,
            "seconds": outcome.seconds,
            "members_after": outcome.retrain_report.members_after,
            "promoted": outcome.evaluation.decision.promote,
        }
    return {
        "drift_samples": drift_samples,
        "production_trained_flows": len(model.train),
        "scenario": LINEAGE_SCENARIO.name,
        "runs": runs,
    }
