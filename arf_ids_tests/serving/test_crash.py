"""A crash under load loses no more than the README says; a restart without the registry serves the local copy.

README: a crash loses exactly the predictions and labels whose commit had not finished: at
most those answered in the last ``flush_seconds`` plus ``RECORD_DELAY_SECONDS`` (10 ms) plus
one commit before it (``GET /`` reports the longest commit so far as
``logs.predictions.max_commit_seconds``); everything answered earlier is in the log.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from arf_ids.serving.process import ServiceProcess, free_port
from arf_ids.serving.scoring import RECORD_DELAY_SECONDS
from arf_ids_tests.serving.support import (
    Answer,
    RegistryServer,
    feature_maps,
    flows_frame,
    logged_flow_ids,
    predict_load,
    service_env,
    start_service,
)

MODEL = "crash"
FLUSH_SECONDS = 0.5  # the default


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, registry_server: RegistryServer, bundles) -> Path:
    registry_server.publish(MODEL, bundles[0], promote=True)
    return tmp_path_factory.mktemp("crash")


def test_sigkill_under_load_loses_only_the_last_flush_window(home: Path, registry_server: RegistryServer) -> None:
    service = start_service(service_env(home, registry_server.url, MODEL, log__flush_seconds=str(FLUSH_SECONDS)))
    flows = feature_maps(flows_frame(100, seed=401))

    async def run() -> tuple[list[Answer], float, float]:
        stop = asyncio.Event()
        load = asyncio.create_task(predict_load(service.url, flows, clients=8, stop=stop, prefix="crash"))
        max_commit = 0.0
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as http:
            for _ in range(15):  # 3 s of load, watching the writer's longest commit until just before the kill
                await asyncio.sleep(0.2)
                max_commit = (await http.get("/")).json()["logs"]["predictions"]["max_commit_seconds"]
        killed_at = time.monotonic()
        await asyncio.to_thread(service.kill)  # SIGKILL the whole process group, under load
        stop.set()
        return await load, killed_at, max_commit

    try:
        answers, killed_at, max_commit = asyncio.run(run())
    finally:
        service.kill()
    answered = {a.flow_id: a.received_at for a in answers if a.status == 200}
    logged = logged_flow_ids(home, "predictions", "crash-")
    lost = set(answered) - logged
    ages = sorted(killed_at - answered[flow_id] for flow_id in lost)
    print(f"\nSIGKILL: {len(answered)} answered, {len(logged)} logged, {len(lost)} lost; lost answered "
          f"{ages[0] if ages else 0:.3f}-{ages[-1] if ages else 0:.3f}s before the kill; max commit {max_commit:.4f}s")
    assert len(answered) > 500 and max_commit > 0
    assert all(age < FLUSH_SECONDS + RECORD_DELAY_SECONDS + max_commit for age in ages), (ages[-5:], max_commit)
    assert logged <= {a.flow_id for a in answers}  # nothing logged that was never sent


def test_a_start_with_the_registry_down_serves_the_verified_local_copy(home: Path, bundles) -> None:
    dead_registry = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    service: ServiceProcess = start_service(service_env(home, dead_registry, MODEL))
    try:
        status = httpx.get(f"{service.url}/", timeout=30).json()
        assert (status["status"], status["model_version"], status["model_source"]) == ("ready", 1, "local copy")
        assert status["registry"]["state"] == "unreachable" and status["registry"]["last_error"]
        flow = feature_maps(flows_frame(1, seed=402))[0]
        answer = httpx.post(f"{service.url}/predict", json={"flow_id": "local-copy-1", "features": flow}).json()
        assert (answer["model_version"], answer["prediction"]) == (1, bundles[0].predict_one(flow).label)
    finally:
        service.stop()
    assert "serving version 1 from the local copy" in service.log_path.read_text(errors="replace")
