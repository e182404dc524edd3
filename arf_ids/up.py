"""``arf-ids up``: the whole stack for a person to watch, fed with traffic that drifts now and then.

The Dagster UI, the service's dashboard and ``/metrics`` stay up until Ctrl-C, while
generated traffic goes through ``/predict`` with its true labels following on
``/label/batch``. The traffic comes in episodes: calm base traffic, then one of the
generator's drift scenarios in turn, so the drift sensor, the retrain lineage, the gate
and the service's hot swap can be watched as they happen.

>>> episodes = live_traffic(TrafficPlan(calm_flows=100, drifted_flows=50), seed=1)
>>> first = next(episodes)
>>> first.scenario.name, len(first.flows), bool(first.flows["drifted"].iloc[:100].any())
('attack_variant', 150, False)
>>> [next(episodes).scenario.name for _ in range(3)]
['novel_attack', 'benign_shift', 'attack_variant']
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from arf_ids.cli import bootstrap, prepare_dagster_home
from arf_ids.core.generator import DriftScenario, TrafficGenerator
from arf_ids.replay import ReplayConfig
from arf_ids.serving.client import HttpReplayer
from arf_ids.settings import Settings
from arf_ids.stack import local_stack

#: Sensor settings that let a person see a retrain within minutes (each can be overridden by its variable).
WATCH_SENSOR_ENV = {
    "ARF_IDS_SENSOR__INTERVAL_SECONDS": "10",
    "ARF_IDS_SENSOR__COOLDOWN_MINUTES": "5",
    "ARF_IDS_SENSOR__LOOKBACK_HOURS": "1",
}


class TrafficPlan(BaseModel):
    """The live traffic of ``arf-ids up``."""

    model_config = ConfigDict(frozen=True)

    rate: float = Field(default=100.0, gt=0, description="flows per second")
    calm_flows: int = Field(default=12_000, ge=0, description="stationary flows before each drift")
    drifted_flows: int = Field(default=24_000, gt=0, description="flows of each drift episode")
    drift_share: float = Field(default=0.3, gt=0, le=1)
    label_delay: int = Field(default=100, ge=0)
    scenarios: tuple[str, ...] = ("attack_variant", "novel_attack", "benign_shift")


@dataclass(frozen=True)
class Episode:
    """Calm traffic, then a drift from flow ``scenario.onset_flow`` of ``flows`` on."""

    number: int
    scenario: DriftScenario
    flows: pd.DataFrame


def live_traffic(plan: TrafficPlan, *, seed: int) -> Iterator[Episode]:
    """Endless episodes, the scenarios in turn, from one seeded generator."""
    generator = TrafficGenerator(seed=seed)
    for number, name in enumerate(itertools.cycle(plan.scenarios), start=1):
        scenario = DriftScenario(name=name, onset_flow=plan.calm_flows, drift_share=plan.drift_share)
        yield Episode(number, scenario, generator.stream(plan.calm_flows + plan.drifted_flows, scenario))


def run_up(
    settings: Settings,
    *,
    dagster_port: int = 3000,
    service_port: int | None = None,
    plan: TrafficPlan | None = None,
    episodes: int | None = None,
) -> int:
    """Start the stack, replay ``episodes`` episodes (None: until Ctrl-C), stop everything."""
    plan = plan or TrafficPlan()
    for name, value in WATCH_SENSOR_ENV.items():
        os.environ.setdefault(name, value)
    os.environ["ARF_IDS_HOME"] = str(settings.home)
    watch_settings = Settings()
    prepare_dagster_home(watch_settings)
    bootstrap(watch_settings)
    prefix = "live-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    port = service_port or watch_settings.service.port
    with local_stack(dict(os.environ), dagster_port=dagster_port, service_port=port) as service:
        replayer = HttpReplayer(
            service.url,
            ReplayConfig(label_delay=plan.label_delay, rate=plan.rate, flow_id_prefix=prefix),
            api_key=watch_settings.service.api_key,
        )
        print("traffic: calm, then a drift, in turn; Ctrl-C stops everything")
        try:
            for episode in itertools.islice(live_traffic(plan, seed=watch_settings.seed), episodes):
                replayer.run(episode.flows, description=f"episode {episode.number}: {episode.scenario.name}")
                progress = replayer.progress
                print(
                    f"episode {episode.number} ({episode.scenario.name}) done: {progress.flows} flows, "
                    f"model version {progress.model_version}, {progress.reloads} swaps, {progress.errors} errors"
                )
            replayer.flush_labels()
        except KeyboardInterrupt:
            print("stopping")
    return 0 if replayer.progress.errors == 0 else 1
