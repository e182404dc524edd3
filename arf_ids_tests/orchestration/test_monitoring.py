"""Bootstrap, then the daily partitions of labelled logs and drift signals."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from arf_ids.core.datasets import DatasetStore
from arf_ids.core.generator import DriftScenario
from arf_ids.core.logstore import LabelRecord, PredictionRecord
from arf_ids.defs.monitoring.assets import LABELED_LOGS_QUALITY, drift_signals_key, labeled_logs_key

STATIONARY = DriftScenario(name="none")


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def test_bootstrap_makes_the_first_model_production_once(bootstrapped):
    registry = bootstrapped.registry
    assert registry.version_for("production") == 1
    again = bootstrapped.run_job("bootstrap")
    assert again.success
    assert registry.version_for("production") == 1, "a second base model must not replace production"
    assert len(registry.versions()) == 2
    event = bootstrapped.instance.get_latest_materialization_event(dg.AssetKey("base_model"))
    assert event.asset_materialization.metadata["became_production"].value is False
    # a majority-class model scores about 0.12 macro-F1 on these 7 classes
    assert event.asset_materialization.metadata["holdout_macro_f1"].value > 0.5


def test_daily_partition_writes_labelled_logs_and_drift_signals(bootstrapped):
    bootstrapped.replay(800, STATIONARY)
    day = today()
    result = bootstrapped.run_job("daily_monitoring", partition_key=day)
    assert result.success
    store = DatasetStore.local(bootstrapped.settings.dataset_root)
    frame = store.read_frame(labeled_logs_key(day))
    assert len(frame) == 800
    assert set(frame["label"]) <= set(bootstrapped.registry.load("production").bundle.classes)
    checks = result.get_asset_check_evaluations()
    assert [c.check_name for c in checks] == [LABELED_LOGS_QUALITY] and checks[0].passed
    signal = store.read_json(drift_signals_key(day))
    assert signal["n_samples"] == 800 and signal["drift"] is False


def test_quality_check_fails_on_unknown_labels(bootstrapped):
    bootstrapped.replay(300, STATIONARY, prefix="q")
    now = datetime.now(UTC)
    # a label outside the vocabulary reaches the log only if written without a vocabulary
    bootstrapped.log_store.write_labels([LabelRecord(flow_id="orphan", true_label="Teleport", labelled_at=now)])

    features = dict.fromkeys(bootstrapped.registry.load("production").bundle.schema.features, 1.0)
    bootstrapped.log_store.write_predictions([PredictionRecord("orphan", now, features, "BENIGN", 0.9, 6, "1")])
    result = bootstrapped.run_job("daily_monitoring", partition_key=today())
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed
    assert check.metadata["rows_unknown_label"].value == 1


def test_backfill_of_a_date_range_runs_as_one_run(bootstrapped):
    bootstrapped.replay(200, STATIONARY, prefix="b")
    start = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d")
    end = today()
    result = bootstrapped.run_job(
        "daily_monitoring",
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
        run_config={"ops": {"drift_signals": {"config": {"delta": 0.01}}}},
    )
    assert result.success
    store = DatasetStore.local(bootstrapped.settings.dataset_root)
    sizes = [len(store.read_frame(labeled_logs_key(d))) for d in (start, end)]
    assert sizes == [0, 200]
    assert store.read_json(drift_signals_key(end))["config"]["delta"] == 0.01
