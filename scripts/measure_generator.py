"""Print the traffic generator's throughput in flows per second (and, on request, how learnable it is).

Usage: ``python scripts/measure_generator.py [--flows 200000] [--repeats 5] [--learnability 28000]``

``--learnability N`` also prints the accuracy of a 20-tree random forest trained on 10k base
flows, and the prequential (test-then-train) accuracy of a default river ARF over N base
flows, 7-class and binary (takes about a minute per 28k flows).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from river import forest, metrics
from sklearn.ensemble import RandomForestClassifier

from arf_ids.core.generator import SCENARIOS, DriftScenario, TrafficGenerator
from arf_ids.core.schema import CIC_IDS2017_FEATURES

FEATURES = list(CIC_IDS2017_FEATURES)


def flows_per_second(n: int, repeats: int, scenario: DriftScenario) -> float:
    """The best of ``repeats`` timings of one ``stream(n, scenario)`` call, as flows per second."""
    generator = TrafficGenerator(seed=0)
    generator.stream(1_000, scenario)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        generator.stream(n, scenario)
        best = min(best, time.perf_counter() - start)
    return n / best


def forest_accuracy() -> float:
    """Accuracy on 10k fresh base flows of a 20-tree random forest trained on 10k base flows."""
    train, test = TrafficGenerator(seed=21).sample(10_000), TrafficGenerator(seed=22).sample(10_000)
    model = RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=2).fit(train[FEATURES], train["label"])
    return float((model.predict(test[FEATURES]) == test["label"]).mean())


def arf_prequential_accuracy(flows: pd.DataFrame, labels: pd.Series) -> float:
    """Test-then-train accuracy of ``river.forest.ARFClassifier(n_models=10, seed=42)``."""
    model, accuracy = forest.ARFClassifier(n_models=10, seed=42), metrics.Accuracy()
    for x, y in zip(flows[FEATURES].to_dict("records"), labels, strict=True):
        accuracy.update(y, model.predict_one(x))
        model.learn_one(x, y)
    return float(accuracy.get())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=200_000, help="flows per call")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per scenario (the best counts)")
    parser.add_argument("--learnability", type=int, default=0, metavar="N", help="also measure accuracy on N flows")
    args = parser.parse_args()
    for name in SCENARIOS:
        scenario = DriftScenario(name=name, onset_flow=args.flows // 2)
        rate = flows_per_second(args.flows, args.repeats, scenario)
        print(f"{name:>15}: {rate:>12,.0f} flows/s ({args.flows:,} flows per call)")
    if args.learnability:
        print(f"random forest (20 trees, 10k train), 7 classes: {forest_accuracy():.4f}")
        flows = TrafficGenerator(seed=12).sample(args.learnability)
        binary = pd.Series(np.where(flows["label"] == "BENIGN", "BENIGN", "ATTACK"))
        print(
            f"ARF prequential, 7 classes, {len(flows):,} flows: {arf_prequential_accuracy(flows, flows['label']):.4f}"
        )
        print(f"ARF prequential, binary,    {len(flows):,} flows: {arf_prequential_accuracy(flows, binary):.4f}")


if __name__ == "__main__":
    main()
