"""A real, isolated platform per test: state directory, Dagster instance, MLflow on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import pytest

from arf_ids.core.generator import DriftScenario, TrafficGenerator
from arf_ids.core.logstore import LogStore
from arf_ids.core.registry import ModelRegistry
from arf_ids.definitions import defs
from arf_ids.replay import ReplayConfig, Replayer
from arf_ids.settings import Settings

#: Small but real: enough base traffic for a useful ARF, fast enough for CI.
SMALL_PLATFORM_ENV = {
    "ARF_IDS_BASE__N_FLOWS": "6000",
    "ARF_IDS_ARF__N_MODELS": "6",
    "ARF_IDS_SENSOR__COOLDOWN_MINUTES": "30",
    "ARF_IDS_SENSOR__LOOKBACK_HOURS": "1",
}


@dataclass
class Platform:
    """Everything a test needs to drive the platform."""

    settings: Settings
    instance: dg.DagsterInstance
    definitions: dg.Definitions

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.settings.registry_config())

    @property
    def log_store(self) -> LogStore:
        return LogStore(self.settings.log_store_url)

    def run_job(self, name: str, **kwargs: object) -> dg.ExecuteInProcessResult:
        return self.definitions.resolve_job_def(name).execute_in_process(
            instance=self.instance, raise_on_error=False, **kwargs
        )

    def replay(self, n: int, scenario: DriftScenario, *, seed: int = 11, prefix: str = "t") -> Replayer:
        """Score ``n`` generated flows with production and log them with their labels."""
        replayer = Replayer(self.registry, self.log_store, ReplayConfig(label_delay=0, flow_id_prefix=prefix))
        replayer.run(TrafficGenerator(seed=seed).stream(n, scenario), show_progress=False)
        return replayer


@pytest.fixture
def platform(tmp_path, monkeypatch) -> Iterator[Platform]:
    """A fresh platform in ``tmp_path`` with its own Dagster instance (not bootstrapped)."""
    monkeypatch.setenv("ARF_IDS_HOME", str(tmp_path / "state"))
    for name, value in SMALL_PLATFORM_ENV.items():
        monkeypatch.setenv(name, value)
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        yield Platform(settings=Settings(), instance=instance, definitions=defs())


@pytest.fixture
def bootstrapped(platform: Platform) -> Platform:
    """A platform whose first model is trained and carries the production alias."""
    result = platform.run_job("bootstrap")
    assert result.success
    return platform


DRIFT = DriftScenario(name="attack_variant", onset_flow=1500, drift_share=0.4)
