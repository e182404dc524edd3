"""The Dagster code location of arf_ids: ``dagster dev -m arf_ids.definitions``."""

import dagster as dg

from arf_ids.defs.base.assets import base_dataset, base_model
from arf_ids.defs.base.jobs import bootstrap_job
from arf_ids.defs.monitoring.assets import drift_signals, labeled_logs
from arf_ids.defs.monitoring.schedules import monitoring_job, nightly_drift_analysis
from arf_ids.defs.registry.jobs import promote_version_job, rollback_job
from arf_ids.defs.resources import build_resources
from arf_ids.defs.retraining.assets import RETRAIN_ASSETS, promotion_gate
from arf_ids.defs.retraining.jobs import retrain_job
from arf_ids.defs.retraining.sensors import build_drift_sensor
from arf_ids.settings import Settings


@dg.definitions
def defs() -> dg.Definitions:
    """Assets, checks, jobs, the nightly schedule and the drift sensor, configured from the environment."""
    settings = Settings()
    return dg.Definitions(
        assets=[base_dataset, base_model, labeled_logs, drift_signals, *RETRAIN_ASSETS],
        asset_checks=[promotion_gate],
        jobs=[bootstrap_job, monitoring_job, retrain_job, promote_version_job, rollback_job],
        schedules=[nightly_drift_analysis],
        sensors=[build_drift_sensor(settings.sensor.interval_seconds)],
        resources=build_resources(settings),
    )
