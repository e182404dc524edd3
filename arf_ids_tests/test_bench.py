"""``make bench``'s machinery on tiny sizes: the report's structure, and targets computed from measured values.

The in-process sections run once (``--quick`` sizes, about 20 s); no timing is asserted.
The HTTP section needs a running service and is left to ``make bench`` itself.
"""

from __future__ import annotations

import doctest
import importlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from arf_ids.bench.config import IN_PROCESS_SECTIONS, BenchSizes
from arf_ids.bench.report import Target, evaluate_targets, lookup
from arf_ids.bench.run import failed_sections, run_bench, write_report

BENCH_MODULES = ("config", "timing", "loadgen", "drift", "report")


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, Path]:
    out = tmp_path_factory.mktemp("bench")
    report = run_bench(BenchSizes.quick(), sections=IN_PROCESS_SECTIONS, work_dir=out, sizes_name="quick")
    json_path, markdown_path = write_report(report, out / "bench.json")
    return report, json_path, markdown_path


def test_the_report_holds_every_in_process_section_and_the_machine(quick_report: tuple[Any, Path, Path]) -> None:
    _, json_path, _ = quick_report
    written = json.loads(json_path.read_text())
    assert written["sections"] == list(IN_PROCESS_SECTIONS)
    assert set(written["results"]) == set(IN_PROCESS_SECTIONS)
    machine = written["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["ram_gb"] > 0 and machine["python"]
    assert machine["libraries"]["river"] and machine["libraries"]["bentoml"]
    results = written["results"]
    for size in BenchSizes.quick().batch_sizes:
        batch = results["scoring"]["batches"][str(size)]
        assert {"product_flows_per_second", "river_loop_flows_per_second", "sklearn_flows_per_second"} <= set(batch)
        assert all(batch[key] > 0 for key in batch)
    sizes = BenchSizes.quick()
    assert results["single"]["product"]["count"] == results["single"]["river"]["count"] == sizes.single_flows
    assert [run["base_flows"] for run in results["lineage"]["runs"].values()] == list(sizes.lineage_base_flows)
    assert set(results["drift"]["delays"]) == {"0.05->0.10", "0.10->0.20"}
    assert set(results["drift"]["false_alarms"]) == {"product", "seed_k30", "adwin"}
    assert results["learning"]["product_flows_per_second"] > 0 and results["learning"]["river_flows_per_second"] > 0


def test_targets_are_ratios_of_the_measured_values(quick_report: tuple[Any, Path, Path]) -> None:
    report, _, _ = quick_report
    targets = report["targets"]
    names = [target["name"] for target in targets]
    assert sum("batch scoring" in name for name in names) == 2 * len(BenchSizes.quick().batch_sizes)
    assert sum("single-flow" in name for name in names) == 2
    assert not any(name.startswith("/predict") or "memory" in name for name in names), "HTTP did not run"
    for target in targets:
        value = lookup(report["results"], target["value_path"])
        assert target["value"] == pytest.approx(value)
        if target["baseline_path"] is None:
            assert target["ratio"] is None
            judged = value
        else:
            baseline = lookup(report["results"], target["baseline_path"])
            assert target["baseline"] == pytest.approx(baseline)
            assert target["ratio"] == pytest.approx(value / baseline)
            judged = target["ratio"]
        expected = judged >= target["goal"] if target["kind"] == "ratio_at_least" else judged <= target["goal"]
        assert target["passed"] is expected


def test_the_markdown_puts_the_machine_and_the_ratios_first(quick_report: tuple[Any, Path, Path]) -> None:
    report, _, markdown_path = quick_report
    text = markdown_path.read_text()
    assert text.index("Machine:") < text.index("## Targets") < text.index("## Batch scoring")
    assert f"{report['machine']['cores']} cores" in text
    for target in report["targets"]:
        assert target["name"] in text
    first_ratio = report["targets"][0]
    assert f"{first_ratio['ratio']:,.0f}×" in text or f"{first_ratio['ratio']:,.2f}×" in text


def test_a_target_whose_figures_are_missing_is_left_out() -> None:
    results = {"a": {"x": 3.0, "y": 4.0}, "count": {"alarms": 2}}
    targets = [
        Target("x vs y", ("a", "x"), ("a", "y"), "ratio_at_most", 0.5),
        Target("absent", ("http", "rps"), ("a", "y"), "ratio_at_least", 1.0),
        Target("no alarms", ("count", "alarms"), None, "value_at_most", 0.0),
    ]
    evaluated = evaluate_targets(results, targets)
    assert [t["name"] for t in evaluated] == ["x vs y", "no alarms"]
    assert math.isclose(evaluated[0]["ratio"], 0.75) and evaluated[0]["passed"] is False
    assert evaluated[1]["ratio"] is None and evaluated[1]["passed"] is False


@pytest.mark.parametrize("name", BENCH_MODULES)
def test_bench_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(f"arf_ids.bench.{name}"))
    assert result.failed == 0


def test_a_failing_section_is_reported_and_the_others_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: object) -> dict[str, Any]:
        raise RuntimeError("detector exploded")

    monkeypatch.setattr("arf_ids.bench.run.drift_bench", broken)
    report = run_bench(BenchSizes.quick(), sections=("single", "drift"), work_dir=tmp_path, sizes_name="quick")
    assert failed_sections(report) == ["drift"]
    assert report["results"]["drift"] == {"error": "RuntimeError: detector exploded"}
    assert report["results"]["single"]["product"]["count"] > 0
    assert not any("drifts" in target["name"] for target in report["targets"])
    _, markdown_path = write_report(report, tmp_path / "bench.json")
    assert "**failed**: RuntimeError: detector exploded" in markdown_path.read_text()
