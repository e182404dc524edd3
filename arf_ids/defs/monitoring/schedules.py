"""Every night, yesterday's labelled logs and drift signals."""

from datetime import timedelta

import dagster as dg

from arf_ids.defs.monitoring.assets import drift_signals, labeled_logs
from arf_ids.defs.monitoring.partitions import daily_partitions

monitoring_job = dg.define_asset_job(
    "daily_monitoring",
    selection=dg.AssetSelection.assets(labeled_logs, drift_signals),
    partitions_def=daily_partitions,
    description="Labelled logs and drift signals of one day (or a range, as a backfill).",
)


@dg.schedule(job=monitoring_job, cron_schedule="15 0 * * *", execution_timezone="UTC")
def nightly_drift_analysis(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Analyse yesterday (UTC) once its last label had time to arrive."""
    day = (context.scheduled_execution_time - timedelta(days=1)).strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"monitoring-{day}", partition_key=day)
