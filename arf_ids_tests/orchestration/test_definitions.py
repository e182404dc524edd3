"""The code location loads and holds the lineage the platform promises."""

import dagster as dg

from arf_ids.definitions import defs

LINEAGE = [
    "base_dataset",
    "labeled_logs",
    "drift_signals",
    "drift_samples",
    "merged_dataset",
    "smote_dataset",
    "candidate_model",
    "promoted_model",
]


def test_definitions_load_and_validate():
    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    graph = definitions.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert set(LINEAGE) <= keys


def test_retrain_lineage_is_one_connected_chain():
    graph = defs().resolve_asset_graph()
    upstream = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert upstream["drift_signals"] == {"labeled_logs"}
    assert {"labeled_logs", "drift_signals"} <= upstream["drift_samples"]
    assert {"drift_samples", "base_dataset"} <= upstream["merged_dataset"]
    assert upstream["smote_dataset"] == {"merged_dataset"}
    assert upstream["candidate_model"] == {"smote_dataset"}
    assert upstream["promoted_model"] == {"candidate_model"}


def test_gate_is_a_blocking_check_on_the_candidate():
    graph = defs().resolve_asset_graph()
    gate = [key for key in graph.asset_check_keys if key.name == "promotion_gate"]
    assert gate and gate[0].asset_key.to_user_string() == "candidate_model"
    assert graph.get_check_spec(gate[0]).blocking


def test_partitions_sensor_schedule_and_jobs():
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    for name in ("labeled_logs", "drift_signals"):
        partitions = graph.get(dg.AssetKey(name)).partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)
    assert definitions.resolve_sensor_def("drift_sensor").job_name == "retrain"
    assert definitions.resolve_schedule_def("nightly_drift_analysis").job_name == "daily_monitoring"
    for job in ("bootstrap", "retrain", "daily_monitoring", "promote_version_job", "rollback_job"):
        assert definitions.resolve_job_def(job) is not None
