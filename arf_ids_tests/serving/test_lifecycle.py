"""Model lifecycle against a real service: hot swap under load, refusal of a corrupt artifact,
registry outage while polling, and the shutdown flush. The tests run in order on one service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import httpx
import pytest
from mlflow import MlflowClient

from arf_ids.core.registry import ARTIFACT_DIR, ARTIFACT_FILE
from arf_ids.core.schema import DEFAULT_SCHEMA
from arf_ids.serving.process import ServiceProcess
from arf_ids_tests.serving.support import (
    Answer,
    RegistryServer,
    feature_maps,
    flows_frame,
    logged_flow_ids,
    metric,
    metric_samples,
    predict_load,
    service_env,
    start_service,
    wait_for,
)

MODEL = "lifecycle"


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory, registry_server: RegistryServer) -> Iterator[ServiceProcess]:
    """The module's service, up but possibly without a model yet."""
    running = start_service(service_env(tmp_path_factory.mktemp("lifecycle"), registry_server.url, MODEL,
                                        log__flush_seconds="0.2"), ready=False)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def service(started: ServiceProcess, registry_server: RegistryServer, bundles) -> ServiceProcess:
    """The module's service serving version 1."""
    if registry_server.writer(MODEL).version_for("production") is None:
        registry_server.publish(MODEL, bundles[0], promote=True)
    started.wait_ready()
    return started


def status(service: ServiceProcess) -> dict[str, object]:
    return httpx.get(f"{service.url}/", timeout=30).json()


def test_not_ready_until_a_production_model_exists(
    started: ServiceProcess, registry_server: RegistryServer, bundles
) -> None:
    with httpx.Client(base_url=started.url, timeout=30) as http:
        assert http.get("/readyz").status_code == 503
        assert http.get("/healthz").status_code == 200
        now = wait_for(lambda: (s := http.get("/").json())["registry"]["state"] == "reachable" and s or None,
                       timeout=60, what="the registry answering")  # it may still be starting
        assert (now["status"], now["model_version"], now["registry"]["production_version"]) == ("loading", None, None)
        assert http.get("/readyz").status_code == 503
        flow = feature_maps(flows_frame(1, seed=300))[0]
        refused = http.post("/predict", json={"flow_id": "unready-1", "features": flow})
        assert refused.status_code == 503 and "no model" in refused.json()["error"]
        registry_server.publish(MODEL, bundles[0], promote=True)
        started.wait_ready(timeout=60)
        assert http.post("/predict", json={"flow_id": "ready-1", "features": flow}).json()["model_version"] == 1


def test_hot_swap_under_concurrent_load(service: ServiceProcess, registry_server: RegistryServer, bundles) -> None:
    frame = flows_frame(300, seed=301)
    flows = feature_maps(frame)
    matrix = DEFAULT_SCHEMA.frame_matrix(frame)
    expected = {1: bundles[0].predict_matrix(matrix), 2: bundles[1].predict_matrix(matrix)}

    async def run() -> tuple[list[Answer], list[dict[str, object]]]:
        stop = asyncio.Event()
        updates: list[dict[str, object]] = []
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{service.url}/ws") as feed:

            async def watch() -> None:
                async for message in feed:
                    body = json.loads(message.data)
                    if body["type"] == "model_updated":
                        updates.append(body)

            watching = asyncio.create_task(watch())
            load = asyncio.create_task(predict_load(service.url, flows, clients=16, stop=stop, prefix="swap"))
            await asyncio.sleep(1.5)
            await asyncio.to_thread(registry_server.publish, MODEL, bundles[1], promote=True)
            async with asyncio.timeout(60):
                while not updates:
                    await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # keep the load on after the swap
            stop.set()
            answers = await load
            watching.cancel()
        return answers, updates

    answers, updates = asyncio.run(run())
    assert [a.status for a in answers if a.status != 200] == []
    versions = [a.body["model_version"] for a in answers]
    assert set(versions) == {1, 2} and versions.count(2) >= 50
    for answer in answers:  # each answer is exactly what one whole model says: never a mix of two
        batch = expected[answer.body["model_version"]]
        assert answer.body["prediction"] == batch.labels[answer.flow]
        assert answer.body["trees_used"] == batch.trees_used[answer.flow]
        assert answer.body["confidence"] == pytest.approx(batch.confidences[answer.flow], abs=1e-12)
    assert updates == [{"type": "model_updated", "version": 2, "reload_count": 1}]
    now = status(service)
    assert (now["model_version"], now["reload_count"], now["model_source"]) == (2, 1, "registry")
    samples = metric_samples(service.url)
    assert (metric(samples, "model_version"), metric(samples, "model_reload_count")) == (2, 1)


def test_a_corrupt_artifact_is_refused_and_the_old_model_keeps_serving(
    service: ServiceProcess, registry_server: RegistryServer, bundles
) -> None:
    info = registry_server.publish(MODEL, bundles[2], promote=False)
    artifact_uri = MlflowClient(tracking_uri=registry_server.store_uri).get_run(info.run_id).info.artifact_uri
    artifact = Path(urlparse(artifact_uri).path) / ARTIFACT_DIR / ARTIFACT_FILE
    damaged = bytearray(artifact.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    artifact.write_bytes(bytes(damaged))
    registry_server.writer(MODEL).promote(info.version, reason="a damaged artifact")

    refused = wait_for(lambda: status(service)["registry"]["refused_versions"] or None, what="the refusal")
    assert list(refused) == [str(info.version)] and "sha256" in refused[str(info.version)]
    now = status(service)
    assert (now["model_version"], now["reload_count"]) == (2, 1)
    flow = feature_maps(flows_frame(1, seed=302))[0]
    answer = httpx.post(f"{service.url}/predict", json={"flow_id": "corrupt-after", "features": flow}).json()
    assert answer["model_version"] == 2 and answer["prediction"] == bundles[1].predict_one(flow).label
    assert metric(metric_samples(service.url), "model_load_refusals_total") == 1


def test_registry_down_while_polling_keeps_serving_and_retries(
    service: ServiceProcess, registry_server: RegistryServer
) -> None:
    registry_server.down()
    try:
        wait_for(lambda: status(service)["registry"]["state"] == "unreachable", timeout=30, what="unreachable")
        flows = feature_maps(flows_frame(20, seed=303))
        with httpx.Client(base_url=service.url, timeout=30) as http:
            answers = [http.post("/predict", json={"flow_id": f"down-{i}", "features": f}) for i, f in enumerate(flows)]
        assert {(a.status_code, a.json()["model_version"]) for a in answers} == {(200, 2)}
        registry_server.writer(MODEL).promote(1, reason="rollback while the service cannot see the registry")
        now = status(service)
        assert (now["model_version"], now["status"], now["registry"]["last_error"] is not None) == (2, "ready", True)
    finally:
        registry_server.up()
    back = wait_for(lambda: (s := status(service))["model_version"] == 1 and s or None, timeout=30, what="v1 again")
    assert (back["reload_count"], back["registry"]["state"], back["registry"]["last_error"]) == (2, "reachable", None)


def test_shutdown_flushes_every_answered_prediction(service: ServiceProcess) -> None:
    flows = feature_maps(flows_frame(100, seed=304))

    async def run() -> list[Answer]:
        stop = asyncio.Event()
        load = asyncio.create_task(predict_load(service.url, flows, clients=8, stop=stop, prefix="term"))
        await asyncio.sleep(2)
        code = await asyncio.to_thread(service.stop)  # SIGTERM under load
        stop.set()
        assert code is not None
        return await load

    answers = asyncio.run(run())
    answered = {a.flow_id for a in answers if a.status == 200}
    assert len(answered) > 100
    home = Path(service.env["ARF_IDS_HOME"])
    assert answered - logged_flow_ids(home, "predictions", "term-") == set()
