"""The ``arf-ids`` command.

arf-ids bootstrap                 # base data set and first production model
arf-ids replay --scenario attack_variant --flows 20000 --onset 5000
arf-ids status
arf-ids promote 3 | arf-ids rollback
arf-ids demo                      # the whole loop, with the Dagster daemon and webserver
arf-ids up                        # the whole stack to watch, with traffic that drifts now and then
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from arf_ids.core.errors import ArfIdsError
from arf_ids.core.registry import ModelRegistry
from arf_ids.settings import Settings
from arf_ids.stack import PROJECT_ROOT


def prepare_dagster_home(settings: Settings) -> Path:
    """Create ``DAGSTER_HOME`` under the state directory with the project's dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def bootstrap(settings: Settings, *, force: bool = False) -> int:
    """Materialise ``base_dataset`` and ``base_model`` on the instance in DAGSTER_HOME."""
    import dagster as dg

    from arf_ids.definitions import defs

    registry = ModelRegistry(settings.registry_config())
    current = registry.version_for("production")
    if current is not None and not force:
        print(f"production is already version {current}; nothing to do (use --force to retrain)")
        return current
    prepare_dagster_home(settings)
    with dg.DagsterInstance.get() as instance:
        result = defs().resolve_job_def("bootstrap").execute_in_process(instance=instance)
    if not result.success:
        raise ArfIdsError("bootstrap run failed; see the Dagster run log")
    version = registry.version_for("production")
    print(f"bootstrap done: production is version {version}")
    return int(version or 0)


def replay(settings: Settings, args: argparse.Namespace) -> None:
    from arf_ids.core.generator import DriftScenario, TrafficGenerator
    from arf_ids.core.logstore import LogStore
    from arf_ids.core.readers import read_flows
    from arf_ids.replay import ReplayConfig, Replayer

    if args.data:
        flows = read_flows(args.data, args.format).frame.head(args.flows)
    else:
        scenario = DriftScenario(name=args.scenario, onset_flow=args.onset, drift_share=args.drift_share)
        flows = TrafficGenerator(seed=args.seed).stream(args.flows, scenario)
    config = ReplayConfig(label_delay=args.label_delay, rate=args.rate, flow_id_prefix=args.prefix)
    replayer = Replayer(ModelRegistry(settings.registry_config()), LogStore(settings.log_store_url), config)
    replayer.run(flows)
    replayer.flush_labels()
    progress = replayer.progress
    print(
        f"replayed {progress.flows} flows, {progress.labels} labels in {progress.seconds:.1f}s "
        f"(production version {progress.model_version}, {progress.reloads} reloads)"
    )


def status(settings: Settings) -> dict[str, object]:
    import dagster as dg

    from arf_ids.core.logstore import LogStore
    from arf_ids.defs.retraining.sensors import DRIFT_AT_TAG, TRIGGER_TAG

    registry = ModelRegistry(settings.registry_config())
    report: dict[str, object] = {
        "production_version": registry.version_for("production"),
        "candidate_version": registry.version_for("candidate"),
        "production_history": registry.production_history(),
        "log": LogStore(settings.log_store_url).counts(),
    }
    prepare_dagster_home(settings)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={TRIGGER_TAG: "drift_sensor"}), limit=1)
        if runs:
            run = runs[0]
            report["last_drift_at"] = run.tags.get(DRIFT_AT_TAG)
            report["last_retrain"] = {"run_id": run.run_id, "status": run.status.value}
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arf-ids", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    boot = commands.add_parser("bootstrap", help="train the first model from base_dataset and make it production")
    boot.add_argument("--force", action="store_true", help="retrain even when production exists")

    rep = commands.add_parser("replay", help="stream flows through the production model into the log")
    rep.add_argument("--flows", type=int, default=10_000)
    rep.add_argument("--scenario", default="none", choices=["none", "attack_variant", "novel_attack", "benign_shift"])
    rep.add_argument("--onset", type=int, default=5_000, help="flow index where the drift starts")
    rep.add_argument("--drift-share", type=float, default=0.3)
    rep.add_argument("--data", help="replay a data file instead of the generator")
    rep.add_argument("--format", default="cicflowmeter", choices=["cicflowmeter", "nsl-kdd", "unsw-nb15"])
    rep.add_argument("--label-delay", type=int, default=200, help="labels follow their flow by this many flows")
    rep.add_argument("--rate", type=float, default=0.0, help="flows per second (0: unlimited)")
    rep.add_argument("--seed", type=int, default=7)
    rep.add_argument("--prefix", default="replay", help="flow_id prefix")

    commands.add_parser("status", help="production version, last drift, last retrain")
    prom = commands.add_parser("promote", help="move the production alias to VERSION")
    prom.add_argument("version", type=int)
    prom.add_argument("--reason", default="manual promotion (arf-ids promote)")
    commands.add_parser("rollback", help="move production back to the previous version")

    demo = commands.add_parser("demo", help="the whole loop on embedded defaults")
    demo.add_argument("--port", type=int, default=3000, help="Dagster webserver port")
    demo.add_argument("--service-port", type=int, help="service port (default: ARF_IDS_SERVICE__PORT, 3001)")

    up = commands.add_parser("up", help="Dagster UI, service and dashboard, with drifting traffic until Ctrl-C")
    up.add_argument("--port", type=int, default=3000, help="Dagster webserver port")
    up.add_argument("--service-port", type=int, help="service port (default: ARF_IDS_SERVICE__PORT, 3001)")
    up.add_argument("--rate", type=float, default=100.0, help="flows per second")
    up.add_argument("--episodes", type=int, help="stop after this many calm-then-drift episodes (default: never)")

    from arf_ids.evaluate import add_arguments as add_evaluate_arguments

    evaluate = commands.add_parser("evaluate", help="detection quality of a protocol on a data set, with baselines")
    add_evaluate_arguments(evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    try:
        if args.command == "bootstrap":
            bootstrap(settings, force=args.force)
        elif args.command == "replay":
            replay(settings, args)
        elif args.command == "status":
            print(json.dumps(status(settings), indent=2, default=str))
        elif args.command == "promote":
            previous = ModelRegistry(settings.registry_config()).promote(args.version, reason=args.reason)
            print(f"production: {previous} → {args.version}")
        elif args.command == "rollback":
            print(f"production rolled back to version {ModelRegistry(settings.registry_config()).rollback()}")
        elif args.command == "evaluate":
            from arf_ids.evaluate import run_command

            return run_command(args, argv)
        elif args.command == "demo":
            from arf_ids.demo import run_demo

            return run_demo(settings, webserver_port=args.port, service_port=args.service_port)
        elif args.command == "up":
            from arf_ids.up import TrafficPlan, run_up

            return run_up(
                settings, dagster_port=args.port, service_port=args.service_port,
                plan=TrafficPlan(rate=args.rate), episodes=args.episodes,
            )
    except ArfIdsError as error:
        print(f"arf-ids {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
