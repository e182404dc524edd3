"""Daily partitions of the prediction log: one per UTC day, so analysts can backfill."""

import dagster as dg

daily_partitions = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC", end_offset=1)
