"""``/predict``'s scorer in process: answers at once, logs each model's flows as its own chunk after the delay.

A real model holder, log writer and SQLite log store; the event loop is asyncio's.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from prometheus_client import CollectorRegistry

from arf_ids.core.logstore import LogStore
from arf_ids.core.model import ModelBundle
from arf_ids.serving.api import FlowIn
from arf_ids.serving.broadcast import Broadcaster
from arf_ids.serving.holder import ModelHolder, ServedModel
from arf_ids.serving.logwriter import BatchedWriter, LogWriterConfig
from arf_ids.serving.metrics import ServiceMetrics
from arf_ids.serving.scoring import RECORD_DELAY_SECONDS, FlowScorer
from arf_ids_tests.serving.support import feature_maps, flows_frame


def _served(bundle: ModelBundle, version: int) -> ServedModel:
    return ServedModel.of(bundle, version=version, sha256=f"v{version}", run_id=f"r{version}", source="registry")


def test_a_swap_between_answers_logs_each_models_flows_with_its_version(
    tmp_path: Path, bundles: tuple[ModelBundle, ModelBundle, ModelBundle]
) -> None:
    store = LogStore(f"sqlite:///{tmp_path / 'logs.db'}")
    store.create_schema()
    writer = BatchedWriter("predictions", store.write_prediction_columns, LogWriterConfig(flush_seconds=0.05))
    writer.start()
    metrics = ServiceMetrics(CollectorRegistry())
    holder = ModelHolder()
    scorer = FlowScorer(holder, writer, BatchedWriter("labels", len, LogWriterConfig()), Broadcaster(queue_size=4),
                        metrics, max_batch=10)
    flows = [FlowIn(flow_id=f"s-{i}", features=features) for i, features in enumerate(feature_maps(flows_frame(8, 5)))]
    first, second = _served(bundles[0], 1), _served(bundles[1], 2)

    async def answer() -> list[dict[str, object]]:
        holder.swap(first)
        answers = [json.loads(scorer.predict_json(flow)) for flow in flows[:5]]
        holder.swap(second)
        answers += [json.loads(scorer.predict_json(flow)) for flow in flows[5:]]
        assert writer.stats().submitted == 5  # the swap recorded the first model's flows; the rest wait
        await asyncio.sleep(RECORD_DELAY_SECONDS * 5)
        assert writer.stats().submitted == 8
        return answers

    answers = asyncio.run(answer())
    writer.close()
    store.close()
    with sqlite3.connect(tmp_path / "logs.db") as connection:
        logged = dict(connection.execute("SELECT flow_id, model_version FROM predictions").fetchall())
    assert logged == {f"s-{i}": "1" if i < 5 else "2" for i in range(8)}
    assert [a["model_version"] for a in answers] == [1] * 5 + [2] * 3
    for flow, answer, model in zip(flows, answers, [first] * 5 + [second] * 3, strict=True):
        vector = model.bundle.schema.vector(flow.features)
        best, confidence, trees_used = model.compiled.vote_one(tuple(vector.tolist()))
        assert (answer["prediction"], answer["confidence"], answer["trees_used"]) == (
            model.compiled.classes[best], confidence, trees_used)
    metrics.flush()
    counted = {sample.labels["label"]: sample.value for family in metrics.registry.collect()
               for sample in family.samples if sample.name == "predictions_by_class_total"}
    assert sum(counted.values()) == 8
