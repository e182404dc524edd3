"""Bootstrap: the base data set and the first production model, in one process."""

import dagster as dg

from arf_ids.defs.base.assets import base_dataset, base_model

bootstrap_job = dg.define_asset_job(
    "bootstrap",
    selection=dg.AssetSelection.assets(base_dataset, base_model),
    executor_def=dg.in_process_executor,
    description="Base data set and the first production model.",
)
