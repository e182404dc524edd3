"""The benchmark's report: the machine, the targets as ratios from the same run, and every figure.

A target names the figure it judges and its baseline by their paths in ``results``;
its ratio is always computed here from those two measured values, never measured on its
own. A target whose section did not run is left out.

>>> results = {"a": {"x": 30.0, "y": 1.0}}
>>> target = Target("x at least 20 times y", ("a", "x"), ("a", "y"), "ratio_at_least", 20.0)
>>> evaluated = evaluate_targets(results, [target])[0]
>>> evaluated["ratio"], evaluated["passed"]
(30.0, True)
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import psutil

from arf_ids.bench.config import HTTP_ROUTES

#: Libraries whose versions the report states.
LIBRARIES = ("arf-ids", "river", "numpy", "numba", "scikit-learn", "bentoml", "fastapi", "uvicorn", "pydantic",
             "aiohttp")

Path_ = tuple[str, ...]
Kind = Literal["ratio_at_least", "ratio_at_most", "value_at_most"]


@dataclass(frozen=True)
class Target:
    """One goal of the issue: ``value / baseline`` (or ``value``) against ``goal``."""

    name: str
    value: Path_
    baseline: Path_ | None
    kind: Kind
    goal: float


def _batch(size: str, baseline: str, goal: float) -> Target:
    name = "river's per-flow loop" if baseline.startswith("river") else "scikit-learn's RandomForest"
    return Target(f"batch scoring of {int(size):,} flows vs {name}",
                  ("scoring", "batches", size, "product_flows_per_second"),
                  ("scoring", "batches", size, baseline), "ratio_at_least", goal)


def issue_targets(batch_sizes: Sequence[int]) -> list[Target]:
    """The issue's targets for a run with these batch sizes."""
    targets = [_batch(str(size), "river_loop_flows_per_second", 20.0) for size in batch_sizes]
    targets += [_batch(str(size), "sklearn_flows_per_second", 1.0) for size in batch_sizes]
    targets += [
        Target(f"single-flow {p} latency vs river's predict_proba_one", ("single", "product", f"{p}_us"),
               ("single", "river", f"{p}_us"), "ratio_at_most", 0.5)
        for p in ("p50", "p99")
    ]
    targets += [
        Target("/predict req/s at 16 clients vs the same service's /noop",
               ("http", "service", "predict", "16", "requests_per_second"),
               ("http", "service", "noop", "16", "requests_per_second"), "ratio_at_least", 0.7),
        Target("/predict req/s at 16 clients vs the FastAPI + river app's",
               ("http", "service", "predict", "16", "requests_per_second"),
               ("http", "seed_app", "predict", "16", "requests_per_second"), "ratio_at_least", 1.0),
        Target("/predict/batch flows/s (columns) vs the FastAPI + river app's",
               ("http", "service", "batch", "flows_per_second"),
               ("http", "seed_app", "flows_per_second"), "ratio_at_least", 50.0),
        Target("confirmed drifts over the stationary samples", ("drift", "false_alarms", "product", "total"),
               None, "value_at_most", 0.0),
        Target("worker memory growth over the memory requests", ("http", "memory", "growth_fraction"),
               None, "value_at_most", 0.05),
    ]
    return targets


def lookup(results: Mapping[str, Any], path: Path_) -> Any:
    """The value at ``path`` in nested ``results``; KeyError when a part is missing."""
    value: Any = results
    for key in path:
        value = value[key]
    return value


def evaluate_targets(results: Mapping[str, Any], targets: Sequence[Target]) -> list[dict[str, Any]]:
    """Each target whose figures were measured, with its value, baseline, ratio and verdict."""
    evaluated = []
    for target in targets:
        try:
            value = float(lookup(results, target.value))
            baseline = float(lookup(results, target.baseline)) if target.baseline is not None else None
        except KeyError:
            continue
        ratio = value / baseline if baseline else None
        judged = value if target.kind == "value_at_most" else ratio
        passed = judged is not None and (judged >= target.goal if target.kind == "ratio_at_least"
                                         else judged <= target.goal)
        evaluated.append({
            "name": target.name, "value_path": list(target.value),
            "baseline_path": list(target.baseline) if target.baseline is not None else None,
            "value": value, "baseline": baseline, "ratio": ratio, "kind": target.kind, "goal": target.goal,
            "passed": passed,
        })
    return evaluated


def _cpu_model() -> str:
    with_name = Path("/proc/cpuinfo")
    if with_name.exists():
        for line in with_name.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, OS, Python and library versions, and the load average now."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "libraries": {name: _version(name) for name in LIBRARIES},
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }


# ---------------------------------------------------------------------------------- markdown


def _n(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.2f}×" if value < 10 else f"{value:,.0f}×"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _targets_md(targets: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = []
    for t in targets:
        if t["kind"] == "value_at_most":
            shown, goal = _n(t["value"], 3 if 0 < abs(t["value"]) < 1 else 0), f"≤ {t['goal']:g}"
        else:
            shown, goal = _ratio(t["ratio"]), ("≥ " if t["kind"] == "ratio_at_least" else "≤ ") + f"{t['goal']:g}×"
        rows.append([t["name"], shown, goal, "**pass**" if t["passed"] else "**MISS**",
                     _n(t["value"], 3 if 0 < abs(t["value"]) < 1 else 1), _n(t["baseline"], 1)])
    return _table(["target", "ratio / value", "goal", "", "measured", "baseline"], rows)


def _scoring_md(scoring: Mapping[str, Any]) -> list[str]:
    rows = []
    for batch in scoring["batches"].values():
        product = batch["product_flows_per_second"]
        rows.append([f"{batch['flows']:,}", _n(product), _n(batch["river_loop_flows_per_second"]),
                     _n(batch["sklearn_flows_per_second"]),
                     _ratio(product / batch["river_loop_flows_per_second"]),
                     _ratio(product / batch["sklearn_flows_per_second"])])
    note = (f"Product: `{scoring['product']}` (compiled and loaded in {scoring['compile_seconds']:.2f} s); "
            f"ARF: {scoring['members']} members, depth mean {scoring['member_depth_mean']:.1f} / max "
            f"{scoring['member_depth_max']}; scikit-learn: {scoring['sklearn_trees']} trees, max_depth "
            f"{scoring['sklearn_max_depth']} (mean depth {scoring['sklearn_depth_mean']:.1f}), one thread.")
    return [*_table(["batch", "product flows/s", "river loop flows/s", "scikit-learn flows/s",
                     "× river", "× scikit-learn"], rows), "", note]


def _single_md(single: Mapping[str, Any]) -> list[str]:
    product, river = single["product"], single["river"]
    rows = [[name, _n(s["p50_us"], 1), _n(s["p99_us"], 1), _n(s["mean_us"], 1)]
            for name, s in (("product `predict_one` (confident-tree rule)", product),
                            ("river `predict_proba_one`", river))]
    rows.append(["product / river", _ratio(product["p50_us"] / river["p50_us"]),
                 _ratio(product["p99_us"] / river["p99_us"]), _ratio(product["mean_us"] / river["mean_us"])])
    return _table(["single flow, in-process", "p50 µs", "p99 µs", "mean µs"], rows)


def _http_md(http: Mapping[str, Any]) -> list[str]:
    rows = []
    for server, label in (("service", "service (BentoML)"), ("seed_app", "FastAPI + river app")):
        for route, path in HTTP_ROUTES.items():
            for clients, run in http[server].get(route, {}).items():
                rows.append([label, path, clients, _n(run["requests_per_second"]), _n(run["p50_ms"], 2),
                             _n(run["p99_ms"], 2), str(run["errors"])])
    for key, shape in (("batch", "columns"), ("batch_flows", "flows")):
        batch = http["service"][key]
        rows.append(["service (BentoML)", f"/predict/batch ({batch['flows_per_request']:,} flows as {shape})", "1",
                     f"{_n(batch['flows_per_second'])} flows/s", _n(batch["p50_ms"], 1), _n(batch["p99_ms"], 1),
                     str(batch["errors"])])
    return [*_table(["server", "route", "clients", "req/s", "p50 ms", "p99 ms", "errors"], rows),
            "", f"Closed-loop clients, each sending its next request when the last is answered; best of "
                f"{http['rounds']} alternating rounds (the batches too, after a warm-up request of each shape). "
                "The FastAPI + river app has no batch route (nor had the seeds): its flows/s are its /predict "
                "req/s at 16 clients.",
            *_gap_md(http["service"]),
            "", "## Memory", "", *_memory_md(http["memory"])]


def _gap_md(service: Mapping[str, Any]) -> list[str]:
    """A /predict's server time beyond /noop's, at 16 clients (1 / req/s: the server is the bottleneck)."""
    runs = {route: service[route]["16"]["requests_per_second"] for route in ("noop", "predict")
            if "16" in service.get(route, {})}
    if len(runs) < 2:
        return []
    us = {route: 1e6 / rate for route, rate in runs.items()}
    return ["", f"Server time per request at 16 clients (1 / req/s): /noop {us['noop']:.1f} µs, /predict "
                f"{us['predict']:.1f} µs; the {us['predict'] - us['noop']:.1f} µs between them are the vector, "
                f"the vote, the answer, the log record and the request metrics of a /predict."]


def _learning_md(learning: Mapping[str, Any]) -> list[str]:
    return [*_table(["learning", "flows", "product flows/s", "river learn_one flows/s", "product / river"],
                    [["ARF one pass", f"{learning['flows']:,}", _n(learning["product_flows_per_second"]),
                      _n(learning["river_flows_per_second"]),
                      _ratio(learning["product_flows_per_second"] / learning["river_flows_per_second"])]]),
            "", f"Product: `ModelBundle.train` (validation, scaler, one pass); river: `learn_one` on ready dicts; "
                f"the two alternate {learning['rounds']} times, best of each."]


def _lineage_md(lineage: Mapping[str, Any]) -> list[str]:
    runs = list(lineage["runs"].values())
    first = runs[0]
    return [*_table(["retrain lineage: base flows", "wall s", "× the smallest", "members after",
                               "promoted"],
                    [[f"{run['base_flows']:,}", _n(run["seconds"], 1),
                      _ratio(run["seconds"] / first["seconds"]), str(run["members_after"]),
                      str(run["promoted"])] for run in runs]),
            "", f"Drift samples: {lineage['drift_samples']:,} (`{lineage['scenario']}`); the production "
                f"model of every run is the benchmark's model ({lineage['production_trained_flows']:,} flows, "
                "a bounded prefix), so only the base data grows."]


def _drift_md(drift: Mapping[str, Any]) -> list[str]:
    names = (("product", f"product (K={drift['confirm_window']})"), ("seed_k30", "seed (K=30)"),
             ("adwin", "plain ADWIN"))
    rows = []
    for key, label in names:
        row = [label]
        for delays in drift["delays"].values():
            d = delays[key]
            row.append(f"{_n(d['median'])} / {_n(d['p90'])} ({d['misses']} missed)")
        alarms = drift["false_alarms"][key]
        row.append(str(alarms["total"]))
        row.append(_n(drift["updates_per_second"].get(key)))
        rows.append(row)
    header = ["detector", *(f"delay {jump} median / p90" for jump in drift["delays"]),
              f"false alarms, {drift['stationary_samples']:,} stationary × {len(drift['false_alarms']['product']) - 1}",
              "updates/s"]
    return [*_table(header, rows), "",
            f"Delays in samples over {drift['seeds']} seeds (jump at sample {drift['jump_at']:,}); "
            f"ADWIN delta {drift['delta']}; the seed's K=30 updates at the product's speed (same code)."]


def _memory_md(memory: Mapping[str, Any]) -> list[str]:
    mb = 2**20
    return _table(["memory", "value"], [
        ["model artifact", f"{memory['artifact_bytes'] / mb:,.1f} MB"],
        ["worker RSS, model loaded (all service processes)",
         f"{memory['worker_rss_ready_bytes'] / mb:,.0f} MB ({memory['service_rss_ready_bytes'] / mb:,.0f} MB)"],
        [f"worker RSS before → after {memory['requests']:,} /predict (16 clients, "
         f"{_n(memory['requests_per_second'])} req/s, {memory['errors']} errors)",
         f"{memory['worker_rss_before_bytes'] / mb:,.0f} → {memory['worker_rss_after_bytes'] / mb:,.0f} MB "
         f"({memory['growth_fraction']:+.1%})"],
    ])


def _machine_md(description: Mapping[str, Any], wall_seconds: float, sizes: str) -> str:
    libraries = ", ".join(f"{name} {v}" for name, v in description["libraries"].items() if v)
    start, end = description["load_average"], description.get("load_average_end")
    load = f"{start[0]}" + (f", at end {end[0]}" if end else "")
    return (f"Machine: {description['cpu']}, {description['cores']} cores, {description['ram_gb']} GB RAM; "
            f"{description['os']}; Python {description['python']}; {libraries}. Load average (1 min) at start "
            f"{load}. Sizes: {sizes}; wall time {wall_seconds:,.0f} s.")


SECTION_WRITERS: tuple[tuple[str, str, Callable[[Mapping[str, Any]], list[str]]], ...] = (
    ("scoring", "Batch scoring, in-process (flows/s, best of the repeats)", _scoring_md),
    ("single", "Single flow, in-process", _single_md),
    ("http", "Over HTTP (load client in its own process, same machine)", _http_md),
    ("drift", "Drift detector", _drift_md),
    ("learning", "Learning", _learning_md),
    ("lineage", "Retrain lineage (wall time as the base data grows)", _lineage_md),
)


def markdown(report: Mapping[str, Any]) -> str:
    """The report as markdown: machine, targets (ratios first), then each section's figures."""
    results = report["results"]
    lines = ["# arf_ids benchmark", "", _machine_md(report["machine"], report["wall_seconds"], report["sizes_name"]),
             "", "## Targets (ratios from this run)", "", *_targets_md(report["targets"])]
    for section, title, writer in SECTION_WRITERS:
        if section in results:
            result = results[section]
            body = [f"**failed**: {result['error']}"] if "error" in result else writer(result)
            lines += ["", f"## {title}", "", *body]
    return "\n".join(lines) + "\n"
