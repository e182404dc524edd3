"""``arf-ids demo``: the whole adaptive loop on embedded defaults, measured, through HTTP.

Bootstrap → Dagster daemon and webserver and the BentoML service → base traffic posted
to ``/predict``, true labels to ``/label/batch`` → a drift starts at a known flow →
``drift_sensor`` launches the retrain run → the gate promotes a new model → the service
hot-swaps it → traffic goes on until the error rate has recovered → report, with what
the client saw of the service (requests, errors, latency, seconds from promotion to the
first answer from the new version).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from arf_ids.cli import bootstrap, prepare_dagster_home
from arf_ids.core.drift import detect_drift
from arf_ids.core.errors import ArfIdsError
from arf_ids.core.evaluation import score
from arf_ids.core.generator import DriftScenario, TrafficGenerator
from arf_ids.core.lineage import LABEL
from arf_ids.core.logstore import LogStore
from arf_ids.core.registry import ModelRegistry
from arf_ids.defs.retraining.sensors import DRIFT_AT_TAG, TRIGGER_TAG
from arf_ids.replay import ReplayConfig, ReplayProgress
from arf_ids.serving.client import HttpReplayer
from arf_ids.settings import Settings
from arf_ids.stack import local_stack


class DemoPlan(BaseModel):
    """The demo's traffic and its limits."""

    model_config = ConfigDict(frozen=True)

    scenario: str = "attack_variant"
    onset_flow: int = 6_000
    drift_share: float = 0.3
    rate: float = 400.0
    label_delay: int = 100
    seed: int = 7
    retrain_timeout_seconds: float = 360.0
    recovery_window: int = 2_000
    max_flows_after_promotion: int = 16_000
    recovery_margin: float = 0.01


class DemoFailed(ArfIdsError):
    """A step of the demo did not happen."""


def run_seconds(instance: dg.DagsterInstance, run: dg.DagsterRun | None) -> float | None:
    """Wall time of a finished run, from the instance's run record."""
    records = instance.get_run_records(filters=dg.RunsFilter(run_ids=[run.run_id])) if run is not None else []
    if not records or not (records[0].end_time and records[0].start_time):
        return None
    return round(records[0].end_time - records[0].start_time, 1)


def retrain_run(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={TRIGGER_TAG: "drift_sensor"}), limit=1)
    return runs[0] if runs else None


def flow_index(flow_ids: pd.Series) -> np.ndarray:
    return flow_ids.str.rsplit("-", n=1).str[-1].astype(int).to_numpy()


def macro_f1(frame: pd.DataFrame) -> float | None:
    return score(frame[LABEL].to_numpy(), frame["predicted_label"].to_numpy()).macro_f1 if len(frame) else None


def error_rate(frame: pd.DataFrame) -> float | None:
    return float((frame["predicted_label"] != frame[LABEL]).mean()) if len(frame) else None


def served_since(log_store: LogStore, first_flow: int) -> pd.DataFrame:
    """Labelled flows from ``first_flow`` on (the ones the new model scored)."""
    labelled = log_store.labelled_frame()
    return labelled.loc[flow_index(labelled["flow_id"]) >= first_flow]


def run_demo(
    settings: Settings, *, webserver_port: int = 3000, service_port: int | None = None, plan: DemoPlan | None = None
) -> int:
    """Run the loop; write ``reports/demo.json``; exit code 0 only if every step happened."""
    plan = plan or DemoPlan()
    started = time.perf_counter()
    demo_home = settings.home / "demo"
    shutil.rmtree(demo_home, ignore_errors=True)
    env = {
        **os.environ,
        "ARF_IDS_HOME": str(demo_home),
        "DAGSTER_HOME": str(demo_home / "dagster"),
        "ARF_IDS_SENSOR__INTERVAL_SECONDS": "5",
        "ARF_IDS_SENSOR__COOLDOWN_MINUTES": "30",
        "ARF_IDS_SENSOR__LOOKBACK_HOURS": "1",
    }
    os.environ.update(env)
    demo_settings = Settings()
    prepare_dagster_home(demo_settings)
    registry = ModelRegistry(demo_settings.registry_config())
    version_before = bootstrap(demo_settings)
    log_store = LogStore(demo_settings.log_store_url)
    scenario = DriftScenario(name=plan.scenario, onset_flow=plan.onset_flow, drift_share=plan.drift_share)
    total = plan.onset_flow + int(plan.rate * plan.retrain_timeout_seconds) + plan.max_flows_after_promotion
    flows = TrafficGenerator(seed=plan.seed).stream(total, scenario)
    report: dict[str, object] = {"scenario": plan.model_dump(), "production_version_before": version_before}

    with (
        local_stack(env, dagster_port=webserver_port, service_port=service_port or demo_settings.service.port) as svc,
        dg.DagsterInstance.get() as instance,
    ):
        replayer = HttpReplayer(
            svc.url,
            ReplayConfig(label_delay=plan.label_delay, rate=plan.rate, flow_id_prefix="demo"),
            api_key=demo_settings.service.api_key,
        )
        position = replayer.run(flows.iloc[: plan.onset_flow], description="base traffic")
        deadline = time.monotonic() + plan.retrain_timeout_seconds

        def promoted(progress: ReplayProgress) -> bool:
            run = retrain_run(instance)
            if run is not None and run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
                raise DemoFailed(f"retrain run {run.run_id} ended {run.status.value}")
            if time.monotonic() > deadline:
                raise DemoFailed(f"no promotion within {plan.retrain_timeout_seconds:.0f}s of the drift")
            return progress.model_version is not None and progress.model_version != version_before

        position += replayer.run(flows.iloc[position:], until=promoted, description="drifted traffic")
        version_after = replayer.progress.model_version
        promoted_at_flow = replayer.progress.first_flow_by_version[version_after]
        labelled = log_store.labelled_frame()
        target = error_rate(labelled.loc[flow_index(labelled["flow_id"]) < plan.onset_flow]) or 0.0
        while position < len(flows):
            position += replayer.run(flows.iloc[position : position + 1_000], description="after promotion")
            recent = served_since(log_store, promoted_at_flow).tail(plan.recovery_window)
            if len(recent) >= plan.recovery_window and (error_rate(recent) or 0.0) <= target + plan.recovery_margin:
                break
        replayer.flush_labels()
        promoted_at = registry.info(version_after).tags.get("promoted_at")
        report.update(replayer.service_report(promoted_at=datetime.fromisoformat(promoted_at) if promoted_at else None))
        run = retrain_run(instance)
        retrain_seconds = run_seconds(instance, run)
    # the service has stopped and flushed: the log holds every answer and label

    labelled = log_store.labelled_frame()
    index = flow_index(labelled["flow_id"])
    before = labelled.loc[index < plan.onset_flow]
    during = labelled.loc[(index >= plan.onset_flow) & (index < promoted_at_flow)]
    after = labelled.loc[index >= promoted_at_flow].tail(plan.recovery_window)
    # ADWIN is sequential: over the whole log it confirms at the same sample as the sensor did on its prefix
    detection = detect_drift(
        labelled["predicted_at"], (labelled["predicted_label"] != labelled[LABEL]).to_numpy(), demo_settings.drift
    )
    report.update(
        {
            "drift_onset_flow": plan.onset_flow,
            "drift_detected_flow": int(index[detection.first_drift_index])
            if detection.first_drift_index is not None
            else None,
            "drift_detected_at": detection.first_drift_at,
            "sensor_drift_at": run.tags.get(DRIFT_AT_TAG) if run is not None else None,
            "retrain_run_id": run.run_id if run is not None else None,
            "retrain_triggered_by": run.tags.get(TRIGGER_TAG) if run is not None else None,
            "retrain_run_status": run.status.value if run is not None else None,
            "retrain_run_seconds": retrain_seconds,
            "production_version_after": registry.version_for("production"),
            "first_flow_served_by_new_version": promoted_at_flow,
            "macro_f1_before_drift": macro_f1(before),
            "macro_f1_during_drift": macro_f1(during),
            "macro_f1_after_recovery": macro_f1(after),
            "error_rate_before_drift": error_rate(before),
            "error_rate_during_drift": error_rate(during),
            "error_rate_after_recovery": error_rate(after),
            "flows_replayed": replayer.progress.flows,
            "labels_logged": replayer.progress.labels,
            "predictions_in_log": log_store.counts()["predictions"],
            "wall_seconds": round(time.perf_counter() - started, 1),
        }
    )
    report["recovered"] = bool(
        report["error_rate_after_recovery"] is not None
        and report["error_rate_before_drift"] is not None
        and report["error_rate_after_recovery"] <= report["error_rate_before_drift"] + plan.recovery_margin
    )
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    path = settings.reports_dir / "demo.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))
    print(f"report written to {path}")
    ok = (
        report["production_version_after"] != version_before
        and report["recovered"]
        and report["service_errors"] == 0
        and report["predictions_in_log"] == report["flows_replayed"]
    )
    return 0 if ok else 1
