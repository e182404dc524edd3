"""The retrain lineage: drift samples → merge → SMOTE → candidate → promotion."""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from arf_ids.core.lineage import (
    LABEL,
    SOURCE,
    build_candidate,
    drift_holdout,
    evaluate_candidate,
    merge_with_base,
    prepare,
    select_drift_samples,
)
from arf_ids.core.plots import confusion_matrix_png
from arf_ids.defs.base.assets import base_dataset, read_base
from arf_ids.defs.metadata import class_counts, picture, table
from arf_ids.defs.monitoring.assets import drift_signals, labeled_logs
from arf_ids.defs.resources import DatasetStoreResource, LogStoreResource, ModelRegistryResource
from arf_ids.settings import Settings

DRIFT_SAMPLES = "retrain/drift_samples"
MERGED = "retrain/merged"
SMOTE_TRAIN = "retrain/smote_train"
SMOTE_TEST = "retrain/smote_test"
CANDIDATE = "retrain/candidate"


class DriftSamplesConfig(dg.Config):
    """Which labelled flows are the drift samples (the sensor sets ``since`` to the drift's onset)."""

    since: str | None = None
    until: str | None = None


@dg.asset(deps=[labeled_logs, drift_signals], group_name="retraining", kinds={"sql", "parquet"})
def drift_samples(
    context: dg.AssetExecutionContext,
    config: DriftSamplesConfig,
    log_store: LogStoreResource,
    datasets: DatasetStoreResource,
) -> dg.MaterializeResult:
    """Labelled flows seen since the drift's onset: the new concept the model must learn."""
    settings = Settings()
    now = datetime.now(UTC)
    since = (
        datetime.fromisoformat(config.since) if config.since else now - timedelta(hours=settings.sensor.lookback_hours)
    )
    until = datetime.fromisoformat(config.until) if config.until else now
    _, _, schema, _ = read_base(datasets)
    labelled = log_store.store().labelled_frame(since, until, feature_names=schema.features)
    samples = select_drift_samples(
        labelled, since=since, schema=schema, limit=settings.lineage_config().max_drift_samples
    )
    if samples.empty:
        raise dg.Failure(f"no labelled flows between {since.isoformat()} and {until.isoformat()}")
    datasets.store().write_frame(DRIFT_SAMPLES, samples)
    errors = (labelled["predicted_label"] != labelled[LABEL]).mean()
    context.log.info(f"{len(samples)} drift samples since {since.isoformat()}")
    return dg.MaterializeResult(
        metadata={
            "since": since.isoformat(),
            "until": until.isoformat(),
            "rows": len(samples),
            "labelled_since_onset": len(labelled),
            "class_counts": class_counts(samples),
            "production_error_rate": float(errors),
        }
    )


@dg.asset(deps=[drift_samples, base_dataset], group_name="retraining", kinds={"pandas", "parquet"})
def merged_dataset(datasets: DatasetStoreResource) -> dg.MaterializeResult:
    """Drift samples kept whole, base rows replayed per class so old attacks stay in balance."""
    store = datasets.store()
    base_train, _, _, _ = read_base(datasets)
    result = merge_with_base(store.read_frame(DRIFT_SAMPLES), base_train, Settings().lineage_config())
    store.write_frame(MERGED, result.frame)
    by_source = result.frame.groupby([LABEL, SOURCE]).size().unstack(fill_value=0).reset_index()
    return dg.MaterializeResult(
        metadata={
            "rows": len(result.frame),
            "target_per_class": result.summary.target_per_class,
            "counts_by_source": table(by_source),
            "novel_classes": dg.MetadataValue.json(list(result.summary.novel_classes)),
            "resampled_classes": dg.MetadataValue.json(list(result.summary.resampled_classes)),
            "note": result.summary.note,
        }
    )


@dg.asset(deps=[merged_dataset], group_name="retraining", kinds={"pandas", "parquet"})
def smote_dataset(datasets: DatasetStoreResource) -> dg.MaterializeResult:
    """Stratified 80/20 split of the merged set; SMOTE oversamples the training part only."""
    store = datasets.store()
    merged = store.read_frame(MERGED)
    _, _, schema, _ = read_base(datasets)
    prepared = prepare(merged, schema=schema, config=Settings().lineage_config())
    store.write_frame(SMOTE_TRAIN, prepared.train_resampled)
    store.write_frame(SMOTE_TEST, prepared.test)
    return dg.MaterializeResult(
        metadata={
            "train_rows": len(prepared.train_resampled),
            "test_rows": len(prepared.test),
            "synthetic_rows": int((prepared.train_resampled[SOURCE] == "SMOTE").sum()),
            "train_class_counts": class_counts(prepared.train_resampled),
            "test_class_counts": class_counts(prepared.test),
        }
    )


@dg.asset(deps=[smote_dataset], group_name="retraining", kinds={"river", "mlflow"})
def candidate_model(
    context: dg.AssetExecutionContext, datasets: DatasetStoreResource, model_registry: ModelRegistryResource
) -> dg.MaterializeResult:
    """Production's ARF grown by new members, taught the SMOTE set, scored against production."""
    settings = Settings()
    config = settings.lineage_config()
    registry = model_registry.registry()
    production = registry.load("production")
    store = datasets.store()
    train = store.read_frame(SMOTE_TRAIN)
    base_train, base_holdout, _, _ = read_base(datasets)
    started = time.perf_counter()
    candidate, report = build_candidate(production.bundle, train, base_train, config)
    drift_test = drift_holdout(store.read_frame(SMOTE_TEST))
    evaluation = evaluate_candidate(
        candidate, production.bundle, drift_test=drift_test, base_holdout=base_holdout, config=config
    )
    seconds = time.perf_counter() - started
    decision = evaluation.decision
    info = registry.register(
        candidate,
        metrics={
            "drift_macro_f1": evaluation.candidate_drift.macro_f1,
            "drift_kappa": evaluation.candidate_drift.kappa,
            "base_macro_f1": evaluation.candidate_base.macro_f1,
            "production_drift_macro_f1": evaluation.production_drift.macro_f1,
            "production_drift_kappa": evaluation.production_drift.kappa,
            "production_base_macro_f1": evaluation.production_base.macro_f1,
            "f1_gain": decision.f1_gain,
            "kappa_gain": decision.kappa_gain,
            "retrain_seconds": seconds,
        },
        params={**settings.retrain.model_dump(), "parent_version": production.version},
        data={
            "smote_train_rows": len(train),
            "drift_holdout_rows": len(drift_test),
            "base_holdout_rows": len(base_holdout),
            "dagster_run_id": context.run_id,
        },
        tags={"gate": "pass" if decision.promote else "fail"},
        run_name="candidate_model",
        alias="candidate",
    )
    store.write_json(
        CANDIDATE,
        {
            "version": info.version,
            "parent_version": production.version,
            "run_id": context.run_id,
            "decision": decision.model_dump(mode="json"),
        },
    )
    predicted = candidate.predict_labels(candidate.schema.frame_matrix(drift_test))
    return dg.MaterializeResult(
        metadata={
            "model_version": info.version,
            "parent_version": production.version,
            "mlflow_run_id": info.run_id,
            "members": f"{report.members_before} + {report.members_added} → {report.members_after}",
            "drift_macro_f1": evaluation.candidate_drift.macro_f1,
            "drift_kappa": evaluation.candidate_drift.kappa,
            "f1_gain": decision.f1_gain,
            "kappa_gain": decision.kappa_gain,
            "forgetting": decision.forgetting,
            "gate": "pass" if decision.promote else "fail",
            "gate_reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
            "retrain_seconds": seconds,
            "confusion_matrix": picture(
                confusion_matrix_png(
                    drift_test[LABEL].tolist(), list(predicted), title="Candidate on the drift hold-out"
                ),
                "confusion matrix",
            ),
        }
    )


@dg.asset_check(
    asset=candidate_model, blocking=True, description="beats production on F1 and kappa, forgets no old attack"
)
def promotion_gate(datasets: DatasetStoreResource) -> dg.AssetCheckResult:
    """Blocks `promoted_model` unless the candidate strictly beats production and does not forget."""
    candidate = datasets.store().read_json(CANDIDATE)
    decision = candidate["decision"]
    return dg.AssetCheckResult(
        passed=bool(decision["promote"]),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "candidate_version": candidate["version"],
            "f1_gain": decision["f1_gain"],
            "kappa_gain": decision["kappa_gain"],
            "forgetting": decision["forgetting"],
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision["reasons"])),
        },
    )


@dg.asset(deps=[candidate_model], group_name="retraining", kinds={"mlflow"})
def promoted_model(
    context: dg.AssetExecutionContext, datasets: DatasetStoreResource, model_registry: ModelRegistryResource
) -> dg.MaterializeResult:
    """The candidate that passed the gate, now carrying the `production` alias."""
    candidate = datasets.store().read_json(CANDIDATE)
    if not candidate["decision"]["promote"]:  # the blocking check already stops this; never move production on a fail
        raise dg.Failure(f"candidate {candidate['version']} did not pass the promotion gate")
    previous = model_registry.registry().promote(int(candidate["version"]), reason=f"dagster run {context.run_id}")
    return dg.MaterializeResult(
        metadata={"model_version": int(candidate["version"]), "previous_version": previous or 0, "alias": "production"}
    )


RETRAIN_ASSETS = [drift_samples, merged_dataset, smote_dataset, candidate_model, promoted_model]
