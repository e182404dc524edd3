"""The retrain job: the lineage from drift samples to the promoted model, in one process."""

import dagster as dg

from arf_ids.defs.retraining.assets import RETRAIN_ASSETS

#: Tag the run queue limits to one run at a time (see dagster.yaml).
RETRAIN_TAG = "arf_ids/lineage"

retrain_job = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.assets(*RETRAIN_ASSETS),
    tags={RETRAIN_TAG: "retrain"},
    executor_def=dg.in_process_executor,
    description="Drift samples → merge → SMOTE → candidate → promotion gate → promoted model.",
)
