"""The base data set and the first production model (bootstrap)."""

import time

import dagster as dg
import pandas as pd

from arf_ids.core.evaluation import score
from arf_ids.core.generator import ALL_LABELS, TrafficGenerator
from arf_ids.core.lineage import LABEL, split_base, train_base_model
from arf_ids.core.readers import read_flows
from arf_ids.core.schema import DEFAULT_SCHEMA, FlowSchema
from arf_ids.defs.metadata import class_counts
from arf_ids.defs.resources import DatasetStoreResource, ModelRegistryResource
from arf_ids.settings import Settings

BASE_TRAIN = "base/train"
BASE_HOLDOUT = "base/holdout"
BASE_INFO = "base/info"


def load_base_frame(settings: Settings) -> tuple[pd.DataFrame, FlowSchema, list[str], str]:
    """The base flows, their schema, the label vocabulary and a description of the source."""
    base = settings.base
    if base.source == "file":
        if not base.path:
            raise dg.Failure("ARF_IDS_BASE__SOURCE=file needs ARF_IDS_BASE__PATH")
        flows = read_flows(base.path, base.format)
        return flows.frame, flows.schema, sorted(flows.frame[LABEL].unique()), f"file {base.path} ({base.format})"
    frame = TrafficGenerator(seed=settings.seed).sample(base.n_flows)
    return frame, DEFAULT_SCHEMA, list(ALL_LABELS), f"generator seed={settings.seed} n={base.n_flows}"


@dg.asset(
    group_name="bootstrap",
    kinds={"pandas", "parquet"},
    metadata={"storage": "datasets: base/train.parquet, base/holdout.parquet"},
)
def base_dataset(datasets: DatasetStoreResource) -> dg.MaterializeResult:
    """Base traffic the first model learns, with a stratified hold-out kept to test forgetting."""
    settings = Settings()
    frame, schema, classes, source = load_base_frame(settings)
    base = split_base(frame, holdout_fraction=settings.base.holdout_fraction, seed=settings.seed)
    store = datasets.store()
    store.write_frame(BASE_TRAIN, base.train)
    store.write_frame(BASE_HOLDOUT, base.holdout)
    store.write_json(BASE_INFO, {"features": list(schema.features), "classes": classes, "source": source})
    return dg.MaterializeResult(
        metadata={
            "source": source,
            "train_rows": len(base.train),
            "holdout_rows": len(base.holdout),
            "features": len(schema),
            "class_counts": class_counts(frame),
            "label_vocabulary": dg.MetadataValue.json(classes),
        }
    )


def read_base(datasets: DatasetStoreResource) -> tuple[pd.DataFrame, pd.DataFrame, FlowSchema, list[str]]:
    """Base train and hold-out frames, the schema and the label vocabulary written by ``base_dataset``."""
    store = datasets.store()
    info = store.read_json(BASE_INFO)
    schema = FlowSchema(features=tuple(info["features"]))
    return store.read_frame(BASE_TRAIN), store.read_frame(BASE_HOLDOUT), schema, list(info["classes"])


@dg.asset(deps=[base_dataset], group_name="bootstrap", kinds={"river", "mlflow"})
def base_model(
    context: dg.AssetExecutionContext, datasets: DatasetStoreResource, model_registry: ModelRegistryResource
) -> dg.MaterializeResult:
    """The first ARF, learned from the base data; it becomes `production` when none exists."""
    settings = Settings()
    train, holdout, schema, classes = read_base(datasets)
    started = time.perf_counter()
    bundle = train_base_model(train, schema=schema, classes=classes, config=settings.arf)
    seconds = time.perf_counter() - started
    holdout_scores = score(holdout[LABEL].to_numpy(), bundle.predict_labels(schema.frame_matrix(holdout)))
    registry = model_registry.registry()
    became_production = registry.version_for("production") is None
    info = registry.register(
        bundle,
        metrics={
            "base_macro_f1": holdout_scores.macro_f1,
            "base_kappa": holdout_scores.kappa,
            "train_seconds": seconds,
        },
        params={**settings.arf.model_dump(), "trained_rows": len(train)},
        data={"base_train_rows": len(train), "base_holdout_rows": len(holdout), "dagster_run_id": context.run_id},
        run_name="base_model",
    )
    if became_production:
        registry.promote(info.version, reason="bootstrap: first model")
    context.log.info(f"registered version {info.version}; production={became_production}")
    return dg.MaterializeResult(
        metadata={
            "model_version": info.version,
            "mlflow_run_id": info.run_id,
            "became_production": became_production,
            "holdout_macro_f1": holdout_scores.macro_f1,
            "holdout_kappa": holdout_scores.kappa,
            "trained_rows": len(train),
            "train_seconds": seconds,
            "sha256": info.sha256,
        }
    )
