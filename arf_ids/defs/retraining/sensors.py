"""``drift_sensor``: launch the retrain lineage when drift in the labelled error stream is real."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from arf_ids.core.drift import detect_drift
from arf_ids.defs.resources import LogStoreResource
from arf_ids.defs.retraining.jobs import RETRAIN_TAG, retrain_job
from arf_ids.settings import Settings

TRIGGER_TAG = "arf_ids/triggered_by"
DRIFT_AT_TAG = "arf_ids/drift_at"
ONSET_TAG = "arf_ids/drift_samples_since"
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def last_retrain_at(instance: dg.DagsterInstance) -> datetime | None:
    """When the latest retrain run was created: read from the instance, so it survives restarts."""
    runs = instance.get_run_records(filters=dg.RunsFilter(tags={RETRAIN_TAG: "retrain"}), limit=1)
    return runs[0].create_timestamp.astimezone(UTC) if runs else None


def active_retrain(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RETRAIN_TAG: "retrain"}, statuses=ACTIVE_STATUSES), limit=1)
    return runs[0] if runs else None


def evaluate_drift(context: dg.SensorEvaluationContext, log_store: LogStoreResource) -> dg.SensorResult | dg.SkipReason:
    """One tick: skip with a reason, or request one retrain run keyed by the drift's onset."""
    settings = Settings()
    now = datetime.now(UTC)
    running = active_retrain(context.instance)
    if running is not None:
        return dg.SkipReason(f"retrain run {running.run_id} is {running.status.value}; at most one retrain at a time")
    last = last_retrain_at(context.instance)
    cooldown = timedelta(minutes=settings.sensor.cooldown_minutes)
    if last is not None and now - last < cooldown:
        return dg.SkipReason(
            f"cooldown: last retrain started {last.isoformat()}, next allowed after {(last + cooldown).isoformat()}"
        )
    cursor = json.loads(context.cursor) if context.cursor else {}
    since = max(
        [now - timedelta(hours=settings.sensor.lookback_hours)]
        + [t for t in (last, datetime.fromisoformat(cursor["requested_at"]) if "requested_at" in cursor else None) if t]
    )
    times, errors = log_store.store().error_stream(since, now)
    if len(errors) < settings.drift.min_labelled:
        return dg.SkipReason(
            f"{len(errors)} labelled predictions since {since.isoformat()}; drift needs {settings.drift.min_labelled}"
        )
    report = detect_drift(times, errors, settings.drift)
    if not report.drift or report.first_drift_at is None:
        return dg.SkipReason(
            f"no confirmed negative drift in {report.n_samples} labelled predictions since {since.isoformat()} "
            f"(error rate {report.error_rate:.3f}, {report.n_detections} raw ADWIN detections)"
        )
    drift_at = report.first_drift_at.isoformat()
    run_key = f"drift-{drift_at}"
    # the confirming window (the last K samples before confirmation) already holds the new concept
    onset = times[max(0, report.first_drift_index - settings.drift.confirm_window)].isoformat()
    if cursor.get("run_key") == run_key:
        return dg.SkipReason(f"drift at {drift_at} already has a retrain run (run_key {run_key})")
    request = dg.RunRequest(
        run_key=run_key,
        run_config={"ops": {"drift_samples": {"config": {"since": onset}}}},
        tags={
            TRIGGER_TAG: "drift_sensor",
            DRIFT_AT_TAG: drift_at,
            ONSET_TAG: onset,
            "arf_ids/error_rate_before": f"{report.error_rate_before:.4f}",
            "arf_ids/error_rate_after": f"{report.error_rate_after:.4f}",
            "arf_ids/labelled_samples": str(report.n_samples),
        },
    )
    context.log.info(
        f"negative drift at {drift_at}: error {report.error_rate_before:.3f} → {report.error_rate_after:.3f}"
    )
    return dg.SensorResult(
        run_requests=[request], cursor=json.dumps({"run_key": run_key, "requested_at": now.isoformat()})
    )


def build_drift_sensor(interval_seconds: int) -> dg.SensorDefinition:
    """The drift sensor, evaluated every ``interval_seconds`` by the daemon."""

    @dg.sensor(
        name="drift_sensor",
        job=retrain_job,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="ADWIN with trend confirmation over recent labelled predictions; retrains on confirmed drift.",
    )
    def drift_sensor(
        context: dg.SensorEvaluationContext, log_store: LogStoreResource
    ) -> dg.SensorResult | dg.SkipReason:
        return evaluate_drift(context, log_store)

    return drift_sensor
