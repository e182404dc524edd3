"""Labelled prediction logs and drift signals, one daily partition each."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd

from arf_ids.core.drift import DriftConfig, DriftReport, detect_drift
from arf_ids.core.lineage import LABEL
from arf_ids.core.plots import error_rate_png
from arf_ids.core.schema import FlowSchema
from arf_ids.defs.base.assets import BASE_INFO
from arf_ids.defs.metadata import class_counts, picture, table
from arf_ids.defs.monitoring.partitions import daily_partitions
from arf_ids.defs.resources import DatasetStoreResource, LogStoreResource
from arf_ids.settings import Settings

LABELED_LOGS_QUALITY = "labeled_logs_quality"


def labeled_logs_key(day: str) -> str:
    return f"labeled_logs/{day}"


def drift_signals_key(day: str) -> str:
    return f"drift_signals/{day}"


def day_window(day: str) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return start, start + timedelta(days=1)


def platform_vocabulary(datasets: DatasetStoreResource) -> tuple[FlowSchema, list[str]]:
    """The feature schema and label vocabulary of the platform (from ``base_dataset``)."""
    info = datasets.store().read_json(BASE_INFO)
    return FlowSchema(features=tuple(info["features"])), list(info["classes"])


def quality_problems(frame: pd.DataFrame, schema: FlowSchema, classes: list[str]) -> dict[str, int]:
    """Counts of rows with a missing feature, a non-finite value or an unknown label."""
    features = frame.reindex(columns=list(schema.features))
    values = features.to_numpy(dtype=np.float64, na_value=np.nan)
    return {
        "rows_missing_feature": int(features.isna().any(axis=1).sum()),
        "rows_non_finite": int(np.isinf(values).any(axis=1).sum()),
        "rows_unknown_label": int((~frame[LABEL].isin(classes)).sum()) if len(frame) else 0,
    }


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="monitoring",
    kinds={"sql", "parquet"},
    deps=["base_dataset"],
    check_specs=[
        dg.AssetCheckSpec(
            LABELED_LOGS_QUALITY, asset="labeled_logs", description="finite values, known labels, no missing features"
        )
    ],
)
def labeled_logs(
    context: dg.AssetExecutionContext, log_store: LogStoreResource, datasets: DatasetStoreResource
) -> dg.MaterializeResult:
    """Predictions of one UTC day joined with the true labels that arrived for them."""
    schema, classes = platform_vocabulary(datasets)
    store, logs = datasets.store(), log_store.store()
    frames = []
    for day in context.partition_keys:
        start, end = day_window(day)
        frame = logs.labelled_frame(start, end, feature_names=schema.features)
        store.write_frame(labeled_logs_key(day), frame)
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    problems = quality_problems(frame, schema, classes) if len(frame) else {}
    errors = (frame["predicted_label"] != frame[LABEL]).to_numpy() if len(frame) else np.array([])
    return dg.MaterializeResult(
        metadata={
            "days": dg.MetadataValue.json(list(context.partition_keys)),
            "rows": len(frame),
            "class_counts": class_counts(frame) if len(frame) else dg.MetadataValue.json({}),
            "error_rate": float(errors.mean()) if errors.size else 0.0,
            "model_versions": dg.MetadataValue.json(
                sorted(frame["model_version"].astype(str).unique().tolist()) if len(frame) else []
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=LABELED_LOGS_QUALITY,
                passed=not any(problems.values()),
                metadata={**problems, "rows_checked": len(frame)},
            )
        ],
    )


class DriftAnalysisConfig(dg.Config):
    """Run-time overrides for an analyst's re-analysis (empty: the platform's settings)."""

    delta: float | None = None
    confirm_window: int | None = None


def drift_config(config: DriftAnalysisConfig) -> DriftConfig:
    base = Settings().drift
    overrides = {
        k: v for k, v in {"delta": config.delta, "confirm_window": config.confirm_window}.items() if v is not None
    }
    return base.model_copy(update=overrides)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="monitoring",
    kinds={"river"},
    deps=[labeled_logs],
)
def drift_signals(
    context: dg.AssetExecutionContext, config: DriftAnalysisConfig, datasets: DatasetStoreResource
) -> dg.MaterializeResult:
    """ADWIN with trend confirmation over each day's error stream: drift, its onset and its end."""
    settings = drift_config(config)
    store = datasets.store()
    rows, last_errors, last_report = [], np.array([]), None
    for day in context.partition_keys:
        frame = store.read_frame(labeled_logs_key(day))
        errors = (frame["predicted_label"] != frame[LABEL]).to_numpy(dtype=int)
        report: DriftReport = detect_drift(frame["predicted_at"].tolist(), errors.tolist(), settings)
        store.write_json(drift_signals_key(day), {"config": settings.model_dump(), **report.model_dump(mode="json")})
        rows.append(
            {
                "day": day,
                "samples": report.n_samples,
                "drift": report.drift,
                "first_drift_at": report.first_drift_at,
                "drift_end_at": report.drift_end_at,
                "error_rate": report.error_rate,
            }
        )
        last_errors, last_report = errors, report
    metadata: dict[str, object] = {
        "delta": settings.delta,
        "confirm_window": settings.confirm_window,
        "days": table(pd.DataFrame(rows)),
        "days_with_drift": sum(bool(r["drift"]) for r in rows),
    }
    if last_report is not None:
        metadata.update(
            {
                "drift": last_report.drift,
                "first_drift_at": str(last_report.first_drift_at),
                "drift_end_at": str(last_report.drift_end_at),
                "error_rate_before": last_report.error_rate_before,
                "error_rate_after": last_report.error_rate_after,
                "error_curve": picture(
                    error_rate_png(
                        last_errors,
                        marks={
                            "drift confirmed": last_report.first_drift_index,
                            "drift ended": last_report.drift_end_index,
                        },
                        title=f"Error rate on {context.partition_keys[-1]}",
                    ),
                    "error rate",
                ),
            }
        )
    return dg.MaterializeResult(metadata=metadata)
