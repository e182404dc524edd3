"""The real Dagster daemon evaluates drift_sensor and runs the retrain it requests to success."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from arf_ids.core.generator import TrafficGenerator
from arf_ids.core.logstore import LogStore
from arf_ids.core.registry import ModelRegistry
from arf_ids.definitions import defs
from arf_ids.defs.retraining.sensors import TRIGGER_TAG
from arf_ids.replay import ReplayConfig, Replayer
from arf_ids.settings import Settings

from .conftest import DRIFT, SMALL_PLATFORM_ENV

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def daemon_home(tmp_path, monkeypatch):
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        **SMALL_PLATFORM_ENV,
        "ARF_IDS_HOME": str(tmp_path / "state"),
        "DAGSTER_HOME": str(dagster_home),
        "ARF_IDS_SENSOR__INTERVAL_SECONDS": "2",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_daemon_launches_the_sensor_run_and_it_promotes(daemon_home):
    settings = Settings()
    with dg.DagsterInstance.get() as instance:
        assert defs().resolve_job_def("bootstrap").execute_in_process(instance=instance).success
        registry = ModelRegistry(settings.registry_config())
        Replayer(registry, LogStore(settings.log_store_url), ReplayConfig(label_delay=0)).run(
            TrafficGenerator(seed=11).stream(5000, DRIFT), show_progress=False
        )
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(PROJECT_ROOT / "workspace.yaml")],
            cwd=PROJECT_ROOT,
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 300
            run = None
            while time.monotonic() < deadline:
                runs = instance.get_runs(filters=dg.RunsFilter(tags={TRIGGER_TAG: "drift_sensor"}))
                run = runs[0] if runs else None
                if run is not None and run.is_finished:
                    break
                time.sleep(2)
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=30)
        assert run is not None, "the daemon's sensor never requested a retrain"
        assert run.status == dg.DagsterRunStatus.SUCCESS, instance.all_logs(run.run_id)[-5:]
        assert len(instance.get_runs(filters=dg.RunsFilter(tags={TRIGGER_TAG: "drift_sensor"}))) == 1
        assert registry.version_for("production") == 2
