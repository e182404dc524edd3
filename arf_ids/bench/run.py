"""Run the benchmark's sections on one model and write the report (JSON and markdown).

    report = run_bench(BenchSizes.quick(), sections=("scoring", "drift"), work_dir=Path("/tmp/bench"))
    json_path, markdown_path = write_report(report, Path(".arf_ids/reports/bench.json"))
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from arf_ids.bench.config import SECTIONS, BenchSizes
from arf_ids.bench.drift import drift_bench
from arf_ids.bench.fixtures import build_bench_model
from arf_ids.bench.httpbench import CLIENT_FLOWS, http_bench
from arf_ids.bench.learning import learning_throughput, lineage_wall_times
from arf_ids.bench.report import evaluate_targets, issue_targets, machine, markdown
from arf_ids.bench.scoring import batch_scoring, single_flow

logger = logging.getLogger(__name__)


def _section(name: str, results: dict[str, Any], work: Callable[[], dict[str, Any]]) -> None:
    """Run one section into ``results``; a failure is recorded as ``{"error": ...}`` and the run goes on."""
    logger.info("bench: %s ...", name)
    started = time.perf_counter()
    try:
        results[name] = work()
    except Exception as error:  # one broken section must not lose the others' figures
        logger.exception("bench: %s failed", name)
        results[name] = {"error": f"{type(error).__name__}: {error}"}
    logger.info("bench: %s done in %.1f s", name, time.perf_counter() - started)


def failed_sections(report: dict[str, Any]) -> list[str]:
    """The sections of ``report`` that raised instead of measuring."""
    return [name for name, result in report["results"].items() if "error" in result]


def run_bench(
    sizes: BenchSizes, *, sections: Sequence[str] = SECTIONS, work_dir: Path, sizes_name: str = "full"
) -> dict[str, Any]:
    """Every chosen section on one benchmark model; the report as a JSON-ready dict."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; choose among {list(SECTIONS)}")
    started = time.perf_counter()
    description = machine()
    logger.info("bench: training the model on %s flows ...", f"{sizes.train_flows:,}")
    model = build_bench_model(train_flows=sizes.train_flows,
                              test_flows=max(*sizes.batch_sizes, sizes.single_flows, CLIENT_FLOWS))
    work: dict[str, Callable[[], dict[str, Any]]] = {
        "scoring": lambda: batch_scoring(model, batch_sizes=sizes.batch_sizes, repeats=sizes.repeats),
        "single": lambda: single_flow(model, flows=sizes.single_flows),
        "learning": lambda: learning_throughput(model, flows=sizes.learn_flows, rounds=sizes.learn_rounds),
        "lineage": lambda: lineage_wall_times(model, base_sizes=sizes.lineage_base_flows,
                                              drift_samples=sizes.lineage_drift_samples),
        "drift": lambda: drift_bench(seeds=sizes.drift_seeds, stationary_samples=sizes.stationary_samples,
                                     jump_at=sizes.drift_jump_at, miss_after=sizes.drift_miss_after),
        "http": lambda: http_bench(model, sizes, work_dir=work_dir),
    }
    results: dict[str, Any] = {}
    for name in SECTIONS:
        if name in sections:
            _section(name, results, work[name])
    description["load_average_end"] = [round(load, 2) for load in os.getloadavg()]
    return {
        "machine": description,
        "sizes_name": sizes_name,
        "sizes": asdict(sizes),
        "sections": [name for name in SECTIONS if name in sections],
        "model": {"train_flows": sizes.train_flows, "members": len(model.bundle.arf),
                  "config": model.bundle.config.model_dump(mode="json")},
        "wall_seconds": time.perf_counter() - started,
        "targets": evaluate_targets(results, issue_targets(sizes.batch_sizes)),
        "results": results,
    }


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """``out`` (JSON) and the markdown table next to it (same name, ``.md``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    table = out.with_suffix(".md")
    table.write_text(markdown(report), encoding="utf-8")
    return out, table
