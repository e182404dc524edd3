"""The retrain lineage against a real SQLite MLflow registry: production moves only through the gate."""

import dagster as dg

from arf_ids.core.datasets import DatasetStore
from arf_ids.defs.retraining.assets import CANDIDATE

from .conftest import DRIFT


def retrain(platform, since: str):
    return platform.run_job("retrain", run_config={"ops": {"drift_samples": {"config": {"since": since}}}})


def drift_onset(platform) -> str:
    labelled = platform.log_store.labelled_frame()
    return labelled["predicted_at"].iloc[DRIFT.onset_flow].isoformat()


def test_candidate_that_beats_production_is_promoted(bootstrapped):
    bootstrapped.replay(5000, DRIFT)
    result = retrain(bootstrapped, drift_onset(bootstrapped))
    assert result.success
    [gate] = result.get_asset_check_evaluations()
    assert gate.check_name == "promotion_gate" and gate.passed
    registry = bootstrapped.registry
    assert registry.version_for("candidate") == 2
    assert registry.version_for("production") == 2
    assert registry.production_history()[-2:] == [1, 2]
    promoted = bootstrapped.instance.get_latest_materialization_event(dg.AssetKey("promoted_model"))
    assert promoted.asset_materialization.metadata["previous_version"].value == 1
    candidate = DatasetStore.local(bootstrapped.settings.dataset_root).read_json(CANDIDATE)
    assert candidate["decision"]["f1_gain"] > 0 and candidate["decision"]["kappa_gain"] > 0


def test_failing_gate_blocks_promotion_and_production_stays(bootstrapped, monkeypatch):
    bootstrapped.replay(5000, DRIFT)
    monkeypatch.setenv("ARF_IDS_GATE__MAX_FORGETTING", "-1.0")  # demand a base gain no model can reach
    result = retrain(bootstrapped, drift_onset(bootstrapped))
    [gate] = result.get_asset_check_evaluations()
    assert not gate.passed
    assert bootstrapped.registry.version_for("production") == 1
    assert bootstrapped.registry.version_for("candidate") == 2
    assert bootstrapped.instance.get_latest_materialization_event(dg.AssetKey("promoted_model")) is None
    planned = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "candidate_model" in planned and "promoted_model" not in planned


def test_no_labelled_flows_fails_the_run_and_production_stays(bootstrapped):
    result = retrain(bootstrapped, "2030-01-01T00:00:00+00:00")
    assert not result.success
    assert bootstrapped.registry.version_for("production") == 1


def test_operator_jobs_promote_a_version_and_roll_back(bootstrapped):
    bootstrapped.run_job("bootstrap")  # version 2 exists, production still 1
    registry = bootstrapped.registry
    promote = bootstrapped.run_job(
        "promote_version_job", run_config={"ops": {"promote_version": {"config": {"version": 2}}}}
    )
    assert promote.success and registry.version_for("production") == 2
    assert bootstrapped.run_job("rollback_job").success
    assert registry.version_for("production") == 1
