"""drift_sensor against a real instance: one request per drift, skips that say why."""

import json

import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_run_id

from arf_ids.core.generator import DriftScenario
from arf_ids.defs.retraining.jobs import RETRAIN_TAG
from arf_ids.defs.retraining.sensors import DRIFT_AT_TAG, ONSET_TAG, TRIGGER_TAG

from .conftest import DRIFT


def tick(platform, cursor=None):
    sensor = platform.definitions.resolve_sensor_def("drift_sensor")
    with dg.build_sensor_context(
        instance=platform.instance, cursor=cursor, resources=platform.definitions.resources
    ) as context:
        return sensor(context)


def add_retrain_run(platform, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    """A retrain run as the daemon would have stored it (queued, or finished a moment ago)."""
    origin = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            code_location_origin=InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="arf_ids.definitions")),
            repository_name="__repository__",
        ),
        job_name="retrain",
    )
    run = dg.DagsterRun(
        job_name="retrain",
        run_id=make_new_run_id(),
        status=status,
        tags={RETRAIN_TAG: "retrain"},
        remote_job_origin=origin,
    )
    return platform.instance.add_run(run)


def test_confirmed_drift_requests_one_run_keyed_by_the_drift(bootstrapped):
    bootstrapped.replay(4000, DRIFT)
    result = tick(bootstrapped)
    assert isinstance(result, dg.SensorResult), result
    [request] = result.run_requests
    assert request.run_key == f"drift-{request.tags[DRIFT_AT_TAG]}"
    assert request.tags[TRIGGER_TAG] == "drift_sensor"
    assert float(request.tags["arf_ids/error_rate_after"]) > float(request.tags["arf_ids/error_rate_before"])
    since = request.run_config["ops"]["drift_samples"]["config"]["since"]
    assert since == request.tags[ONSET_TAG] and since <= request.tags[DRIFT_AT_TAG]

    again = tick(bootstrapped, cursor=result.cursor)
    assert isinstance(again, dg.SkipReason), "the same drift must not be requested twice"
    assert json.loads(result.cursor)["run_key"] == request.run_key


def test_stationary_traffic_skips_with_the_reason(bootstrapped):
    bootstrapped.replay(2500, DriftScenario(name="none"))
    result = tick(bootstrapped)
    assert isinstance(result, dg.SkipReason)
    assert "no confirmed negative drift in 2500 labelled predictions" in result.skip_message


def test_too_few_labels_skip(bootstrapped):
    bootstrapped.replay(50, DriftScenario(name="none"))
    result = tick(bootstrapped)
    assert isinstance(result, dg.SkipReason) and "50 labelled predictions" in result.skip_message


def test_queued_retrain_blocks_a_second_one(bootstrapped):
    bootstrapped.replay(4000, DRIFT)
    run = add_retrain_run(bootstrapped, dg.DagsterRunStatus.QUEUED)
    result = tick(bootstrapped)
    assert isinstance(result, dg.SkipReason)
    assert run.run_id in result.skip_message and "QUEUED" in result.skip_message


def test_cooldown_after_a_finished_retrain_survives_a_fresh_sensor(bootstrapped):
    bootstrapped.replay(4000, DRIFT)
    add_retrain_run(bootstrapped, dg.DagsterRunStatus.SUCCESS)
    result = tick(bootstrapped)  # a new context with no cursor: the cooldown comes from the run history
    assert isinstance(result, dg.SkipReason) and result.skip_message.startswith("cooldown")
