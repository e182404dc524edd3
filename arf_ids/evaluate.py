"""``arf-ids evaluate``: an evaluation protocol on a data set, with baselines in the same run.

    arf-ids evaluate --data ../shared/data/cic-ids2017/cic_0.01km.csv --format cicflowmeter --binary \\
        --protocol prequential --train-fraction 0.1 --out .arf_ids/reports/cic-prequential.json
    arf-ids evaluate --format synthetic --scenario attack_variant --protocol recovery --label-delay 200 \\
        --out .arf_ids/reports/synthetic-attack_variant.json

Data: ``--data`` files are one stream, in the order given. The training part is the first
``--train-fraction`` of it, or, when that is not given and there are several files, the
first file (NSL-KDD: the 20% file, then KDDTest+). ``--format synthetic`` draws the
training part (``--base-flows``) and the stream (``--flows`` with ``--scenario`` from
``--onset`` on) from the traffic generator.

Systems, each scored on the same flows (the stream after the training part):

* ``product``: the platform's model (``ModelBundle``, ``ArfConfig`` with the ``--arf``
  overrides). ``prequential``: trained on the training part, then test-then-train;
  ``holdout``: trained, then only predicts; ``recovery``: the platform's loop
  (:func:`arf_ids.core.protocols.run_recovery`) from a model trained like
  ``base_model`` (``split_base`` with a 20% hold-out, then ``train_base_model``).
* ``--baseline seed``: the seed system's choices. ``prequential``/``holdout``: river's
  ``ARFClassifier(n_models=10)`` with its defaults on raw features; ``recovery``: the loop
  with trend confirmation over K=30, the gate without the forgetting check, and river's
  default ``lambda_value=6`` / ``grace_period=50``.
* ``--baseline static``: the product's model trained on the training part that never
  learns again (``recovery``: drift is detected but nothing is retrained).

Outputs: ``--out FILE.json`` (figures of every system, per-window figures, retrains),
``FILE.md`` (a table, with the published anchor where the data set has one) and
``FILE.png`` (rolling error rate and per-window macro-F1, drifts, retrains and
promotions marked). ``python -m arf_ids.evaluate --table DIR`` prints the results table
of every report in ``DIR`` (the README's): a row per run with the product's figures, the
baselines of the same run, the published anchor and issue 4's target (``TARGETS``), each
row's command line, the spread over seeds, then every system of every run.

>>> parse_overrides(["lambda_value=15", "split_confidence=0.1", "max_features=null"])
{'lambda_value': 15, 'split_confidence': 0.1, 'max_features': None}
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field  # noqa: E402
from river import forest  # noqa: E402
from tqdm import tqdm  # noqa: E402

from arf_ids.core.drift import DriftConfig  # noqa: E402
from arf_ids.core.errors import MalformedDataError  # noqa: E402
from arf_ids.core.evaluation import GateConfig, score  # noqa: E402
from arf_ids.core.generator import ALL_LABELS, SCENARIOS, DriftScenario, ScenarioName, TrafficGenerator  # noqa: E402
from arf_ids.core.lineage import LABEL, LineageConfig, split_base, train_base_model  # noqa: E402
from arf_ids.core.model import ArfConfig, FeatureScaler, LabelEncoder, ModelBundle  # noqa: E402
from arf_ids.core.plots import rolling_rate  # noqa: E402
from arf_ids.core.protocols import (  # noqa: E402
    BundleLearner,
    DriftRecovery,
    Progress,
    RecoveryConfig,
    RecoveryResult,
    RetrainRecord,
    RiverLearner,
    StreamLearner,
    WindowScore,
    drift_recovery,
    holdout,
    prequential,
    run_recovery,
    window_scores,
)
from arf_ids.core.readers import read_flows  # noqa: E402
from arf_ids.core.schema import DEFAULT_SCHEMA, FlowSchema  # noqa: E402

Protocol = Literal["prequential", "holdout", "recovery"]
Format = Literal["cicflowmeter", "nsl-kdd", "unsw-nb15", "synthetic"]
Baseline = Literal["seed", "static"]
PROTOCOLS: tuple[Protocol, ...] = ("prequential", "holdout", "recovery")
FORMATS: tuple[Format, ...] = ("cicflowmeter", "nsl-kdd", "unsw-nb15", "synthetic")
BASELINES: tuple[Baseline, ...] = ("seed", "static")

#: The seed system's model: river 0.26.1's own ARF tree defaults under the product's vote.
SEED_ARF = ArfConfig(lambda_value=6, grace_period=50)
#: The seed system's drift confirmation window.
SEED_CONFIRM_WINDOW = 30
#: River's ARF as the seed system ran it on raw features.
SEED_RIVER_MEMBERS = 10
#: Share of the training part kept out of training as the base hold-out (as ``base_dataset``).
BASE_HOLDOUT_FRACTION = 0.2

#: Line colours of the product and the baselines (loop events use red, purple, brown, black).
SYSTEM_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:gray")

#: Published results on the shared data sets, by (file name, protocol). An anchor applies
#: only to a run whose request matches its ``protocol_settings`` (the published protocol).
ANCHORS: dict[tuple[str, str], dict[str, Any]] = {
    ("cic_0.01km.csv", "prequential"): {
        "source": "PWPAE (GLOBECOM 2021), best published on this file; ARF-ADWIN there 98.48% / 95.56",
        "accuracy": 0.9920,
        "f1": 0.9767,
        "protocol_settings": {"binary": True, "train_fraction": 0.1, "label_delay": 0},
    },
    ("KDDTest+.txt", "prequential"): {
        "source": "river ARFClassifier(n_models=10, seed=42), ../shared/data/README.md",
        "accuracy": 0.943,
        "macro_f1": 0.716,
        "kappa": 0.908,
        "protocol_settings": {"train_fraction": 0.0, "label_delay": 0},
    },
    ("KDDTest+.txt", "holdout"): {
        "source": "batch RandomForest trained on the 20% file, ../shared/data/README.md",
        "accuracy": 0.78,
        "protocol_settings": {"train_fraction": None},
    },
}


#: Issue 4's targets, by (file name, protocol) as ``ANCHORS`` (``("synthetic", "recovery")``:
#: every generator scenario). ``minimum``: the product's figures at least these;
#: ``over_static``: the product's macro-F1 at least this much above the never-retrained
#: model's ("beat it by a wide margin"); ``recover_within``: macro-F1 back within 0.02 of
#: its pre-drift level within this many flows of the drift's onset.
TARGETS: dict[tuple[str, str], dict[str, Any]] = {
    ("cic_0.01km.csv", "prequential"): {
        "minimum": {"accuracy": 0.9920, "f1": 0.9767},
        "protocol_settings": {"binary": True, "train_fraction": 0.1, "label_delay": 0},
    },
    ("KDDTest+.txt", "prequential"): {
        "minimum": {"accuracy": 0.95, "macro_f1": 0.75},
        "protocol_settings": {"train_fraction": 0.0, "label_delay": 0},
    },
    ("KDDTest+.txt", "recovery"): {
        "over_static": 0.05,
        "protocol_settings": {"train_fraction": None, "label_delay": 500},
    },
    ("synthetic", "recovery"): {"recover_within": 5_000, "protocol_settings": {}},
}

#: How the tables name the figures of a report.
FIGURE_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "f1": "F1", "kappa": "kappa"}


def _settings_match(settings: dict[str, Any], request: EvaluationRequest) -> bool:
    return all(getattr(request, name) == value for name, value in settings.items())


def published_anchor(key: tuple[str, str] | None, request: EvaluationRequest) -> dict[str, Any] | None:
    """The published result this run reproduces the protocol of, if any."""
    anchor = ANCHORS.get(key) if key else None
    if anchor is None or not _settings_match(anchor["protocol_settings"], request):
        return None
    return anchor


def issue_target(report: dict[str, Any]) -> dict[str, Any] | None:
    """Issue 4's target for this report's data set and protocol, if it has one and the run
    follows the target's protocol."""
    request = EvaluationRequest.model_validate(report["request"])
    name = "synthetic" if request.format == "synthetic" else Path(request.data[-1]).name if request.data else ""
    target = TARGETS.get((name, request.protocol))
    if target is None or not _settings_match(target["protocol_settings"], request):
        return None
    return target


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings as a dict; values are read as JSON where they parse, else as text."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, separator, text = pair.partition("=")
        if not separator or not key:
            raise MalformedDataError("--arf", f"{pair!r} is not KEY=VALUE")
        try:
            overrides[key] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key] = text
    return overrides


class EvaluationRequest(BaseModel):
    """Everything one ``arf-ids evaluate`` run needs."""

    model_config = ConfigDict(frozen=True)

    data: tuple[str, ...] = ()
    format: Format = "cicflowmeter"
    protocol: Protocol = "prequential"
    binary: bool = False
    train_fraction: float | None = Field(None, ge=0, lt=1)
    label_delay: int = Field(0, ge=0)
    seed: int = 42
    baselines: tuple[Baseline, ...] = ("seed",)
    window: int = Field(1_000, ge=10, description="flows per window of the per-window figures")
    arf: dict[str, Any] = Field(default_factory=dict, description="ArfConfig overrides of the product")
    min_drift_samples: int = Field(RecoveryConfig().min_drift_samples, ge=1)
    scenario: ScenarioName = "attack_variant"
    flows: int = Field(20_000, gt=0)
    onset: int = Field(5_000, ge=0)
    drift_share: float = Field(0.3, gt=0, le=1)
    base_flows: int = Field(24_000, gt=0)
    out: Path = Path(".arf_ids/reports/evaluation.json")


@dataclass(frozen=True)
class EvaluationData:
    """The training part and the scored stream, as labelled flow frames."""

    train: pd.DataFrame
    stream: pd.DataFrame
    schema: FlowSchema
    classes: tuple[str, ...]
    benign_label: str
    description: str
    anchor_key: tuple[str, str] | None
    onset: int | None


def _vocabulary(frames: Sequence[pd.DataFrame], benign_label: str, known: Sequence[str] = ()) -> tuple[str, ...]:
    """Benign first, then every other label of the frames (and ``known``), sorted."""
    labels = set(known).union(*(set(frame[LABEL].astype(str)) for frame in frames))
    return (benign_label, *sorted(labels - {benign_label}))


def load_data(request: EvaluationRequest) -> EvaluationData:
    """Read the files (or draw the generator's traffic) and cut off the training part."""
    if request.format == "synthetic":
        scenario = DriftScenario(name=request.scenario, onset_flow=request.onset, drift_share=request.drift_share)
        train = TrafficGenerator(seed=request.seed).sample(request.base_flows)
        stream = TrafficGenerator(seed=request.seed + 1).stream(request.flows, scenario).drop(columns="drifted")
        return EvaluationData(
            train=train,
            stream=stream,
            schema=DEFAULT_SCHEMA,
            classes=_vocabulary([train, stream], "BENIGN", ALL_LABELS),
            benign_label="BENIGN",
            description=f"generator seed={request.seed}: {request.base_flows} base flows, then {request.flows} flows "
            f"with {request.scenario} from flow {request.onset} (share {request.drift_share})",
            anchor_key=None,
            onset=request.onset if request.scenario != "none" else None,
        )
    if not request.data:
        raise MalformedDataError("arf-ids evaluate", f"--data is required with --format {request.format}")
    options = {} if request.format == "nsl-kdd" else {"binary": request.binary}
    parts = [read_flows(path, request.format, **options) for path in request.data]
    schema = parts[0].schema
    for part in parts[1:]:
        if part.schema != schema:
            raise MalformedDataError(part.source, f"has other features than {parts[0].source}")
    frames = [part.frame for part in parts]
    whole = pd.concat(frames, ignore_index=True)
    if request.train_fraction is not None:
        cut = int(request.train_fraction * len(whole))
    elif len(frames) > 1:
        cut = len(frames[0])
    else:
        raise MalformedDataError("arf-ids evaluate", "give --train-fraction or several --data files")
    benign = "normal" if request.format == "nsl-kdd" else "BENIGN"
    return EvaluationData(
        train=whole.iloc[:cut].reset_index(drop=True),
        stream=whole.iloc[cut:].reset_index(drop=True),
        schema=schema,
        classes=_vocabulary(frames, benign),
        benign_label=benign,
        description=" + ".join(f"{Path(part.source).name} ({len(part.frame)} flows)" for part in parts)
        + f"; training part {cut} flows, scored stream {len(whole) - cut} flows",
        anchor_key=(Path(request.data[-1]).name, request.protocol),
        onset=None,
    )


# ------------------------------------------------------------------------------- systems


class SystemResult(BaseModel):
    """One system's figures on the scored stream; ``model_dump(mode="json")`` gives JSON."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    accuracy: float
    macro_f1: float
    f1: float = Field(description="attack (every non-benign label) as the positive class")
    kappa: float
    per_class_f1: dict[str, float]
    n_flows: int
    wall_seconds: float
    drifts_detected: int = 0
    retrains: int = 0
    promotions: int = 0
    drift_flows: tuple[int, ...] = ()
    retrain_records: tuple[RetrainRecord, ...] = ()
    drift_recovery: DriftRecovery | None = None
    windows: tuple[WindowScore, ...]


@dataclass(frozen=True)
class _Run:
    """What a system produced: predictions over the stream, and loop events when it ran the loop."""

    predictions: np.ndarray
    recovery: RecoveryResult | None = None


def product_bundle(data: EvaluationData, frame: pd.DataFrame, config: ArfConfig) -> ModelBundle:
    """The product's model trained on ``frame``; with no rows, an untrained model whose scaler
    is the signed log1p alone (nothing to standardise on, and no flow is looked at early)."""
    if len(frame):
        return train_base_model(frame, schema=data.schema, classes=data.classes, config=config)
    width = len(data.schema)
    return ModelBundle(
        arf=config.build_forest(),
        scaler=FeatureScaler(means=(0.0,) * width, stds=(1.0,) * width),
        labels=LabelEncoder(classes=data.classes),
        schema=data.schema,
        config=config,
    )


def seed_river_learner(data: EvaluationData, seed: int) -> RiverLearner:
    """River's ARF with its defaults on raw features, taught the training part in order."""
    learner = RiverLearner(
        forest.ARFClassifier(n_models=SEED_RIVER_MEMBERS, seed=seed), data.schema.features, fallback=data.benign_label
    )
    for x, label in zip(data.schema.frame_matrix(data.train), data.train[LABEL].astype(str), strict=True):
        learner.learn_one(x, label)
    return learner


def product_learner(config: ArfConfig) -> Callable[[EvaluationData], StreamLearner]:
    """A factory of the product's model, trained on the data's training part."""
    return lambda data: BundleLearner(product_bundle(data, data.train, config))


def _stream_run(
    make_learner: Callable[[EvaluationData], StreamLearner],
    data: EvaluationData,
    progress: Progress,
    *,
    request: EvaluationRequest,
    learns: bool,
) -> _Run:
    learner = make_learner(data)
    X, y = data.schema.frame_matrix(data.stream), data.stream[LABEL].astype(str).to_numpy()
    if learns:
        return _Run(prequential(learner, X, y, label_delay=request.label_delay, progress=progress))
    return _Run(holdout(learner, X, progress=progress))


def _recovery_run(
    data: EvaluationData,
    progress: Progress,
    *,
    request: EvaluationRequest,
    arf: ArfConfig,
    recovery: RecoveryConfig,
    initial_models: dict[str, ModelBundle],
) -> _Run:
    """The loop from a model trained like ``base_model``; systems with the same ``ArfConfig``
    share that initial model (``run_recovery`` never changes it): the first one trains it."""
    base = split_base(data.train, holdout_fraction=BASE_HOLDOUT_FRACTION, seed=request.seed)
    key = arf.model_dump_json()
    if key not in initial_models:
        initial_models[key] = train_base_model(base.train, schema=data.schema, classes=data.classes, config=arf)
    model = initial_models[key]
    X, y = data.schema.frame_matrix(data.stream), data.stream[LABEL].astype(str).to_numpy()
    result = run_recovery(model, X, y, base, recovery, progress=progress)
    return _Run(result.predictions, result)


Runner = Callable[[EvaluationData, Progress], _Run]


def systems(request: EvaluationRequest) -> dict[str, tuple[str, Runner]]:
    """The systems this request runs, the product first: name -> (description, runner)."""
    product_arf = ArfConfig(**{**ArfConfig().model_dump(), "seed": request.seed, **request.arf})
    overrides = " ".join(f"{key}={value}" for key, value in request.arf.items()) or "defaults"
    chosen: dict[str, tuple[str, Runner]] = {}
    if request.protocol == "recovery":
        lineage = LineageConfig(seed=request.seed)
        loop = RecoveryConfig(
            label_delay=request.label_delay, lineage=lineage, min_drift_samples=request.min_drift_samples
        )
        seed_loop = loop.model_copy(
            update={
                "drift": DriftConfig(confirm_window=SEED_CONFIRM_WINDOW),
                "lineage": lineage.model_copy(update={"gate": GateConfig(require_forgetting_check=False)}),
            }
        )
        shared = {"request": request, "initial_models": {}}
        chosen["product"] = (
            f"platform loop: ArfConfig {overrides}, K={loop.drift.confirm_window}, gate with forgetting check",
            partial(_recovery_run, arf=product_arf, recovery=loop, **shared),
        )
        if "seed" in request.baselines:
            chosen["seed"] = (
                f"seed choices: K={SEED_CONFIRM_WINDOW}, gate without forgetting check, lambda 6 / grace 50",
                partial(
                    _recovery_run, arf=SEED_ARF.model_copy(update={"seed": request.seed}), recovery=seed_loop, **shared
                ),
            )
        if "static" in request.baselines:
            chosen["static"] = (
                "the product's initial model, never retrained",
                partial(_recovery_run, arf=product_arf, recovery=loop.model_copy(update={"retrain": False}), **shared),
            )
        return chosen
    learns = request.protocol == "prequential"
    chosen["product"] = (
        f"ModelBundle, ArfConfig {overrides}, " + ("test-then-train" if learns else "trained once"),
        partial(_stream_run, product_learner(product_arf), request=request, learns=learns),
    )
    if "seed" in request.baselines:
        chosen["seed"] = (
            f"river ARFClassifier(n_models={SEED_RIVER_MEMBERS}) defaults, raw features",
            partial(_stream_run, partial(seed_river_learner, seed=request.seed), request=request, learns=learns),
        )
    if "static" in request.baselines and learns:
        chosen["static"] = (
            "the product's model trained on the training part, never learning after",
            partial(_stream_run, product_learner(product_arf), request=request, learns=False),
        )
    return chosen


def system_result(
    name: str, description: str, run: _Run, data: EvaluationData, request: EvaluationRequest, seconds: float
) -> SystemResult:
    """Score one system's predictions over the stream."""
    truth = data.stream[LABEL].astype(str).to_numpy()
    overall = score(truth, run.predictions, benign_label=data.benign_label)
    loop = run.recovery
    recovered = None
    if data.onset is not None and request.window <= data.onset <= len(truth) - request.window:
        recovered = drift_recovery(
            truth, run.predictions, onset=data.onset, window=request.window, benign_label=data.benign_label
        )
    return SystemResult(
        name=name,
        description=description,
        accuracy=overall.accuracy,
        macro_f1=overall.macro_f1,
        f1=overall.f1_attack,
        kappa=overall.kappa,
        per_class_f1=overall.per_class_f1,
        n_flows=overall.n,
        wall_seconds=seconds,
        drifts_detected=len(loop.drift_flows) if loop else 0,
        retrains=len(loop.retrains) if loop else 0,
        promotions=loop.promotions if loop else 0,
        drift_flows=loop.drift_flows if loop else (),
        retrain_records=loop.retrains if loop else (),
        drift_recovery=recovered,
        windows=tuple(window_scores(truth, run.predictions, window=request.window, benign_label=data.benign_label)),
    )


# ------------------------------------------------------------------------------- reports


def markdown_table(report: dict[str, Any]) -> str:
    """The report's systems as a markdown table, the published anchor (if any) first."""
    columns = (
        "data set",
        "protocol",
        "system",
        "accuracy",
        "macro-F1",
        "F1 (attack)",
        "kappa",
        "drifts / retrains / promotions",
        "seconds",
    )
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    name, protocol = report["data_name"], report["protocol"]
    anchor = report.get("anchor")
    if anchor:
        figures = [f"{anchor[key]:.4f}" if key in anchor else "" for key in ("accuracy", "macro_f1", "f1", "kappa")]
        lines.append(f"| {name} | {protocol} | published: {anchor['source']} | " + " | ".join(figures) + " | | |")
    for system in report["systems"]:
        loop = f"{system['drifts_detected']} / {system['retrains']} / {system['promotions']}"
        lines.append(
            f"| {name} | {protocol} | {system['name']}: {system['description']} | {system['accuracy']:.4f} | "
            f"{system['macro_f1']:.4f} | {system['f1']:.4f} | {system['kappa']:.4f} | {loop} | "
            f"{system['wall_seconds']:.0f} |"
        )
    recoveries = [(s["name"], s["drift_recovery"]) for s in report["systems"] if s.get("drift_recovery")]
    if recoveries:
        lines += [
            "",
            "| system | pre-drift macro-F1 | worst window | back within 0.02 after (flows) | last window |",
            "|---|---|---|---|---|",
        ]
        for system_name, r in recoveries:
            back = "never" if r["flows_to_recover"] is None else str(r["flows_to_recover"])
            lines.append(
                f"| {system_name} | {r['pre_drift_macro_f1']:.4f} | {r['worst_macro_f1']:.4f} | {back} | "
                f"{r['final_macro_f1']:.4f} |"
            )
    return "\n".join(lines) + f"\n\nCommand: `{report['command']}`\n"


def stream_png(
    results: Sequence[SystemResult], data: EvaluationData, predictions: dict[str, np.ndarray], window: int
) -> bytes:
    """Rolling error rate and per-window macro-F1 of every system, the product's loop events marked."""
    import io

    truth = data.stream[LABEL].astype(str).to_numpy()
    figure, (errors_axis, f1_axis) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
    step = max(1, window // 5)
    for i, result in enumerate(results):
        predicted = predictions[result.name]
        errors_axis.plot(
            rolling_rate((predicted != truth).astype(float), window),
            color=SYSTEM_COLOURS[i],
            linewidth=1,
            label=result.name,
        )
        if len(truth) >= window:
            sliding = window_scores(truth, predicted, window=window, step=step, benign_label=data.benign_label)
            f1_axis.plot(
                [w.end for w in sliding],
                [w.macro_f1 for w in sliding],
                color=SYSTEM_COLOURS[i],
                linewidth=1,
                label=result.name,
            )
    product = results[0]
    marks = [
        ("drift confirmed (product)", product.drift_flows, "tab:red", "--"),
        ("retrain (product)", tuple(r.at_flow for r in product.retrain_records), "tab:purple", ":"),
        ("promotion (product)", tuple(r.at_flow + 1 for r in product.retrain_records if r.promoted), "tab:brown", "-"),
    ]
    if data.onset is not None:
        marks.append(("drift onset", (data.onset,), "black", "-."))
    for axis in (errors_axis, f1_axis):
        for label, flows, colour, style in marks:
            for k, flow in enumerate(flows):
                axis.axvline(flow, color=colour, linestyle=style, linewidth=1, label=label if k == 0 else None)
    errors_axis.set_ylabel(f"error rate, last {window} flows")
    errors_axis.set_ylim(0, max(0.05, float(errors_axis.get_ylim()[1])))
    f1_axis.set_ylabel(f"macro-F1, last {window} flows")
    f1_axis.set_xlabel("flow of the scored stream")
    f1_axis.set_ylim(0, 1.02)
    for axis, place in ((errors_axis, "upper right"), (f1_axis, "lower right")):
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc=place, fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def evaluate(request: EvaluationRequest, *, command: str = "", show_progress: bool = True) -> dict[str, Any]:
    """Run every system of ``request`` and write the JSON, markdown and PNG reports; return the report."""
    started = time.perf_counter()
    data = load_data(request)
    results: list[SystemResult] = []
    predictions: dict[str, np.ndarray] = {}
    for name, (description, runner) in systems(request).items():
        began = time.perf_counter()
        with tqdm(
            total=len(data.stream),
            desc=f"{request.protocol} {name}",
            unit="flow",
            disable=not show_progress,
            leave=False,
        ) as bar:
            run = runner(data, bar)
        result = system_result(name, description, run, data, request, time.perf_counter() - began)
        results.append(result)
        predictions[name] = run.predictions
        if show_progress:
            print(
                f"{name}: accuracy {result.accuracy:.4f}, macro-F1 {result.macro_f1:.4f}, F1 {result.f1:.4f}, "
                f"kappa {result.kappa:.4f} ({result.wall_seconds:.0f} s)",
                file=sys.stderr,
            )
    product = results[0]
    report: dict[str, Any] = {
        "command": command,
        "data": data.description,
        "data_name": Path(request.data[-1]).name if request.data else f"generator {request.scenario}",
        "protocol": request.protocol,
        "request": request.model_dump(mode="json"),
        "anchor": published_anchor(data.anchor_key, request),
        **{key: getattr(product, key) for key in ("accuracy", "macro_f1", "f1", "kappa", "n_flows")},
        **{key: getattr(product, key) for key in ("drifts_detected", "retrains", "promotions")},
        "wall_seconds": time.perf_counter() - started,
        "systems": [result.model_dump(mode="json") for result in results],
    }
    out = request.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown_table(report))
    out.with_suffix(".png").write_bytes(stream_png(results, data, predictions, request.window))
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``evaluate`` options (used by ``arf-ids evaluate``)."""
    parser.add_argument("--data", nargs="+", default=[], metavar="PATH", help="data files, streamed in this order")
    parser.add_argument("--format", default="cicflowmeter", choices=FORMATS)
    parser.add_argument("--protocol", default="prequential", choices=PROTOCOLS)
    parser.add_argument("--binary", action="store_true", help="BENIGN / ATTACK labels")
    parser.add_argument("--train-fraction", type=float, help="the first F of the stream trains (default: first file)")
    parser.add_argument("--label-delay", type=int, default=0, help="labels arrive this many flows late")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--baseline", nargs="*", choices=BASELINES, help="default: seed (recovery: static seed)")
    parser.add_argument("--window", type=int, default=1_000, help="flows per window of the per-window figures")
    parser.add_argument("--arf", nargs="*", default=[], metavar="KEY=VALUE", help="ArfConfig overrides of the product")
    parser.add_argument(
        "--min-drift-samples",
        type=int,
        default=RecoveryConfig().min_drift_samples,
        help="recovery: labelled flows since the onset a retrain waits for",
    )
    parser.add_argument("--scenario", default="attack_variant", choices=SCENARIOS, help="synthetic: the drift")
    parser.add_argument("--flows", type=int, default=20_000, help="synthetic: flows in the stream")
    parser.add_argument("--onset", type=int, default=5_000, help="synthetic: flow where the drift starts")
    parser.add_argument("--drift-share", type=float, default=0.3, help="synthetic: share of drifted flows after onset")
    parser.add_argument("--base-flows", type=int, default=24_000, help="synthetic: flows of the training part")
    parser.add_argument("--out", type=Path, default=Path(".arf_ids/reports/evaluation.json"))


def request_from_args(args: argparse.Namespace) -> EvaluationRequest:
    baselines = (
        args.baseline
        if args.baseline is not None
        else (["static", "seed"] if args.protocol == "recovery" else ["seed"])
    )
    return EvaluationRequest(
        data=tuple(args.data),
        format=args.format,
        protocol=args.protocol,
        binary=args.binary,
        train_fraction=args.train_fraction,
        label_delay=args.label_delay,
        seed=args.seed,
        baselines=tuple(baselines),
        window=args.window,
        arf=parse_overrides(args.arf),
        min_drift_samples=args.min_drift_samples,
        scenario=args.scenario,
        flows=args.flows,
        onset=args.onset,
        drift_share=args.drift_share,
        base_flows=args.base_flows,
        out=args.out,
    )


def run_command(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """``arf-ids evaluate``: run, print the markdown table."""
    command = "arf-ids " + shlex.join(argv if argv is not None else sys.argv[1:])
    report = evaluate(request_from_args(args), command=command)
    print(markdown_table(report))
    return 0


def headline_keys(report: dict[str, Any]) -> tuple[str, ...]:
    """The figures a report's summary row shows: its target's, else accuracy and F1 (binary)
    or macro-F1."""
    target = issue_target(report)
    if target and "minimum" in target:
        return tuple(target["minimum"])
    return ("accuracy", "f1") if report["request"].get("binary") else ("accuracy", "macro_f1")


def _figures(source: dict[str, Any], keys: Sequence[str]) -> str:
    return ", ".join(f"{FIGURE_NAMES[key]} {source[key]:.4f}" for key in keys if key in source)


def _recovered(system: dict[str, Any]) -> str:
    recovery = system.get("drift_recovery")
    if not recovery:
        return ""
    flows, before = recovery["flows_to_recover"], f"pre-drift {recovery['pre_drift_macro_f1']:.4f}"
    if flows is None:
        return f"; never back within 0.02 of {before}"
    return f"; back within 0.02 of {before} after {flows:,} flows"


def _loop(system: dict[str, Any]) -> str:
    return f" ({system['drifts_detected']} / {system['retrains']} / {system['promotions']})"


def target_verdict(report: dict[str, Any]) -> str:
    """Issue 4's target of the report and whether the product met it, or an empty string."""
    target = issue_target(report)
    if target is None:
        return ""
    product = report["systems"][0]
    if "minimum" in target:
        wanted = ", ".join(f"{FIGURE_NAMES[key]} ≥ {value:.4f}" for key, value in target["minimum"].items())
        met = all(product[key] >= value for key, value in target["minimum"].items())
    elif "over_static" in target:
        static = next((system for system in report["systems"] if system["name"] == "static"), None)
        if static is None:
            return "macro-F1 well above never-retrained: no static baseline in this run"
        margin = product["macro_f1"] - static["macro_f1"]
        wanted = f"macro-F1 ≥ static + {target['over_static']:.2f} (here {margin:+.4f})"
        met = margin >= target["over_static"]
    else:
        recovery = product.get("drift_recovery")
        flows = recovery["flows_to_recover"] if recovery else None
        wanted = f"back within 0.02 within {target['recover_within']:,} flows of onset"
        met = flows is not None and flows <= target["recover_within"]
    return f"{wanted}: **{'met' if met else 'missed'}**"


def _protocol_text(request: dict[str, Any]) -> str:
    parts = [request["protocol"]]
    if request.get("binary"):
        parts.append("binary")
    if request["format"] == "synthetic":
        parts.append(f"drift from flow {request['onset']:,}")
    elif request.get("train_fraction") is not None:
        fraction = request["train_fraction"]
        parts.append(f"first {fraction:.0%} trains" if fraction else "every flow scored")
    else:
        parts.append("trained on the first file")
    if request.get("label_delay"):
        parts.append(f"labels {request['label_delay']:,} flows late")
    parts.append(f"seed {request['seed']}")
    return ", ".join(parts)


def seed_spreads(reports: Sequence[dict[str, Any]]) -> list[str]:
    """A line per group of reports that differ only in ``--seed`` (and ``--baseline``, ``--out``):
    the product's headline figures, lowest and highest over the seeds."""
    groups: dict[str, list[int]] = {}
    for number, report in enumerate(reports, start=1):
        request = {k: v for k, v in report["request"].items() if k not in ("seed", "baselines", "out")}
        groups.setdefault(json.dumps(request, sort_keys=True), []).append(number)
    lines = []
    for numbers in groups.values():
        if len(numbers) < 2:
            continue
        chosen = [reports[n - 1] for n in numbers]
        first = chosen[0]
        spread = ", ".join(
            f"{FIGURE_NAMES[key]} {min(r['systems'][0][key] for r in chosen):.4f}"
            f"–{max(r['systems'][0][key] for r in chosen):.4f}"
            for key in headline_keys(first)
        )
        seeds = ", ".join(str(r["request"]["seed"]) for r in chosen)
        rows = ", ".join(map(str, numbers))
        where = f"{first['data_name']}, {first['protocol']}, seeds {seeds}"
        lines.append(f"Rows {rows} ({where}): product {spread} (min–max).")
    return lines


def summary_table(reports: Sequence[dict[str, Any]]) -> str:
    """One row per report: the product's figures, the baselines of the same run, the published
    anchor, issue 4's target; then the command line of each row and the total wall time."""
    columns = ("#", "data set", "protocol", "product", "baselines, same run", "published anchor", "issue 4 target")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for number, report in enumerate(reports, start=1):
        keys = headline_keys(report)
        product, *baselines = report["systems"]
        recovery = report["protocol"] == "recovery"
        figure = f"**{_figures(product, keys)}**" + (_loop(product) if recovery else "") + _recovered(product)
        others = "; ".join(
            f"{system['name']}: {_figures(system, keys)}" + (_loop(system) if recovery else "") + _recovered(system)
            for system in baselines
        )
        anchor = report.get("anchor")
        published = f"{_figures(anchor, keys) or _figures(anchor, FIGURE_NAMES)} ({anchor['source']})" if anchor else ""
        data_name = " → ".join(Path(path).name for path in report["request"]["data"]) or report["data_name"]
        cells = (str(number), data_name, _protocol_text(report["request"]), figure, others, published)
        lines.append("| " + " | ".join((*cells, target_verdict(report))) + " |")
    spreads = seed_spreads(reports)
    if spreads:
        lines += ["", *spreads]
    lines += ["", "Each row's command (from the project root; `make evaluate` runs them all):", ""]
    lines += [f"{number}. `{report['command']}`" for number, report in enumerate(reports, start=1)]
    total = sum(report["wall_seconds"] for report in reports)
    each = " + ".join(f"{report['wall_seconds']:,.0f}" for report in reports)
    lines += [
        "",
        "Baselines: `seed` = the seed system's choices (prequential/holdout: river `ARFClassifier(n_models=10)` "
        "defaults on raw features; recovery: the loop with K = 30, the gate without the forgetting check, "
        "λ 6 / grace 50); `static` = the product's model that never learns after training (recovery: "
        "drifts are detected, nothing is retrained). Recovery figures in brackets: drifts / retrains / promotions.",
        "",
        f"Wall time of these runs: {total:,.0f} s in all ({each} s).",
    ]
    return "\n".join(lines) + "\n"


def load_reports(folder: Path) -> list[dict[str, Any]]:
    """Every evaluation report (``*.json`` with systems) in ``folder``, by file name."""
    reports = [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]
    reports = [report for report in reports if isinstance(report, dict) and "systems" in report]
    if not reports:
        raise MalformedDataError(str(folder), "holds no evaluation reports")
    return reports


def results_table(folder: Path) -> str:
    """The summary of every report in ``folder`` (:func:`summary_table`), then each report's
    table of every system (:func:`markdown_table`)."""
    reports = load_reports(folder)
    details = "\n".join(markdown_table(report) for report in reports)
    return (
        summary_table(reports)
        + "\n<details><summary>Every system of every run</summary>\n\n"
        + details
        + "\n</details>\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arf_ids.evaluate", description="tables of evaluation reports")
    parser.add_argument("--table", type=Path, required=True, metavar="DIR", help="print one table of DIR's reports")
    print(results_table(parser.parse_args(argv).table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
