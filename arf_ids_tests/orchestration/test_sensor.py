"""drift_sensor against a real instance: one request per drift, skips that say why."""

import json

import dagster as dg

from arf_ids.core.generator import DriftScenario
from arf_ids.defs.retraining.jobs import RETRAIN_TAG
from arf_ids.defs.retraining.sensors import DRIFT_AT_TAG, TRIGGER_TAG

from .conftest import DRIFT


def tick(platform, cursor=None):
    sensor = platform.definitions.resolve_sensor_def("drift_sensor")
    context = dg.build_sensor_context(
        instance=platform.instance, cursor=cursor, definitions=platform.definitions
    )
    return sensor(context), context


def add_retrain_run(platform, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    job = platform.definitions.resolve_job_def("retrain")
    run = platform.instance.create_run_for_job(job_def=job, tags={RETRAIN_TAG: "retrain"}, status=status)
    return run


def test_confirmed_drift_requests_one_run_keyed_by_the_drift(bootstrapped):
    bootstrapped.replay(4000, DRIFT)
    result, _ = tick(bootstrapped)
    assert isinstance(result, dg.SensorResult), result
    [request] = result.run_requests
    assert request.run_key == f"drift-{request.tags[DRIFT_AT_TAG]}"
    assert request.tags[TRIGGER_TAG] == "drift_sensor"
    assert float(request.tags["arf_ids/error_rate_after"]) > float(request.tags["arf_ids/error_rate_before"])
    since = request.run_config["ops"]["drift_samples"]["config"]["since"]
    assert since == request.tags[DRIFT_AT_TAG]

    again, _ = tick(bootstrapped, cursor=result.cursor)
    assert isinstance(again, dg.SkipReason), "the same drift must not be requested twice"
    assert json.loads(result.cursor)["run_key"] == request.run_key


def test_stationary_traffic_skips_with_the_reason(bootstrapped):
    bootstrapped.replay(2500, DriftScenario(name="none"))
    result, _ = tick(bootstrapped)
    assert isinstance(result, dg.SkipReason)
    assert "no confirmed negative drift in 2500 labelled predictions" in result.skip_message


def test_too_few_labels_skip(bootstrapped):
    bootstrapped.replay(50, DriftScenario(name="none"))
    result, _ = tick(bootstrapped)
    assert isinstance(result, dg.SkipReason) and "50 labelled predictions" in result.skip_message


def test_queued_retrain_blocks_a_second_one(bootstrapped):
    bootstrapped.replay(4000, DRIFT)
    run = add_retrain_run(bootstrapped, dg.DagsterRunStatus.QUEUED)
    result, _ = tick(bootstrapped)
    assert isinstance(result, dg.SkipReason)
    assert run.run_id in result.skip_message and "QUEUED" in result.skip_message


def test_cooldown_after_a_finished_retrain_survives_a_fresh_sensor(bootstrapped):
    bootstrapped.replay(4000, DRIFT)
    add_retrain_run(bootstrapped, dg.DagsterRunStatus.SUCCESS)
    result, _ = tick(bootstrapped)  # a new context with no cursor: the cooldown comes from the run history
    assert isinstance(result, dg.SkipReason) and result.skip_message.startswith("cooldown")
